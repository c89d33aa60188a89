"""Graceful termination of one node on the local cluster, through the FleetStack (no controller):
drain recorded as a stack update, PDB respected at every instant, removal recorded, instance
terminated, Node deleted."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta

import pytest

from provisioner.fleet.desired import DesiredNode, DesiredNodeSet, NodeClassSettings
from provisioner.stack.operations import FleetStack
from provisioner.stack.target import LocalCloud, StackTarget
from provisioner.state.kube import KubeClient
from provisioner.termination.drain import DISRUPTED_TAINT, drain
from provisioner.termination.lifecycle import delete_node, remove, start_drain

from tests.e2e.cluster.helpers import pod_ready, wait_for, wait_nodes_ready

pytestmark = pytest.mark.cluster

REPLICAS = 6


@pytest.fixture
def fleet(local_cluster, tmp_path, monkeypatch):
    monkeypatch.setenv("PROVISIONER_HOME", str(tmp_path / "home"))
    ec2 = local_cluster.ec2()
    target = StackTarget(stack=f"e2e{uuid.uuid4().hex[:8]}", region=ec2.region,
                         local_cloud=LocalCloud(endpoint=ec2.endpoint, region=ec2.region))
    stack = FleetStack(target)
    yield stack
    try:
        current = stack.current_desired()
        if current is not None and current.nodes:
            stack.apply(current.with_nodes([]), "test teardown: remove every node")
    finally:
        (target.stacks_dir / f"Pulumi.{target.stack}.yaml").unlink(missing_ok=True)


def two_nodes(local_cluster, pool: str) -> DesiredNodeSet:
    seed = local_cluster.ec2().seed()
    nc = NodeClassSettings(name="default", amis=dict(seed.amis), subnets=dict(seed.subnets),
                           security_group_ids=tuple(seed.security_group_ids))
    zone = sorted(seed.subnets)[0]
    nodes = tuple(DesiredNode(name=f"{pool}-{i}", node_pool=pool, node_class="default", instance_types=("m5.large",),
                              capacity_type="on-demand", zones=(zone,), reason="e2e") for i in range(2))
    return DesiredNodeSet(cluster=local_cluster.cluster, region=seed.region, node_classes={"default": nc}, nodes=nodes)


def fleet_tags(ec2, instance_id: str) -> dict[str, str]:
    inst = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    fleet_id = {t["Key"]: t["Value"] for t in inst.get("Tags", [])}["aws:ec2:fleet-id"]
    return {t["Key"]: t["Value"] for t in ec2.describe_fleets(FleetIds=[fleet_id])["Fleets"][0].get("Tags", [])}


def workload(namespace: str, pool: str) -> list[dict]:
    spec = {"nodeSelector": {"provisioner.sh/nodepool": pool}, "terminationGracePeriodSeconds": 0,
            "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                                           "whenUnsatisfiable": "ScheduleAnyway",
                                           "labelSelector": {"matchLabels": {"app": "web"}}}],
            "containers": [{"name": "app", "image": "registry.k8s.io/pause:3.10",
                            "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}]}
    return [
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": namespace},
         "spec": {"replicas": REPLICAS, "selector": {"matchLabels": {"app": "web"}},
                  "template": {"metadata": {"labels": {"app": "web"}}, "spec": spec}}},
        {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "web", "namespace": namespace},
         "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app": "web"}}}},
    ]


class Unavailability:
    """Watches the app's pods and keeps the largest number unavailable (replicas - Ready, not deleting)."""

    def __init__(self, kube: KubeClient, namespace: str) -> None:
        self.kube, self.namespace = kube, namespace
        self.pods: dict[str, dict] = {}
        self.worst = 0
        self.stop = threading.Event()
        self.errors: list[str] = []
        listed = kube.call("GET", f"/api/v1/namespaces/{namespace}/pods", query={"labelSelector": "app=web"})
        self.pods = {p["metadata"]["name"]: p for p in listed["items"]}
        self.version = listed["metadata"]["resourceVersion"]
        self._update()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _update(self) -> None:
        ready = sum(1 for p in self.pods.values() if pod_ready(p))
        self.worst = max(self.worst, REPLICAS - ready)

    def _run(self) -> None:
        while not self.stop.is_set():
            stream = self.kube.watch(f"/api/v1/namespaces/{self.namespace}/pods",
                                     {"labelSelector": "app=web", "resourceVersion": self.version}, 5)
            try:
                for event in stream:
                    obj = event["object"]
                    if event["type"] == "ERROR":
                        self.errors.append(str(obj))
                        return
                    self.version = obj["metadata"]["resourceVersion"]
                    if event["type"] == "DELETED":
                        self.pods.pop(obj["metadata"]["name"], None)
                    else:
                        self.pods[obj["metadata"]["name"]] = obj
                    self._update()
                    if self.stop.is_set():
                        break
            finally:
                stream.close()

    def close(self) -> int:
        self.stop.set()
        self.thread.join(10)
        assert not self.errors, self.errors
        return self.worst


def test_drain_respects_pdb_and_is_recorded_then_removed(local_cluster, namespace, fleet):
    kube = KubeClient(local_cluster.kubeconfig)
    ec2 = local_cluster.ec2().client()
    pool = f"drn{uuid.uuid4().hex[:5]}"
    desired = two_nodes(local_cluster, pool)
    launched = fleet.apply(desired, "scale-up: +2 nodes for the drain test")
    nodes = wait_nodes_ready(local_cluster, [n.name for n in desired.nodes], timeout=90)

    for doc in workload(namespace, pool):
        group = "apis/apps/v1" if doc["kind"] == "Deployment" else "apis/policy/v1"
        plural = "deployments" if doc["kind"] == "Deployment" else "poddisruptionbudgets"
        kube.call("POST", f"/{group}/namespaces/{namespace}/{plural}", doc)

    def ready_pods():
        ps = [p for p in kube.call("GET", f"/api/v1/namespaces/{namespace}/pods")["items"]
              if pod_ready(p)]
        return ps if len(ps) == REPLICAS else None

    running = wait_for(ready_pods, 90, f"{REPLICAS} pods Ready")
    by_node: dict[str, list[str]] = {}
    for p in running:
        by_node.setdefault(p["spec"]["nodeName"], []).append(f"{namespace}/{p['metadata']['name']}")
    victim = max(by_node, key=lambda n: len(by_node[n]))
    survivor = next(n.name for n in desired.nodes if n.name != victim)
    assert len(by_node[victim]) >= 2, by_node
    instance_id = nodes[victim]["spec"]["providerID"].rsplit("/", 1)[-1]
    wait_for(lambda: kube.call("GET", f"/apis/policy/v1/namespaces/{namespace}/poddisruptionbudgets/web")
             .get("status", {}).get("disruptionsAllowed") == 1, 30, "PDB to allow one disruption")

    watch = Unavailability(kube, namespace)
    try:
        # 1. the start of the drain is a stack update marking the node draining
        started = start_drain(fleet, desired, victim, "Underutilized", savings=0.096)
        assert started.message == f"disruption: draining {victim} (Underutilized, saves $0.10/h)"
        assert started.version == launched.version + 1
        assert fleet.current_desired().node(victim).state == "draining"
        assert fleet_tags(ec2, instance_id)["provisioner.sh/state"] == "draining"
        assert fleet_tags(ec2, nodes[survivor]["spec"]["providerID"].rsplit("/", 1)[-1])["provisioner.sh/state"] == "active"

        # 2. the drain: taint, evictions through the PDB
        result = drain(kube, victim, termination_grace_period=timedelta(minutes=3), poll_interval=0.2)
        assert result.complete, result
        assert sorted(result.evicted) == sorted(by_node[victim])
        taints = kube.call("GET", f"/api/v1/nodes/{victim}")["spec"].get("taints") or []
        assert DISRUPTED_TAINT in [{k: t[k] for k in ("key", "effect")} for t in taints]
        wait_for(ready_pods, 60, f"{REPLICAS} pods Ready again")
    finally:
        worst = watch.close()
    assert worst <= 1, f"{worst} pods unavailable at once under a maxUnavailable=1 PDB"
    assert worst == 1, "the watch never saw an evicted pod missing: it did not observe the drain"
    final = ready_pods()
    assert final and {p["spec"]["nodeName"] for p in final} == {survivor}

    # 3. the removal is another stack update naming the drain's; the instance goes, then the Node
    removed = remove(fleet, started.desired, victim)
    assert removed.message == (f"disruption: removed {victim} (Underutilized) "
                               f"after drain started in update #{started.version}")
    assert [n.name for n in fleet.current_desired().nodes] == [survivor]
    state = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]["State"]["Name"]
    assert state in ("shutting-down", "terminated")
    delete_node(kube, victim)
    wait_for(lambda: kube.request("GET", f"/api/v1/nodes/{victim}")[0] == 404, 30, f"Node {victim} deleted")

    history = fleet.history(limit=3)
    assert [h.message for h in history] == [removed.message, started.message, "scale-up: +2 nodes for the drain test"]
    assert all(h.result == "succeeded" for h in history)
