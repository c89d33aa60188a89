"""The real tools provisioner runs, built from Go modules and cached by version.

Each tool lives in `<cache>/tools/<name>/<version>/` with a `stamp.json` written
only after a successful build. A cached tool is used only when the stamp is
there, every binary exists and each binary reports the expected version;
anything else is rebuilt.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from provisioner import paths
from provisioner.toolchain import gobuild
from provisioner.toolchain.gobuild import ToolchainError, WrapperModule

PULUMI_VERSION = "v3.276.0"
KUBERNETES_VERSION = "v1.36.3"
KINE_VERSION = "v0.17.5"
KWOK_VERSION = "v0.8.0"

Log = Callable[[str], None]


@dataclass(frozen=True)
class Tool:
    name: str
    version: str
    binaries: tuple[str, ...]
    version_args: tuple[str, ...]
    build: Callable[["Tool", Path, Path, Log], None]

    @property
    def home(self) -> Path:
        return paths.tools_root() / self.name / self.version

    @property
    def bindir(self) -> Path:
        return self.home / "bin"

    def path(self, binary: str | None = None) -> Path:
        return self.bindir / (binary or self.binaries[0])

    def problem(self) -> str | None:
        """Why the cached copy cannot be used, or None when it is good."""
        stamp = self.home / "stamp.json"
        if not stamp.exists():
            return "not built"
        for binary in self.binaries:
            exe = self.bindir / binary
            if not exe.exists() or not os.access(exe, os.X_OK):
                return f"{binary} missing"
            reported = reported_version(exe, self.version_args)
            if self.version.lstrip("v") not in reported:
                return f"{binary} reports {reported!r}, expected {self.version}"
        return None


def reported_version(exe: Path, args: tuple[str, ...]) -> str:
    try:
        out = subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"<cannot run: {err}>"
    return (out.stdout + out.stderr).strip().splitlines()[0] if (out.stdout + out.stderr).strip() else ""


# ---- build recipes -------------------------------------------------------------------------------


def _build_pulumi(tool: Tool, bindir: Path, work: Path, log: Log) -> None:
    pkg = "github.com/pulumi/pulumi/pkg/v3"
    sdk = "github.com/pulumi/pulumi/sdk/v3"
    replaces = gobuild.non_local_replaces(gobuild.module_gomod(pkg, tool.version, work, log))
    replaces.update(gobuild.non_local_replaces(gobuild.module_gomod(sdk, tool.version, work, log)))
    replaces = {k: v for k, v in replaces.items() if not k.startswith("github.com/pulumi/pulumi/")}
    go_line = _go_directive(gobuild.module_gomod(pkg, tool.version, work, log))
    wrapper = WrapperModule(
        name="provisioner.local/tools/pulumi",
        go_version=go_line,
        requires={pkg: tool.version, sdk: tool.version},
        replaces=replaces,
        packages=(f"{pkg}/cmd/pulumi",),
    )
    ldflags = f"-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version={tool.version}"
    gobuild.build(wrapper, [f"{pkg}/cmd/pulumi"], bindir, work, ldflags, "osusergo,grpcnotrace", log)


def _build_kubernetes(tool: Tool, bindir: Path, work: Path, log: Log) -> None:
    mod = "k8s.io/kubernetes"
    upstream = gobuild.module_gomod(mod, tool.version, work, log)
    staging_version = "v0." + tool.version.lstrip("v").split(".", 1)[1]
    replaces = {}
    for m in re.finditer(r"^\s*(?:replace\s+)?(k8s\.io/[\w.-]+)\s+=>\s+\./staging/", upstream, re.M):
        replaces[m.group(1)] = f"{m.group(1)} {staging_version}"
    replaces.update(gobuild.non_local_replaces(upstream))
    mains = [f"{mod}/cmd/{b}" for b in tool.binaries]
    wrapper = WrapperModule(
        name="provisioner.local/tools/kubernetes",
        go_version=_go_directive(upstream),
        requires={mod: tool.version},
        replaces=replaces,
        packages=tuple(mains),
    )
    major, minor = tool.version.lstrip("v").split(".")[:2]
    stamp = {
        "gitVersion": tool.version, "gitMajor": major, "gitMinor": minor,
        "gitTreeState": "clean", "buildDate": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    x = " ".join(
        f"-X {pkg}.{k}={v}" for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version")
        for k, v in stamp.items()
    )
    gobuild.build(wrapper, mains, bindir, work, f"-s -w {x}", "", log)


def _build_kine(tool: Tool, bindir: Path, work: Path, log: Log) -> None:
    mod = "github.com/k3s-io/kine"
    upstream = gobuild.module_gomod(mod, tool.version, work, log)
    wrapper = WrapperModule(
        name="provisioner.local/tools/kine",
        go_version=_go_directive(upstream),
        requires={mod: tool.version},
        replaces=gobuild.non_local_replaces(upstream),
        packages=(mod,),
    )
    gobuild.build(wrapper, [mod], bindir, work, f"-s -w -X {mod}/pkg/version.Version={tool.version}", "", log)


def _build_kwok(tool: Tool, bindir: Path, work: Path, log: Log) -> None:
    mod = "sigs.k8s.io/kwok"
    upstream = gobuild.module_gomod(mod, tool.version, work, log)
    wrapper = WrapperModule(
        name="provisioner.local/tools/kwok",
        go_version=_go_directive(upstream),
        requires={mod: tool.version},
        replaces=gobuild.non_local_replaces(upstream),
        packages=(f"{mod}/cmd/kwok",),
    )
    ldflags = f"-s -w -X {mod}/pkg/consts.Version={tool.version}"
    gobuild.build(wrapper, [f"{mod}/cmd/kwok"], bindir, work, ldflags, "", log)
    # v0.8.0 ships no built-in stages: keep the module's stage files next to the binary.
    src = Path(gobuild.go_env("GOMODCACHE")) / f"{mod}@{tool.version}" / "kustomize" / "stage"
    dst = tool.home / "stages"
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(src, dst)
    for p in dst.rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)


def _go_directive(gomod: str) -> str:
    m = re.search(r"^go\s+(\S+)", gomod, re.M)
    return m.group(1) if m else "1.26"


TOOLS: dict[str, Tool] = {
    t.name: t
    for t in (
        Tool("pulumi", PULUMI_VERSION, ("pulumi",), ("version",), _build_pulumi),
        Tool("kubernetes", KUBERNETES_VERSION, ("kube-apiserver", "kube-controller-manager", "kube-scheduler"),
             ("--version",), _build_kubernetes),
        Tool("kine", KINE_VERSION, ("kine",), ("--version",), _build_kine),
        Tool("kwok", KWOK_VERSION, ("kwok",), ("--version",), _build_kwok),
    )
}

FLEET_TOOLS = ("pulumi",)
CLUSTER_TOOLS = ("kubernetes", "kine", "kwok")


def ensure(names: tuple[str, ...] | list[str] = tuple(TOOLS), log: Log = gobuild.stderr_log) -> dict[str, Tool]:
    """Build whatever is missing or wrong; return the tools, ready to run."""
    out = {}
    for name in names:
        tool = TOOLS[name]
        problem = tool.problem()
        if problem is None:
            out[name] = tool
            continue
        log(f"[tools] {tool.name} {tool.version}: {problem}; building from Go modules")
        start = time.monotonic()
        shutil.rmtree(tool.home, ignore_errors=True)
        work = paths.tools_root() / ".build" / f"{tool.name}-{tool.version}"
        tool.build(tool, tool.bindir, work, log)
        (tool.home / "stamp.json").write_text(json.dumps({
            "name": tool.name, "version": tool.version, "built_at": time.time(),
            "build_seconds": round(time.monotonic() - start, 1),
        }))
        problem = tool.problem()
        if problem is not None:
            raise ToolchainError(f"{tool.name} {tool.version} was built but is unusable: {problem}")
        log(f"[tools] {tool.name} {tool.version}: built in {time.monotonic() - start:.0f}s")
        out[name] = tool
    return out


def status() -> list[dict]:
    rows = []
    for tool in TOOLS.values():
        problem = tool.problem()
        for binary in tool.binaries:
            rows.append({
                "tool": binary, "version": tool.version, "path": str(tool.path(binary)),
                "ok": problem is None, "problem": problem or "",
            })
    return rows


def pulumi_env(extra_path: list[Path] | None = None) -> dict[str, str]:
    """Environment for running the Pulumi CLI offline with our tools and plugins first on PATH."""
    tool = TOOLS["pulumi"]
    venv_bin = Path(sys.executable).parent
    path = [str(tool.bindir), str(venv_bin), *(str(p) for p in extra_path or [])]
    return {
        "PATH": os.pathsep.join([*path, os.environ.get("PATH", "")]),
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        "PULUMI_PYTHON_CMD": sys.executable,
    }
