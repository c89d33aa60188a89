"""A desired node set applied through the fleet spine (real engine) becomes Ready Nodes that hold real pods."""

from __future__ import annotations

import uuid

import pytest

from provisioner.catalog import allocatable as alloc
from provisioner.fleet.desired import DesiredNode, DesiredNodeSet, NodeClassSettings, Taint
from provisioner.stack.operations import FleetStack
from provisioner.stack.target import LocalCloud, StackTarget

from .helpers import deployment, instance_type, pod_ready, pods, requests_fit, wait_for, wait_nodes_ready

pytestmark = pytest.mark.cluster


@pytest.fixture
def fleet(local_cluster, tmp_path, monkeypatch):
    monkeypatch.setenv("PROVISIONER_HOME", str(tmp_path / "home"))
    ec2 = local_cluster.ec2()
    target = StackTarget(stack=f"e2e{uuid.uuid4().hex[:8]}", region=ec2.region,
                         local_cloud=LocalCloud(endpoint=ec2.endpoint, region=ec2.region))
    fleet = FleetStack(target)
    yield fleet
    current = fleet.current_desired()
    if current is not None and current.nodes:  # leave the shared cluster as we found it
        fleet.apply(current.with_nodes([]), "teardown: remove the test's nodes")
    (target.stacks_dir / f"Pulumi.{target.stack}.yaml").unlink(missing_ok=True)


def two_nodes(local_cluster, pool: str) -> DesiredNodeSet:
    seed = local_cluster.ec2().seed()
    node_class = NodeClassSettings(name="default", amis=dict(seed.amis), subnets=dict(seed.subnets),
                                   security_group_ids=tuple(seed.security_group_ids))
    zones = sorted(seed.subnets)
    nodes = tuple(
        DesiredNode(name=f"{pool}-{i}", node_pool=pool, node_class="default", instance_types=("m5.large",),
                    capacity_type=capacity, zones=(zones[i],), labels={"team": "web"},
                    taints=(Taint(key="dedicated", value="web", effect="NoSchedule"),), reason="e2e")
        for i, capacity in enumerate(("on-demand", "spot"))
    )
    return DesiredNodeSet(cluster=local_cluster.cluster, region=seed.region, node_classes={"default": node_class},
                          nodes=nodes)


def test_applied_nodes_register_ready_and_hold_pods(local_cluster, namespace, fleet):
    pool = f"fleet{uuid.uuid4().hex[:5]}"
    desired = two_nodes(local_cluster, pool)
    fleet.apply(desired, f"scale-up: +2 nodes for {namespace}")

    nodes = wait_nodes_ready(local_cluster, [n.name for n in desired.nodes], timeout=90)

    expected_alloc = alloc.allocatable(instance_type(local_cluster, "m5.large"))
    for spec in desired.nodes:
        node = nodes[spec.name]
        labels = node["metadata"]["labels"]
        assert labels["node.kubernetes.io/instance-type"] == "m5.large"
        assert labels["topology.kubernetes.io/zone"] == spec.zones[0]
        assert labels["karpenter.sh/capacity-type"] == spec.capacity_type
        assert labels["provisioner.sh/nodepool"] == pool and labels["team"] == "web"
        assert {"key": "dedicated", "value": "web", "effect": "NoSchedule"} in node["spec"]["taints"]
        assert node["spec"]["providerID"].startswith(f"aws:///{spec.zones[0]}/i-")
        assert node["status"]["allocatable"]["pods"] == str(expected_alloc["pods"])

    app = "web"
    local_cluster.kube().call("POST", f"/apis/apps/v1/namespaces/{namespace}/deployments", deployment(
        app, 6, pool, cpu="500m", memory="512Mi",
        tolerations=[{"key": "dedicated", "operator": "Equal", "value": "web", "effect": "NoSchedule"}]))

    running = wait_for(lambda: (lambda ps: ps if len(ps) == 6 and all(pod_ready(p) for p in ps) else None)(
        pods(local_cluster, namespace, app)), 120, "6 pods Running")
    by_node: dict[str, list] = {}
    for pod in running:
        by_node.setdefault(pod["spec"]["nodeName"], []).append(pod)
    assert set(by_node) <= {n.name for n in desired.nodes}
    for name, on_node in by_node.items():
        assert requests_fit(on_node, nodes[name]), f"{name} is over its allocatable"
