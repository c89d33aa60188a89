"""`provisioner local up/status/down` through the CLI, each run in its own state dir."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from provisioner.pids import pid_alive

from .helpers import wait_for

pytestmark = pytest.mark.cluster
CLI = [sys.executable, "-m", "provisioner.cli.main", "local"]


def _cli(*args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout)


def _processes_mentioning(text: str) -> list[int]:
    """Live processes whose command line mentions `text` (every component gets a state-dir path)."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if text.encode() in (entry / "cmdline").read_bytes() and pid_alive(int(entry.name)):
                    out.append(int(entry.name))
            except OSError:
                pass
    return out


def _interactive_sigint() -> None:
    """A process started in the background of a non-interactive shell (as CI runners and
    `make test &` do) inherits SIGINT ignored, and Python then never raises KeyboardInterrupt:
    give the CLI under test the disposition an interactive Ctrl-C meets."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _up(state_dir: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([*CLI, "up", "--state-dir", str(state_dir), "--boot-delay", "0", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_interactive_sigint)


def _stop_leftovers(state_dir: Path) -> None:
    """A failed test must not leave a cluster running: kill what still mentions its state dir."""
    for pid in _processes_mentioning(str(state_dir)):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _port_free(port: int) -> bool:
    """Nothing listens there any more (TIME_WAIT leftovers of closed connections are fine)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def test_up_down_twice_leaves_nothing_behind(tmp_path: Path) -> None:
    state_dir = tmp_path / "local"
    times = []
    for _ in range(2):
        start = time.monotonic()
        up = _cli("up", "--state-dir", str(state_dir), "--boot-delay", "0", "-o", "json")
        times.append(time.monotonic() - start)
        assert up.returncode == 0, up.stderr
        state = json.loads(up.stdout)
        comps = {c["name"]: c for c in state["components"]}
        assert list(comps) == ["ec2", "kine", "kube-apiserver", "kube-controller-manager", "kube-scheduler",
                               "kwok", "node-registrar"]
        assert Path(state["kubeconfig"]).exists()

        status = _cli("status", "--state-dir", str(state_dir), "-o", "json")
        assert status.returncode == 0, status.stdout + status.stderr
        assert all(c["healthy"] for c in json.loads(status.stdout)["components"])
        assert json.loads(_cli("kubeconfig", "--state-dir", str(state_dir)).stdout)["clusters"][0]["cluster"][
            "server"] == state["server"]
        again = _cli("up", "--state-dir", str(state_dir))
        assert again.returncode == 1 and "already running" in again.stderr

        down = _cli("down", "--state-dir", str(state_dir), "-o", "json")
        assert down.returncode == 0, down.stderr
        assert len(json.loads(down.stdout)["stopped"]) == 7
        for c in comps.values():
            assert not pid_alive(c["pid"]), f"{c['name']} (pid {c['pid']}) still running"
            if c["port"]:
                assert _port_free(c["port"]), f"{c['name']} port {c['port']} still bound"
        assert _processes_mentioning(str(state_dir)) == []
        assert _cli("status", "--state-dir", str(state_dir)).returncode == 1
    print(f"local up: first {times[0]:.1f}s, second (tools cached) {times[1]:.1f}s")
    assert times[1] < 60


def test_interrupt_during_up_cleans_up(tmp_path: Path) -> None:
    state_dir = tmp_path / "local"
    proc = _up(state_dir)
    try:
        def apiserver_starting() -> bool:
            try:
                state = json.loads((state_dir / "cluster.json").read_text())
            except (OSError, ValueError):
                return False
            return any(c["name"] == "kube-apiserver" for c in state["components"])

        wait_for(apiserver_starting, 60, "kube-apiserver to be started", interval=0.05)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode != 0
        assert "interrupted" in err
        assert not (state_dir / "cluster.json").exists()
        assert _processes_mentioning(str(state_dir)) == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        _stop_leftovers(state_dir)


def test_foreground_ctrl_c_stops_everything(tmp_path: Path) -> None:
    state_dir = tmp_path / "local"
    proc = _up(state_dir, "--foreground")
    try:
        wait_for(lambda: _cli("status", "--state-dir", str(state_dir)).returncode == 0, 120, "cluster healthy",
                 interval=0.5)
        assert proc.poll() is None, "--foreground must stay attached"
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)
        assert not (state_dir / "cluster.json").exists()
        assert _processes_mentioning(str(state_dir)) == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        _stop_leftovers(state_dir)
