"""Starting, probing and stopping the local cluster's child processes.

Each child runs in its own session (= its own process group), so a Ctrl-C in the terminal
reaches only the supervisor, which then stops the children in order, and `stop` can kill a
component together with anything it forked.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from provisioner.pids import pid_alive

STOP_TIMEOUT = 10.0
POLL = 0.1


class ProcessError(RuntimeError):
    pass


def free_port() -> int:
    """A port on 127.0.0.1 the kernel just handed out (the child binds it right after)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # killpg(0) also answers for zombies: look for a live member.
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[-1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def wait_until(check: Callable[[], bool], timeout: float, what: str,
               alive: Callable[[], bool] | None = None, hint: str = "") -> None:
    """Poll `check` until it is true; fail at the deadline or as soon as `alive` says the process died."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except Exception:  # noqa: BLE001 - a probe failing just means "not yet"
            pass
        if alive is not None and not alive():
            raise ProcessError(f"{what}: process exited before it was ready{hint}")
        if time.monotonic() > deadline:
            raise ProcessError(f"{what}: not ready within {timeout:.0f}s{hint}")
        time.sleep(POLL)


@dataclass
class Child:
    """One running component process (its pid is also its process group id)."""

    name: str
    pid: int
    log: Path
    port: int = 0
    argv: list[str] = field(default_factory=list)
    popen: subprocess.Popen | None = None

    def alive(self) -> bool:
        if self.popen is not None:
            return self.popen.poll() is None
        return pid_alive(self.pid)

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def spawn(name: str, argv: list[str], log: Path, port: int = 0, env: dict[str, str] | None = None,
          cwd: Path | None = None) -> Child:
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        out.write(f"\n==== {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {' '.join(argv)}\n".encode())
        out.flush()
        popen = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                 env=env, cwd=cwd, start_new_session=True)
    return Child(name, popen.pid, log, port, argv, popen)


def stop(pid: int, timeout: float = STOP_TIMEOUT, popen: subprocess.Popen | None = None) -> None:
    """SIGTERM the process group `pid`, SIGKILL it after `timeout`, reap it if it is our child."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            break
        except PermissionError:
            raise ProcessError(f"not allowed to signal process group {pid}") from None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if popen is not None:
                popen.poll()
            if not group_alive(pid):
                break
            time.sleep(0.05)
        else:
            continue
        break
    if popen is not None:
        try:
            popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
    else:
        _reap(pid)


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""
