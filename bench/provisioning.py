"""Provisioning benchmark: Karpenter's scale-out case on the local cluster.

1,000 pods (500 x 0.9 CPU / 3.1 GiB and 500 x 3.5 CPU / 28 GiB) from Pending to Running through
`provisioner run` (a child process, as users run it). Reports the time split (batching, simulation,
preview, apply, node registration, binding) and the controller's peak resident memory. Writes
bench/results/provisioning.json. Tools must be built already (`provisioner tools --ensure`).
"""

from __future__ import annotations

import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from provisioner import paths
from provisioner.localcloud.cluster import LocalCluster
from provisioner.provisioning import bootstrap
from provisioner.state.kube import KubeClient

RESULTS = Path(__file__).parent / "results" / "provisioning.json"
STACK = "bench-provisioning"
CLUSTER = "bench"
NAMESPACE = "scale"
SHAPES = (("small", 500, "900m", "3174Mi"), ("large", 500, "3500m", "28Gi"))  # 3.1 GiB = 3174.4 MiB
TARGET_SECONDS = 120
TARGET_RSS_MB = 260


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _deployment(name: str, replicas: int, cpu: str, memory: str) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [
                         {"name": "app", "image": "registry.local/app:1",
                          "resources": {"requests": {"cpu": cpu, "memory": memory}}}]}}}}


def _nodepool() -> list[dict]:
    """The sample NodeClass and a NodePool like Karpenter's perf suite default (c/m/r, no limits)."""
    docs = bootstrap.load(paths.REPO_ROOT / "stacks" / "samples" / "default.yaml")
    for d in docs:
        if d["kind"] == "NodePool":
            d["metadata"]["name"] = "bench"
            d["spec"].pop("limits", None)
    return docs


class MemorySampler:
    """Peak RSS of the controller process (VmHWM) and of its whole process group (sampled)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_group = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> "MemorySampler":
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            total = 0
            for entry in Path("/proc").iterdir():
                if not entry.name.isdigit():
                    continue
                try:
                    if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[2]) != self.pid:
                        continue
                    total += _status_kib(entry / "status", "VmRSS") * 1024
                except (OSError, IndexError, ValueError):
                    continue
            self.peak_group = max(self.peak_group, total)
            self._stop.wait(0.25)

    def controller_peak(self) -> int:
        return _status_kib(Path(f"/proc/{self.pid}/status"), "VmHWM") * 1024

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)


def _status_kib(path: Path, field: str) -> int:
    for line in path.read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def run(tmp: Path) -> dict[str, Any]:
    env = {**{k: v for k, v in os.environ.items() if k != "PULUMI_BACKEND_URL"},
           "PROVISIONER_HOME": str(tmp / "home"), "PYTHONUNBUFFERED": "1"}
    settings = paths.REPO_ROOT / "stacks" / f"Pulumi.{STACK}.yaml"
    settings.unlink(missing_ok=True)
    lc = LocalCluster(tmp / "local", cluster=CLUSTER, boot_delay=0)
    proc = None
    sampler = None
    log = tmp / "controller.log"
    try:
        lc.up()
        kube = KubeClient(lc.kubeconfig)
        bootstrap.install_crds(kube)
        ec2 = lc.ec2()
        bootstrap.tag_discovery(ec2.client(), ec2.seed(), "demo")
        bootstrap.apply(kube, _nodepool())
        port = _free_port()
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "provisioner", "run", f"--kubeconfig={lc.kubeconfig}", f"--cluster={CLUSTER}",
                 f"--stack={STACK}", f"--local-state-dir={lc.state_dir}", f"--health-port={port}", "--log-format=json"],
                stdout=out, stderr=subprocess.STDOUT, env=env, cwd=paths.REPO_ROOT, start_new_session=True)
        sampler = MemorySampler(proc.pid).start()
        _wait(lambda: _http_ok(port, "/readyz"), 120, "controller ready", interval=0.2)
        idle_rss = _status_kib(Path(f"/proc/{proc.pid}/status"), "VmRSS") * 1024

        bootstrap.apply(kube, [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}])
        t0 = time.monotonic()
        bootstrap.apply(kube, [_deployment(n, r, c, m) for n, r, c, m in SHAPES])
        total = sum(r for _, r, _, _ in SHAPES)
        marks: dict[str, float] = {}
        ready_samples: list[tuple[float, int]] = []

        def progress() -> bool:
            pods = kube.call("GET", f"/api/v1/namespaces/{NAMESPACE}/pods")["items"]
            nodes = kube.call("GET", "/api/v1/nodes")["items"]
            now = time.monotonic() - t0
            if len(pods) == total:
                marks.setdefault("all_pods_created", now)
            text = log.read_text(errors="replace")
            if '"msg": "round ' in text:
                marks.setdefault("first_update_done", now)
            if nodes:
                marks.setdefault("first_node_registered", now)
            ready = [n for n in nodes if any(c["type"] == "Ready" and c["status"] == "True"
                                             for c in n["status"].get("conditions") or ())]
            marks["nodes_ready_count"] = len(ready)
            ready_samples.append((now, len(ready)))
            running = sum(1 for p in pods if p["status"].get("phase") == "Running")
            marks["running"] = running
            return running == total

        _wait(progress, 600, f"{total} pods Running", interval=0.5)
        end_to_end = time.monotonic() - t0
        rounds = _rounds(log)
        nodes = kube.call("GET", "/api/v1/nodes")["items"]
        controller_peak = sampler.controller_peak()
        sampler.stop()
        first = rounds[0] if rounds else {}
        last_update = max((r["_at"] for r in rounds if r.get("version")), default=0.0)
        split = {
            "batching": round(sum(r["batch_seconds"] for r in rounds), 2),
            "simulation": round(sum(r["solve_seconds"] for r in rounds), 2),
            "preview": round(sum(r["preview_seconds"] for r in rounds), 2),
            "apply": round(sum(r["apply_seconds"] for r in rounds), 2),
        }
        all_ready = next((t for t, n in ready_samples if n >= len(nodes)), end_to_end)
        marks["all_nodes_ready"] = all_ready
        split["node_registration"] = round(max(0.0, all_ready - (last_update - t0 if last_update else 0.0)), 2)
        split["binding"] = round(max(0.0, end_to_end - all_ready), 2)
        return {
            "case": "Karpenter scale-out: 500 x (0.9 CPU, 3.1 GiB) + 500 x (3.5 CPU, 28 GiB), Pending -> Running",
            "pods": total, "nodes": len(nodes),
            "instance_types": _count(n["metadata"]["labels"].get("node.kubernetes.io/instance-type") for n in nodes),
            "capacity_types": _count(n["metadata"]["labels"].get("provisioner.sh/capacity-type") for n in nodes),
            "seconds_end_to_end": round(end_to_end, 1), "target_seconds": TARGET_SECONDS,
            "time_split_seconds": split,
            "note_split": "batching/simulation/preview/apply summed over the controller's rounds (its JSON logs); "
                          "node_registration: last stack update done -> every node Ready; binding: every node Ready "
                          "-> every pod Running (the real kube-scheduler and kwok). Nodes register at once "
                          "(boot delay 0, as Karpenter's kwok perf suite).",
            "rounds": [{k: v for k, v in r.items() if not k.startswith("_")} for r in rounds],
            "first_round_pending": first.get("pending"),
            "controller_rss_mb": {"idle": round(idle_rss / 2**20, 1), "peak": round(controller_peak / 2**20, 1),
                                  "target_peak": TARGET_RSS_MB,
                                  "peak_with_pulumi_engine_and_plugins": round(sampler.peak_group / 2**20, 1)},
            "marks_seconds": {k: round(v, 1) if isinstance(v, float) else v for k, v in marks.items()},
        }
    finally:
        if sampler:
            sampler.stop()
        stop_process_group(proc)
        lc.down()
        settings.unlink(missing_ok=True)


def stop_process_group(proc: subprocess.Popen | None) -> None:
    """SIGTERM the controller's process group (it and its Pulumi engine), SIGKILL after 30 s."""
    if proc is not None and proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def _rounds(log: Path) -> list[dict]:
    out = []
    for line in log.read_text(errors="replace").splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if rec.get("msg", "").startswith("round "):
            r = json.loads(rec["msg"][len("round "):])
            r["_ts"] = rec["ts"]
            out.append(r)
    if out:
        import datetime as dt

        now_wall, now_mono = time.time(), time.monotonic()
        for r in out:
            ts = dt.datetime.fromisoformat(r["_ts"].replace("Z", "+00:00")).timestamp()
            r["_at"] = now_mono - (now_wall - ts)  # the log's wall clock on this process's monotonic clock
    return out


def _count(values) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[str(v)] = out.get(str(v), 0) + 1
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def _http_ok(port: int, path: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


def _wait(probe, timeout: float, what: str, interval: float = 1.0) -> None:
    start = time.monotonic()
    while not probe():
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"{what} not reached within {timeout:.0f}s")
        time.sleep(interval)


def main() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-provisioning-") as tmp:
        result = run(Path(tmp))
    result["machine"] = {"cpus": os.cpu_count(), "python": platform.python_version(),
                         "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("pods", "nodes", "seconds_end_to_end", "time_split_seconds",
                                             "controller_rss_mb")}, indent=1))
    return result


if __name__ == "__main__":
    main()
