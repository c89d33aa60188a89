"""Disruption benchmark: Karpenter's consolidation case on the local cluster, through `provisioner run`.

1,000 pods (500 x 0.9 CPU / 3.1 GiB, 500 x 3.5 CPU / 28 GiB) are scaled up to Running, then the
Deployments are scaled down to 700 pods. Reported: the time until the fleet settles (the last
disruption update done, every pod Running, nothing decided for a full quiet window), the cost per
hour before and after, the allocator's own plan and lower bound for the 700 pods, the stack
updates by kind, and the controller's decision-pass time. Writes bench/results/disruption.json.

The NodePool consolidates after 30s with Karpenter's default budget (10% of its nodes at a time);
the decision pass runs every 2s.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.provisioning import _deployment, _free_port, _http_ok, _nodepool, _wait, stop_process_group
from provisioner import paths
from provisioner.localcloud.cluster import LocalCluster
from provisioner.provisioning import bootstrap
from provisioner.state.kube import KubeClient

RESULTS = Path(__file__).parent / "results" / "disruption.json"
STACK = "bench-disruption"
CLUSTER = "bench"
NAMESPACE = "scale"
SHAPES = (("small", 500, "900m", "3174Mi"), ("large", 500, "3500m", "28Gi"))
AFTER = {"small": 350, "large": 350}
DISRUPTION = {"consolidationPolicy": "WhenEmptyOrUnderutilized", "consolidateAfter": "30s", "budgets": [{"nodes": "10%"}]}
QUIET_SECONDS = 60.0


def _fleet_cost(fleet) -> tuple[int, float]:
    from provisioner.catalog.pricing import LocalPriceSource
    from provisioner.provisioning import stackview

    desired = fleet.current_desired()
    launched = stackview.stack_nodes(fleet.export(), desired)
    prices = LocalPriceSource("us-east-1")
    total = 0.0
    for n in desired.nodes:
        got = launched.get(n.name)
        itype, zone, ct = (got.instance_type, got.zone, got.capacity_type) if got else (
            n.instance_types[0], n.zones[0], n.capacity_type)
        total += (prices.spot(itype, zone) if ct == "spot" else prices.on_demand(itype)) or 0.0
    return len(desired.nodes), total


def _allocator(pool_docs: list[dict]) -> dict[str, float]:
    """The allocator's plan and lower bound for the 700 pods from scratch (pure simulation)."""
    from provisioner.api import load_documents
    from provisioner.catalog.catalog import load_local_catalog
    from provisioner.scheduling import SchedulingInput, simulate
    from provisioner.scheduling.convert import pod_from_k8s

    pools, classes = load_documents(pool_docs)
    pods = []
    for name, _, cpu, memory in SHAPES:
        for i in range(AFTER[name]):
            pods.append(pod_from_k8s({"metadata": {"name": f"{name}-{i}", "namespace": NAMESPACE,
                                                   "labels": {"app": name}},
                                      "spec": {"containers": [{"name": "app", "resources": {
                                          "requests": {"cpu": cpu, "memory": memory}}}]},
                                      "status": {"phase": "Pending"}}, {}))
    catalog = load_local_catalog("us-east-1")
    plan = simulate(SchedulingInput(pods=tuple(pods), nodepools=tuple(pools), catalog=catalog,
                                    nodeclasses=tuple(classes), compute_bound=True))
    return {"plan_cost_per_hour": round(plan.cost_per_hour, 4), "lower_bound_per_hour": round(plan.lower_bound_per_hour, 4),
            "plan_nodes": len(plan.new_nodes)}


def _metric(port: int, name: str) -> float:
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    return sum(float(line.rpartition(" ")[2]) for line in text.splitlines()
               if line.startswith(name) and not line.startswith("#"))


def run(tmp: Path) -> dict[str, Any]:
    from provisioner.stack.operations import FleetStack
    from provisioner.stack.target import LocalCloud, StackTarget

    env = {**{k: v for k, v in os.environ.items() if k != "PULUMI_BACKEND_URL"},
           "PROVISIONER_HOME": str(tmp / "home"), "PYTHONUNBUFFERED": "1"}
    os.environ["PROVISIONER_HOME"] = env["PROVISIONER_HOME"]
    settings = paths.REPO_ROOT / "stacks" / f"Pulumi.{STACK}.yaml"
    settings.unlink(missing_ok=True)
    lc = LocalCluster(tmp / "local", cluster=CLUSTER, boot_delay=0)
    proc = None
    log = tmp / "controller.log"
    try:
        lc.up()
        kube = KubeClient(lc.kubeconfig)
        bootstrap.install_crds(kube)
        ec2 = lc.ec2()
        bootstrap.tag_discovery(ec2.client(), ec2.seed(), "demo")
        pool_docs = _nodepool()
        for d in pool_docs:
            if d["kind"] == "NodePool":
                d["spec"]["disruption"] = DISRUPTION
        bootstrap.apply(kube, pool_docs)
        fleet = FleetStack(StackTarget(stack=STACK, region=lc.region,
                                       local_cloud=LocalCloud(endpoint=ec2.endpoint, region=lc.region)))
        port = _free_port()
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "provisioner", "run", f"--kubeconfig={lc.kubeconfig}", f"--cluster={CLUSTER}",
                 f"--stack={STACK}", f"--local-state-dir={lc.state_dir}", f"--health-port={port}",
                 "--log-format=json", "--disruption-interval=2"],
                stdout=out, stderr=subprocess.STDOUT, env=env, cwd=paths.REPO_ROOT, start_new_session=True)
        _wait(lambda: _http_ok(port, "/readyz"), 120, "controller ready", interval=0.2)
        bootstrap.apply(kube, [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}])
        bootstrap.apply(kube, [_deployment(n, r, c, m) for n, r, c, m in SHAPES])
        total = sum(r for _, r, _, _ in SHAPES)

        def running() -> int:
            pods = kube.call("GET", f"/api/v1/namespaces/{NAMESPACE}/pods")["items"]
            return sum(1 for p in pods if p["status"].get("phase") == "Running"
                       and not p["metadata"].get("deletionTimestamp")), len(pods)

        _wait(lambda: running() == (total, total), 900, f"{total} pods Running", interval=1.0)
        versions_before = len(fleet.history())
        nodes_before, cost_before = _fleet_cost(fleet)

        t0 = time.monotonic()
        for name, replicas in AFTER.items():
            kube.patch_merge(f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments/{name}", {"spec": {"replicas": replicas}})
        target = sum(AFTER.values())
        last_change, last_count, last_decisions = time.monotonic(), versions_before, 0.0
        while True:
            count = len(fleet.history())
            decisions = _metric(port, "provisioner_disruption_decisions_total")
            if count != last_count or decisions != last_decisions or running() != (target, target):
                last_change, last_count, last_decisions = time.monotonic(), count, decisions
            elif time.monotonic() - last_change >= QUIET_SECONDS:
                break
            if time.monotonic() - t0 > 1800:
                raise TimeoutError("the fleet did not settle within 30 minutes")
            time.sleep(2.0)
        done = fleet.history()
        updates = done[: len(done) - versions_before]
        settled = max((u.end_time.timestamp() for u in updates if u.end_time), default=time.time())
        seconds = settled - (time.time() - (time.monotonic() - t0))
        nodes_after, cost_after = _fleet_cost(fleet)
        alloc = _allocator(pool_docs)
        kinds: dict[str, int] = {}
        for u in updates:
            head = u.message.split(" ", 2)[:2]
            key = " ".join(head).split(" (")[0] if u.message.startswith("disruption:") else u.message.split(":")[0]
            kinds[key] = kinds.get(key, 0) + 1
        pass_sum = _metric(port, "provisioner_disruption_pass_duration_seconds_sum")
        pass_count = _metric(port, "provisioner_disruption_pass_duration_seconds_count")
        return {
            "case": "Karpenter consolidation: 1,000 pods (500 x 0.9 CPU/3.1 GiB, 500 x 3.5 CPU/28 GiB) scaled to 700",
            "disruption": DISRUPTION,
            "before": {"pods": total, "nodes": nodes_before, "cost_per_hour": round(cost_before, 4)},
            "after": {"pods": target, "nodes": nodes_after, "cost_per_hour": round(cost_after, 4)},
            "seconds_to_settle": round(seconds, 1),
            "note_settle": f"scale-down -> end of the last stack update, checked by {QUIET_SECONDS:.0f}s without any "
                           "update or decision and every pod Running",
            "allocator_for_700": alloc,
            "gap_after_vs_bound": round(cost_after / alloc["lower_bound_per_hour"] - 1, 4)
            if alloc["lower_bound_per_hour"] else None,
            "stack_updates": len(updates), "updates_by_kind": kinds,
            "messages": [u.message for u in reversed(updates)],
            "decision_pass_seconds_mean": round(pass_sum / pass_count, 3) if pass_count else None,
            "decision_passes": int(pass_count),
        }
    finally:
        stop_process_group(proc)
        lc.down()
        settings.unlink(missing_ok=True)


def main() -> dict[str, Any]:
    import shutil

    tmp = tempfile.mkdtemp(prefix="bench-disruption-")
    result = run(Path(tmp))  # on failure the directory stays, with the cluster's and the controller's logs
    shutil.rmtree(tmp, ignore_errors=True)
    result["machine"] = {"cpus": os.cpu_count(), "python": platform.python_version(),
                         "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("before", "after", "seconds_to_settle", "allocator_for_700",
                                             "gap_after_vs_bound", "stack_updates", "updates_by_kind")}, indent=1))
    return result


if __name__ == "__main__":
    main()
