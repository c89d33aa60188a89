"""Build Go main packages through a throwaway wrapper module.

`go install pkg@version` refuses modules whose go.mod has replace directives
(Pulumi and Kubernetes both have them), so each tool is built from a tiny module
of our own that requires the upstream module at an exact version and carries the
replace lines that upstream needs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path


class ToolchainError(RuntimeError):
    """A tool could not be built; the message says what to do."""


@dataclass(frozen=True)
class WrapperModule:
    name: str
    go_version: str
    requires: dict[str, str]
    replaces: dict[str, str] = field(default_factory=dict)
    packages: tuple[str, ...] = ()

    def go_mod(self) -> str:
        lines = [f"module {self.name}", "", f"go {self.go_version}", "", "require ("]
        lines += [f"\t{mod} {ver}" for mod, ver in sorted(self.requires.items())]
        lines += [")", ""]
        lines += [f"replace {old} => {new}" for old, new in sorted(self.replaces.items())]
        return "\n".join(lines) + "\n"

    def tools_go(self) -> str:
        imports = "\n".join(f'\t_ "{p}"' for p in self.packages)
        return f"//go:build tools\n\npackage tools\n\nimport (\n{imports}\n)\n"


def go_binary() -> str:
    go = shutil.which("go")
    if not go:
        raise ToolchainError(
            "Go is not installed or not on PATH. Install Go 1.26+ (the tools are built from Go modules)."
        )
    return go


def go_env(var: str) -> str:
    return subprocess.run([go_binary(), "env", var], capture_output=True, text=True, check=True).stdout.strip()


def run_go(args: list[str], cwd: Path, log, env: dict[str, str] | None = None, step: str = "") -> None:
    """Run a go command, streaming a compact progress line; raise with the tail of the log on failure."""
    full_env = {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-mod=mod -buildvcs=false", **(env or {})}
    start = time.monotonic()
    proc = subprocess.Popen(
        [go_binary(), *args], cwd=cwd, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    tail: list[str] = []
    count = 0
    stop = threading.Event()

    def heartbeat() -> None:
        while not stop.wait(30):
            log(f"    {step}: still working, {count} packages/modules so far, {time.monotonic() - start:.0f}s")

    beat = threading.Thread(target=heartbeat, daemon=True)
    beat.start()
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            count += 1
            tail.append(line.rstrip())
            del tail[:-40]
        proc.wait()
    finally:
        stop.set()
    if proc.returncode != 0:
        text = "\n".join(tail)
        hint = ""
        if "proxy" in text or "dial tcp" in text or "403" in text or "404" in text:
            hint = "\nThe Go module proxy refused or could not be reached (check GOPROXY and the network)."
        raise ToolchainError(f"`go {' '.join(args[:3])}` failed in {cwd}:\n{text}{hint}")
    log(f"    {step}: done in {time.monotonic() - start:.0f}s")


def module_gomod(module: str, version: str, workdir: Path, log) -> str:
    """The upstream go.mod text of module@version, fetched through the module proxy."""
    workdir.mkdir(parents=True, exist_ok=True)
    run_go(["mod", "download", f"{module}@{version}"], cwd=workdir, log=log, step=f"download {module}@{version}")
    path = Path(go_env("GOMODCACHE")) / "cache" / "download" / _escape(module) / "@v" / f"{version}.mod"
    return path.read_text()


def non_local_replaces(gomod: str) -> dict[str, str]:
    """Replace lines of an upstream go.mod that do not point into its own tree."""
    out: dict[str, str] = {}
    in_block = False
    for raw in gomod.splitlines():
        line = raw.split("//")[0].strip()
        if line.startswith("replace ("):
            in_block = True
            continue
        if in_block and line == ")":
            in_block = False
            continue
        if line.startswith("replace "):
            line = line[len("replace "):]
        elif not in_block:
            continue
        if "=>" not in line:
            continue
        old, new = (s.strip() for s in line.split("=>", 1))
        if new.startswith("."):
            continue
        out[old.split()[0]] = new
    return out


def build(wrapper: WrapperModule, main_packages: list[str], bindir: Path, workdir: Path, ldflags: str,
          tags: str, log) -> None:
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "go.mod").write_text(wrapper.go_mod())
    (workdir / "tools.go").write_text(wrapper.tools_go())
    log(f"    resolving modules for {wrapper.name} (go mod tidy)")
    run_go(["mod", "tidy", "-e"], cwd=workdir, log=log, step="go mod tidy")
    bindir.mkdir(parents=True, exist_ok=True)
    args = ["build", "-v", "-trimpath", "-ldflags", ldflags, "-o", str(bindir) + os.sep]
    if tags:
        args[3:3] = ["-tags", tags]
    log(f"    compiling {', '.join(p.rsplit('/', 1)[-1] for p in main_packages)} (cold builds take minutes)")
    run_go([*args, *main_packages], cwd=workdir, log=log, step="go build")


def _escape(module: str) -> str:
    # The module cache escapes upper-case letters as !lower.
    return "".join(f"!{c.lower()}" if c.isupper() else c for c in module)


def stderr_log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)
