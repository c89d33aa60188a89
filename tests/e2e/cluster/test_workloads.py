"""Workloads on the local cluster: the real scheduler, the Eviction API with PDBs, instance termination."""

from __future__ import annotations

import time
from collections import defaultdict

import pytest

from .helpers import deployment, launch, pod_ready, pods, requests_fit, wait_for, wait_nodes_ready

pytestmark = pytest.mark.cluster


def _two_node_deployment(local_cluster, namespace: str, replicas: int = 6) -> tuple[str, list[str]]:
    """Two m5.large nodes (1930m allocatable CPU each) and `replicas` pods of 500m: at most 3 fit per node."""
    pool = f"np-{namespace}"
    nodes = [i.node_name for i in launch(local_cluster, pool, "m5.large", count=2)]
    wait_nodes_ready(local_cluster, nodes)
    local_cluster.kube().call("POST", f"/apis/apps/v1/namespaces/{namespace}/deployments",
                              deployment("web", replicas, pool))
    return pool, nodes


def _running(local_cluster, namespace: str, n: int) -> list[dict] | None:
    current = [p for p in pods(local_cluster, namespace, "web") if not p["metadata"].get("deletionTimestamp")]
    return current if len(current) == n and all(pod_ready(p) for p in current) else None


def test_deployment_pods_bound_by_scheduler_within_allocatable(local_cluster, namespace) -> None:
    _, nodes = _two_node_deployment(local_cluster, namespace)
    running = wait_for(lambda: _running(local_cluster, namespace, 6), 60, "6 pods Running")

    by_node: dict[str, list[dict]] = defaultdict(list)
    for pod in running:
        assert pod["spec"]["nodeName"] in nodes
        by_node[pod["spec"]["nodeName"]].append(pod)
    node_objs = {n["metadata"]["name"]: n for n in local_cluster.kube().nodes()}
    for name, bound in by_node.items():
        assert requests_fit(bound, node_objs[name]), f"{name} over-committed: {len(bound)} pods"
    assert sorted(len(v) for v in by_node.values()) == [3, 3]
    events = local_cluster.kube().call("GET", f"/api/v1/namespaces/{namespace}/events")["items"]
    assert sum(e.get("reason") == "Scheduled" for e in events) >= 6  # bound by the real kube-scheduler


def _evict(kube, namespace: str, pod: str) -> int:
    body = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": pod, "namespace": namespace}}
    return kube.request("POST", f"/api/v1/namespaces/{namespace}/pods/{pod}/eviction", body)[0]


def test_pdb_allows_one_eviction_then_429_until_replacement_ready(local_cluster, namespace) -> None:
    kube = local_cluster.kube()
    _, nodes = _two_node_deployment(local_cluster, namespace)
    running = wait_for(lambda: _running(local_cluster, namespace, 6), 60, "6 pods Running")
    kube.call("POST", f"/apis/policy/v1/namespaces/{namespace}/poddisruptionbudgets", {
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "web"},
        "spec": {"minAvailable": 5, "selector": {"matchLabels": {"app": "web"}}},
    })

    def budget() -> dict | None:
        pdb = kube.call("GET", f"/apis/policy/v1/namespaces/{namespace}/poddisruptionbudgets/web")
        status = pdb.get("status") or {}
        synced = status.get("observedGeneration") == pdb["metadata"]["generation"]
        return status if synced and status.get("disruptionsAllowed") == 1 else None

    wait_for(budget, 30, "PDB disruptionsAllowed=1")
    # Cordon both nodes (as a drain does) so that the replacement pod stays Pending until we allow
    # it to schedule: kwok makes pods Ready instantly, which would otherwise race the second eviction.
    for node in nodes:
        _cordon(kube, node, True)
    original = {p["metadata"]["name"] for p in running}
    first, second = sorted(original)[:2]
    assert _evict(kube, namespace, first) == 201

    for _ in range(3):
        assert _evict(kube, namespace, second) == 429
    replacement = wait_for(lambda: [p for p in pods(local_cluster, namespace, "web")
                                    if p["metadata"]["name"] not in original], 30, "replacement pod created")
    assert all(not pod_ready(p) for p in replacement)

    for node in nodes:
        _cordon(kube, node, False)
    codes: list[int] = []
    wait_for(lambda: codes.append(_evict(kube, namespace, second)) or codes[-1] != 429, 60,
             "the eviction to stop being refused after uncordon")
    code = codes[-1]
    assert code == 201
    # Allowed only once the ReplicaSet's replacement for the first pod was Ready.
    ready_now = {p["metadata"]["name"] for p in pods(local_cluster, namespace, "web") if pod_ready(p)}
    assert replacement[0]["metadata"]["name"] in ready_now
    final = wait_for(lambda: _running(local_cluster, namespace, 6), 60, "6 pods Running again")
    assert len({p["metadata"]["name"] for p in final} - original) == 2  # both evicted pods recreated


def _cordon(kube, node: str, unschedulable: bool) -> None:
    status, body = kube.request("PATCH", f"/api/v1/nodes/{node}", {"spec": {"unschedulable": unschedulable}},
                                content_type="application/merge-patch+json")
    assert status == 200, body


def test_terminated_instance_deletes_node_and_pods_are_recreated_pending(local_cluster, namespace) -> None:
    kube = local_cluster.kube()
    _, nodes = _two_node_deployment(local_cluster, namespace)
    running = wait_for(lambda: _running(local_cluster, namespace, 6), 60, "6 pods Running")
    victim_node = nodes[0]
    victim_pods = {p["metadata"]["name"] for p in running if p["spec"]["nodeName"] == victim_node}
    node = next(n for n in kube.nodes() if n["metadata"]["name"] == victim_node)
    instance_id = node["spec"]["providerID"].rsplit("/", 1)[-1]

    local_cluster.ec2().client().terminate_instances(InstanceIds=[instance_id])
    wait_for(lambda: victim_node not in {n["metadata"]["name"] for n in kube.nodes()}, 30, "node deleted")
    start = time.monotonic()

    def recreated_pending() -> list[dict] | None:
        current = [p for p in pods(local_cluster, namespace, "web") if not p["metadata"].get("deletionTimestamp")]
        names = {p["metadata"]["name"] for p in current}
        pending = [p for p in current if p["status"].get("phase") == "Pending" and not p["spec"].get("nodeName")]
        return pending if not (names & victim_pods) and len(pending) == len(victim_pods) and len(current) == 6 \
            else None

    # kube-controller-manager's pod GC deletes pods bound to a missing node after a 40 s quarantine.
    pending = wait_for(recreated_pending, 180, "pods of the deleted node recreated as Pending", interval=1)
    print(f"pods of the deleted node recreated {time.monotonic() - start:.0f}s after the node went")
    assert len(pending) == 3
