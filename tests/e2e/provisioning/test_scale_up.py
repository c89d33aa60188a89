"""Pending pods become Running pods on nodes the controller launched, through stack updates."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.polling import holds_for

from .conftest import all_running, deployment, events, nodes_by_name, pods_of, wait_for

pytestmark = pytest.mark.cluster

ARCH = "kubernetes.io/arch"
ZONE = "topology.kubernetes.io/zone"
CAPACITY = "provisioner.sh/capacity-type"
TYPE = "node.kubernetes.io/instance-type"


def test_fifty_pods_run_on_exactly_the_planned_nodes(prov, namespace):
    pool = prov.nodepool("general", limits={"cpu": "1000", "memory": "1000Gi"}, requirements=[
        {"key": ARCH, "operator": "In", "values": ["amd64"]},
        {"key": "provisioner.sh/instance-category", "operator": "In", "values": ["c", "m", "r"]}])
    c = prov.start()
    prov.apply([deployment("web", namespace, 50, cpu="500m", memory="512Mi")])

    pods = all_running(prov.kube, namespace, 50, timeout=150)

    desired = prov.desired()
    planned = {n.name for n in desired.nodes}
    used = {p["spec"]["nodeName"] for p in pods}
    nodes = nodes_by_name(prov.kube)
    launched = {n for n, obj in nodes.items() if obj["metadata"]["labels"].get("provisioner.sh/nodepool") == pool}
    assert used <= planned, f"pods on nodes the loop did not plan: {used - planned}"
    assert launched == planned, "planned = launched"
    assert used == planned, f"launched but unused (an extra node): {planned - used}"
    assert len(prov.instances_of(planned)) == len(planned)  # one instance per node, no duplicate
    history = prov.fleet().history()
    assert history and "scale-up: +" in history[0].message and "pending pod" in history[0].message
    assert f"{namespace}/web" in history[-1].message
    nominated = events(prov.kube, namespace, "Nominated")
    assert {e["involvedObject"]["name"] for e in nominated} == {p["metadata"]["name"] for p in pods}
    assert all("stack update #" in e["message"] for e in nominated)
    assert c.metric("provisioner_stack_updates_total") >= 1
    assert c.metric("provisioner_nodes", f'nodepool="{pool}"') == len(planned)
    status = prov.kube.call("GET", f"/apis/provisioner.sh/v1/nodepools/{pool}")["status"]
    assert status["nodes"] == len(planned)
    conds = {c["type"]: c for c in status["conditions"]}
    assert conds["Provisioned"]["status"] == "True" and conds["Provisioned"]["message"] == history[0].message
    assert conds["LimitsExceeded"]["status"] == "False" and "of 1000" in conds["LimitsExceeded"]["message"]


def test_arm64_spot_and_gpu_workloads_get_matching_nodes(prov, namespace):
    prov.allow_gpus()
    prov.nodepool("general", requirements=[{"key": "provisioner.sh/instance-category", "operator": "In",
                                            "values": ["c", "m", "r"]}])
    spot = prov.nodepool("spot", weight=50, labels={"capacity": "spot"},
                         taints=[{"key": "spot-only", "value": "true", "effect": "NoSchedule"}],
                         requirements=[{"key": CAPACITY, "operator": "In", "values": ["spot"]}])
    gpu = prov.nodepool("gpu", weight=10, taints=[{"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"}],
                        requirements=[{"key": "provisioner.sh/instance-gpu-count", "operator": "Gt", "values": ["0"]},
                                      {"key": CAPACITY, "operator": "In", "values": ["on-demand"]}])
    prov.start()
    prov.apply([
        deployment("arm", namespace, 4, cpu="1", memory="1Gi", node_selector={ARCH: "arm64"}),
        deployment("spotty", namespace, 4, cpu="1", memory="1Gi", node_selector={"capacity": "spot"},
                   tolerations=[{"key": "spot-only", "operator": "Exists", "effect": "NoSchedule"}]),
        deployment("cuda", namespace, 1, cpu="1", memory="4Gi", extra_resources={"nvidia.com/gpu": "1"},
                   tolerations=[{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]),
    ])
    pods = all_running(prov.kube, namespace, 9, timeout=150)
    nodes = nodes_by_name(prov.kube)
    by_app = {}
    for p in pods:
        by_app.setdefault(p["metadata"]["labels"]["app"], []).append(nodes[p["spec"]["nodeName"]]["metadata"]["labels"])
    assert {lb[ARCH] for lb in by_app["arm"]} == {"arm64"}
    assert {lb[CAPACITY] for lb in by_app["spotty"]} == {"spot"}
    assert {lb["provisioner.sh/nodepool"] for lb in by_app["spotty"]} == {spot}
    assert int(by_app["cuda"][0]["provisioner.sh/instance-gpu-count"]) >= 1
    assert by_app["cuda"][0]["provisioner.sh/nodepool"] == gpu


def test_taints_isolate_two_nodepools(prov, namespace):
    team_a = prov.nodepool("team-a", taints=[{"key": "team", "value": "a", "effect": "NoSchedule"}],
                           labels={"team": "a"})
    team_b = prov.nodepool("team-b", taints=[{"key": "team", "value": "b", "effect": "NoSchedule"}],
                           labels={"team": "b"})
    prov.start()

    def tol(team):
        return [{"key": "team", "operator": "Equal", "value": team, "effect": "NoSchedule"}]

    prov.apply([deployment("a", namespace, 3, cpu="1", tolerations=tol("a"), node_selector={"team": "a"}),
                deployment("b", namespace, 3, cpu="1", tolerations=tol("b"))])
    pods = all_running(prov.kube, namespace, 6, timeout=150)
    nodes = nodes_by_name(prov.kube)
    per_app = Counter()
    for p in pods:
        pool = nodes[p["spec"]["nodeName"]]["metadata"]["labels"]["provisioner.sh/nodepool"]
        per_app[(p["metadata"]["labels"]["app"], pool)] += 1
    assert per_app == Counter({("a", team_a): 3, ("b", team_b): 3}), per_app


def test_zonal_spread_across_three_zones(prov, namespace, local_cluster):
    zones = sorted(local_cluster.ec2().seed().zones)[:3]
    prov.nodepool("zonal", requirements=[{"key": ZONE, "operator": "In", "values": zones}])
    prov.start()
    spread = [{"maxSkew": 1, "topologyKey": ZONE, "whenUnsatisfiable": "DoNotSchedule",
               "labelSelector": {"matchLabels": {"app": "zonal"}}}]
    prov.apply([deployment("zonal", namespace, 9, cpu="1", spread=spread)])
    pods = all_running(prov.kube, namespace, 9, timeout=150)
    nodes = nodes_by_name(prov.kube)
    per_zone = Counter(nodes[p["spec"]["nodeName"]]["metadata"]["labels"][ZONE] for p in pods)
    assert set(per_zone) == set(zones) and max(per_zone.values()) - min(per_zone.values()) <= 1, per_zone


def test_impossible_pod_gets_an_event_no_launch_no_retry_storm(prov, namespace):
    prov.nodepool("small", requirements=[{"key": "provisioner.sh/instance-cpu", "operator": "Lt", "values": ["9"]}])
    c = prov.start()
    prov.apply([deployment("huge", namespace, 1, cpu="64", memory="8Gi")])

    ev = wait_for(lambda: events(prov.kube, namespace, "NotProvisionable"), 60, "a NotProvisionable event")
    assert "exceed" in ev[0]["message"] and "no node can be launched" in ev[0]["message"]
    solves = c.metric("provisioner_solve_duration_seconds_count")
    # the scheduler keeps retrying the pod; we must not: no new solve, no stack update, no launch
    wait_for(lambda: pods_of(prov.kube, namespace), 10, "pod exists")
    holds_for(lambda: c.metric("provisioner_solve_duration_seconds_count") <= solves + 1, 8,
              "the controller re-solved for a pod nobody can help", interval=1)
    assert c.metric("provisioner_stack_updates_total") == 0
    assert not prov.desired() or not prov.desired().nodes
    assert len(events(prov.kube, namespace, "NotProvisionable")) == 1
