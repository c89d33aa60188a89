"""Local cluster benchmark: warm `local up` time and resident memory idle and at 100 nodes / 1,000 pods.

Writes bench/results/local-cluster.json. Tools must be built already (`provisioner tools --ensure`);
the build is not part of the figure.
"""

from __future__ import annotations

import base64
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

from provisioner import toolchain
from provisioner.fleet import ownership, userdata
from provisioner.localcloud.cluster import LocalCluster

RESULTS = Path(__file__).parent / "results" / "local-cluster.json"
NODES = 100
PODS = 1000
INSTANCE_TYPE = "m5.large"
POOL = "bench"


def rss_by_component(lc: LocalCluster) -> dict[str, int]:
    """Resident bytes of every process in each component's process group."""
    state = lc.load()
    assert state is not None
    groups = {c.pid: c.name for c in state.components}
    out = {name: 0 for name in groups.values()}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            pgid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[2])
            if pgid not in groups:
                continue
            for line in (entry / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    out[groups[pgid]] += int(line.split()[1]) * 1024
        except (OSError, IndexError, ValueError):
            continue
    return out


def _mib(d: dict[str, int]) -> dict[str, float]:
    return {k: round(v / 2**20, 1) for k, v in d.items()}


def _wait(probe, timeout: float, what: str, interval: float = 1.0) -> float:
    start = time.monotonic()
    while not probe():
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"{what} not reached within {timeout:.0f}s")
        time.sleep(interval)
    return time.monotonic() - start


def _launch(lc: LocalCluster, count: int) -> None:
    ec2 = lc.ec2()
    client, seed = ec2.client(), ec2.seed()
    tags = [{"Key": k, "Value": v} for k, v in
            {**ownership.base_tags(lc.cluster), ownership.NODEPOOL: POOL, ownership.NODECLASS: "default"}.items()]
    lt = client.create_launch_template(
        LaunchTemplateName="bench",
        LaunchTemplateData={"ImageId": seed.amis["amd64"],
                            "UserData": base64.b64encode(userdata.render({"bench": "true"}).encode()).decode()},
    )["LaunchTemplate"]
    client.run_instances(LaunchTemplate={"LaunchTemplateId": lt["LaunchTemplateId"], "Version": "$Latest"},
                         InstanceType=INSTANCE_TYPE, SubnetId=seed.subnets[seed.zones[0]],
                         MinCount=count, MaxCount=count,
                         TagSpecifications=[{"ResourceType": "instance", "Tags": tags}])


def _ready_nodes(lc: LocalCluster) -> int:
    return sum(
        1 for n in lc.kube().nodes()
        if n["metadata"].get("labels", {}).get(ownership.NODEPOOL) == POOL
        and any(c["type"] == "Ready" and c["status"] == "True" for c in n.get("status", {}).get("conditions", []))
    )


def _running_pods(lc: LocalCluster) -> int:
    items = lc.kube().call("GET", "/api/v1/namespaces/default/pods", query={"labelSelector": "app=bench"})["items"]
    return sum(1 for p in items if p.get("status", {}).get("phase") == "Running")


def _deployment(replicas: int) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "bench"},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "bench"}},
                 "template": {"metadata": {"labels": {"app": "bench"}},
                              "spec": {"nodeSelector": {ownership.NODEPOOL: POOL},
                                       "containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10",
                                                       "resources": {"requests": {"cpu": "50m",
                                                                                  "memory": "64Mi"}}}]}}},
    }


def main() -> dict[str, Any]:
    toolchain.ensure(toolchain.CLUSTER_TOOLS)
    result: dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version()}}
    with tempfile.TemporaryDirectory(prefix="bench-local-") as tmp:
        lc = LocalCluster(Path(tmp), cluster="bench", boot_delay=0)
        start = time.monotonic()
        try:
            lc.up()
            result["warm_up_seconds"] = round(time.monotonic() - start, 2)
            _wait(lambda: lc.kube().request("GET", "/api/v1/namespaces/default/serviceaccounts/default")[0] == 200,
                  30, "default ServiceAccount", 0.2)
            idle = rss_by_component(lc)
            result["idle_rss_mib"] = {"total": round(sum(idle.values()) / 2**20, 1), **_mib(idle)}

            t0 = time.monotonic()
            _launch(lc, NODES)
            _wait(lambda: _ready_nodes(lc) >= NODES, 300, "nodes Ready")
            result["nodes_ready_seconds"] = round(time.monotonic() - t0, 1)
            t1 = time.monotonic()
            lc.kube().call("POST", "/apis/apps/v1/namespaces/default/deployments", _deployment(PODS))
            _wait(lambda: _running_pods(lc) >= PODS, 900, f"{PODS} pods Running", 2.0)
            result["pods_running_seconds"] = round(time.monotonic() - t1, 1)
            loaded = rss_by_component(lc)
            result[f"rss_{NODES}_nodes_{PODS}_pods_mib"] = {"total": round(sum(loaded.values()) / 2**20, 1),
                                                            **_mib(loaded)}
        finally:
            lc.down()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
