"""Merging under-filled nodes after placement: cheaper, and every hard rule still holds."""

import sys

from provisioner.api.types import NodePool, Requirement
from provisioner.scheduling import SchedulingInput, simulate
from provisioner.scheduling.convert import pod_from_k8s
from tests.unit.scheduling.scenario import catalog
from tests.unit.scheduling.validator import validate

ZONE = "topology.kubernetes.io/zone"
HOST = "kubernetes.io/hostname"
KINDS = ("plain", "zonal-spread", "hostname-spread", "zonal-affinity", "hostname-anti-affinity")


def _pod(i: int) -> dict:
    kind = KINDS[i % len(KINDS)]
    sel = {"matchLabels": {"kind": kind}}
    spec: dict = {"containers": [{"name": "c", "resources": {"requests": {
        "cpu": f"{100 * (1 + (i * 7) % 15)}m", "memory": ["100Mi", "512Mi", "2Gi", "4Gi"][(i * 3) % 4]}}}]}
    if kind == "zonal-spread":
        spec["topologySpreadConstraints"] = [{"maxSkew": 1, "topologyKey": ZONE, "labelSelector": sel,
                                              "whenUnsatisfiable": "DoNotSchedule"}]
    elif kind == "hostname-spread":
        spec["topologySpreadConstraints"] = [{"maxSkew": 1, "topologyKey": HOST, "labelSelector": sel,
                                              "whenUnsatisfiable": "DoNotSchedule"}]
    elif kind == "zonal-affinity":
        spec["affinity"] = {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": sel, "topologyKey": ZONE}]}}
    elif kind == "hostname-anti-affinity":
        spec["affinity"] = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": sel, "topologyKey": HOST}]}}
    return {"metadata": {"name": f"p{i}", "namespace": "ns", "labels": {"kind": kind}}, "spec": spec}


def test_merging_keeps_every_rule_and_does_not_cost_more():
    pool = NodePool(name="default", node_class_ref="default",
                    requirements=(Requirement("karpenter.sh/capacity-type", "In", ("spot", "on-demand")),))
    inp = SchedulingInput(pods=tuple(pod_from_k8s(_pod(i)) for i in range(300)), nodepools=(pool,),
                          catalog=catalog())
    sim = sys.modules["provisioner.scheduling.simulate"]
    merged = []
    real = sim.merge_nodes
    sim.merge_nodes = lambda solver: merged.append(real(solver)) or merged[-1]
    try:
        plan = simulate(inp)
    finally:
        sim.merge_nodes = real
    assert not plan.unschedulable
    assert validate(inp, plan) == []
    assert merged and merged[0] > 0
    assert plan.lower_bound_per_hour <= plan.cost_per_hour
    sim.merge_nodes = lambda solver: 0
    try:
        unmerged = simulate(inp)
    finally:
        sim.merge_nodes = real
    assert validate(inp, unmerged) == []
    assert plan.cost_per_hour <= unmerged.cost_per_hour + 1e-9
    assert len(plan.new_nodes) < len(unmerged.new_nodes)


def test_self_affine_zonal_group_goes_to_a_cheap_zone():
    """The group's zone is chosen by price before its first pod, not by whichever zone opens
    first: its plan costs about what the same pods cost in the cheapest single zone."""
    zones = ("us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d")

    def pool(zone=None):
        reqs = [Requirement("karpenter.sh/capacity-type", "In", ("spot", "on-demand"))]
        if zone:
            reqs.append(Requirement(ZONE, "In", (zone,)))
        return NodePool(name="default", node_class_ref="default", requirements=tuple(reqs))

    def pods(affine: bool):
        out = []
        for i in range(200):
            spec: dict = {"containers": [{"name": "c", "resources": {"requests": {
                "cpu": f"{100 * (1 + (i * 7) % 15)}m", "memory": ["100Mi", "512Mi", "2Gi", "4Gi"][(i * 3) % 4]}}}]}
            if affine:
                spec["affinity"] = {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                    {"labelSelector": {"matchLabels": {"app": "a"}}, "topologyKey": ZONE}]}}
            out.append(pod_from_k8s({"metadata": {"name": f"p{i}", "namespace": "ns", "labels": {"app": "a"}},
                                     "spec": spec}))
        return tuple(out)

    per_zone = {z: simulate(SchedulingInput(pods=pods(False), nodepools=(pool(z),), catalog=catalog())).cost_per_hour
                for z in zones}
    restricted = NodePool(name="default", node_class_ref="default", requirements=(
        Requirement("karpenter.sh/capacity-type", "In", ("spot", "on-demand")), Requirement(ZONE, "In", zones)))
    inp = SchedulingInput(pods=pods(True), nodepools=(restricted,), catalog=catalog())
    plan = simulate(inp)
    assert not plan.unschedulable and validate(inp, plan) == []
    assert len({n.zone for n in plan.new_nodes}) == 1
    assert plan.cost_per_hour <= min(per_zone.values()) * 1.05
