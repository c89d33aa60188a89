"""The tool cache is used only when complete and of the right version; anything else is rebuilt."""

from __future__ import annotations

from pathlib import Path

import pytest

from provisioner import toolchain
from provisioner.toolchain import tools as tools_mod
from provisioner.toolchain.tools import Tool


@pytest.fixture
def fake_tool(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    """A Tool named `fake` whose build writes a shell script; `state` controls what it reports."""
    monkeypatch.setenv("PROVISIONER_CACHE", str(tmp_path / "cache"))
    state = {"builds": 0, "reports": "v1.2.3"}

    def build(tool: Tool, bindir: Path, work: Path, log) -> None:
        state["builds"] += 1
        bindir.mkdir(parents=True, exist_ok=True)
        exe = bindir / "fake"
        exe.write_text(f"#!/bin/sh\necho 'fake version {state['reports']}'\n")
        exe.chmod(0o755)

    tool = Tool("fake", "v1.2.3", ("fake",), ("--version",), build)
    monkeypatch.setitem(tools_mod.TOOLS, "fake", tool)
    state["tool"] = tool
    return state


def _ensure() -> Tool:
    return toolchain.ensure(["fake"], log=lambda _: None)["fake"]


def test_builds_once_then_uses_cache(fake_tool: dict) -> None:
    tool = fake_tool["tool"]
    assert tool.problem() == "not built"
    assert tool.home.is_relative_to(Path(tools_mod.paths.cache_root()))
    _ensure()
    _ensure()
    assert fake_tool["builds"] == 1
    assert tool.problem() is None


def test_missing_binary_is_rebuilt(fake_tool: dict) -> None:
    tool = _ensure()
    tool.path().unlink()
    assert tool.problem() == "fake missing"
    _ensure()
    assert fake_tool["builds"] == 2 and tool.problem() is None


def test_wrong_version_is_rebuilt(fake_tool: dict) -> None:
    tool = _ensure()
    tool.path().write_text("#!/bin/sh\necho 'fake version v0.9.0'\n")
    assert "expected v1.2.3" in (tool.problem() or "")
    _ensure()
    assert fake_tool["builds"] == 2 and tool.problem() is None


def test_interrupted_build_without_stamp_is_rebuilt(fake_tool: dict) -> None:
    tool = _ensure()
    (tool.home / "stamp.json").unlink()
    assert tool.problem() == "not built"
    _ensure()
    assert fake_tool["builds"] == 2


def test_build_of_wrong_version_is_refused(fake_tool: dict) -> None:
    fake_tool["reports"] = "v0.0.0-master"
    with pytest.raises(toolchain.ToolchainError, match="unusable"):
        _ensure()
