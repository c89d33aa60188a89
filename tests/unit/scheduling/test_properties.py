"""Property-based tests: random pods and NodePools; every plan must respect every hard rule."""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provisioner.api.types import NodePool, Requirement, Taint
from provisioner.catalog.catalog import load_local_catalog
from provisioner.scheduling import SchedulingInput, simulate
from provisioner.scheduling.convert import daemonset_from_k8s, node_from_k8s, pod_from_k8s
from provisioner.scheduling.simulate import simulate_with_raw_bound
from tests.unit.scheduling.validator import validate

TYPES = ["m5.large", "m5.xlarge", "m5.2xlarge", "m5.4xlarge", "c5.large", "c5.xlarge", "c5.2xlarge", "r5.large",
         "r5.xlarge", "t3.medium", "t3.large", "m6g.large", "m6g.xlarge", "c6g.large", "c6g.2xlarge", "r6g.large",
         "m5.metal", "g5.xlarge", "c6i.large", "m6i.xlarge"]
ZONES = ("us-east-1a", "us-east-1b", "us-east-1c")
ZONE = "topology.kubernetes.io/zone"
HOST = "kubernetes.io/hostname"


@lru_cache(maxsize=1)
def catalog():
    return load_local_catalog("us-east-1", zones=ZONES).restricted(TYPES)


@st.composite
def pod_group(draw, index: int):
    name = f"g{index}"
    n = draw(st.integers(1, 8))
    labels = {"app": name}
    cpu = draw(st.sampled_from(["50m", "250m", "500m", "1", "1500m", "3"]))
    mem = draw(st.sampled_from(["64Mi", "256Mi", "1Gi", "3Gi", "8Gi"]))
    requests = {"cpu": cpu, "memory": mem}
    if draw(st.integers(0, 9)) == 0:
        requests["nvidia.com/gpu"] = "1"
    container = {"name": "c", "resources": {"requests": requests}}
    if draw(st.booleans()) and draw(st.booleans()):
        container["ports"] = [{"containerPort": 80, "hostPort": 8080}]
    spec: dict = {"containers": [container]}
    sel = {"matchLabels": labels}
    if draw(st.booleans()):
        spec["nodeSelector"] = {"kubernetes.io/arch": draw(st.sampled_from(["amd64", "arm64"]))}
    if draw(st.booleans()):
        spec["tolerations"] = [{"key": "team", "operator": "Exists"}]
    kind = draw(st.sampled_from(["plain", "anti", "zone-spread", "host-spread", "zone-affinity", "zone-anti",
                                 "preferred", "ct-spread"]))
    if kind == "anti":
        spec["affinity"] = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": sel, "topologyKey": HOST}]}}
    elif kind == "zone-anti":
        spec["affinity"] = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": sel, "topologyKey": ZONE}]}}
    elif kind == "zone-affinity":
        spec["affinity"] = {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": sel, "topologyKey": ZONE}]}}
    elif kind in ("zone-spread", "host-spread", "ct-spread"):
        key = {"zone-spread": ZONE, "host-spread": HOST, "ct-spread": "karpenter.sh/capacity-type"}[kind]
        spec["topologySpreadConstraints"] = [{"maxSkew": draw(st.integers(1, 2)), "topologyKey": key,
                                              "whenUnsatisfiable": "DoNotSchedule", "labelSelector": sel}]
    elif kind == "preferred":
        spec["affinity"] = {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 10, "preference": {"matchExpressions": [
                {"key": ZONE, "operator": "In", "values": [draw(st.sampled_from(ZONES))]}]}}]}}
    return [{"metadata": {"name": f"{name}-{i}", "namespace": "ns", "labels": labels}, "spec": spec}
            for i in range(n)]


@st.composite
def nodepool(draw, index: int):
    reqs = [Requirement("karpenter.sh/capacity-type", "In",
                        tuple(draw(st.sets(st.sampled_from(["spot", "on-demand"]), min_size=1))))]
    if draw(st.booleans()):
        reqs.append(Requirement("kubernetes.io/arch", "In", (draw(st.sampled_from(["amd64", "arm64"])),)))
    if draw(st.booleans()):
        reqs.append(Requirement(ZONE, "In", tuple(sorted(draw(st.sets(st.sampled_from(ZONES), min_size=1))))))
    taints = (Taint("team", "x", "NoSchedule"),) if draw(st.integers(0, 3)) == 0 else ()
    limits = {"cpu": str(draw(st.sampled_from([4, 16, 64])))} if draw(st.booleans()) else {}
    if draw(st.integers(0, 4)) == 0:
        limits["nodes"] = str(draw(st.integers(1, 4)))
    return NodePool(name=f"pool{index}", node_class_ref="default", weight=draw(st.integers(0, 100)),
                    requirements=tuple(reqs), taints=taints, limits=limits)


@st.composite
def scenario(draw):
    groups = draw(st.integers(1, 5))
    pods = []
    for g in range(groups):
        pods += draw(pod_group(g))
    pools = [draw(nodepool(i)) for i in range(draw(st.integers(1, 2)))]
    nodes = []
    bound = []
    for i in range(draw(st.integers(0, 2))):
        nodes.append(node_from_k8s({
            "metadata": {"name": f"existing-{i}", "labels": {
                HOST: f"existing-{i}", ZONE: draw(st.sampled_from(ZONES)), "kubernetes.io/arch": "amd64",
                "karpenter.sh/capacity-type": "on-demand"}},
            "status": {"allocatable": {"cpu": "2", "memory": "4Gi", "pods": "10", "ephemeral-storage": "10Gi"},
                       "conditions": [{"type": "Ready", "status": draw(st.sampled_from(["True", "False"]))}]}}))
        if pods and draw(st.booleans()):  # a copy of some pending pod already runs there
            running = dict(draw(st.sampled_from(pods)))
            running["metadata"] = {**running["metadata"], "name": f"running-{i}"}
            running["spec"] = {**running["spec"], "nodeName": f"existing-{i}",
                               "containers": [{"name": "c", "resources": {"requests": {"cpu": "100m"}}}]}
            running["spec"].pop("affinity", None)
            bound.append(running)
    daemonsets = ()
    if draw(st.booleans()):
        daemonsets = (daemonset_from_k8s({"metadata": {"name": "agent", "namespace": "kube-system"}, "spec": {
            "template": {"spec": {"tolerations": [{"operator": "Exists"}] if draw(st.booleans()) else [],
                                  "containers": [{"name": "a", "resources": {"requests": {
                                      "cpu": draw(st.sampled_from(["100m", "500m"])), "memory": "128Mi"}}}]}}}}),)
    return SchedulingInput(pods=tuple(pod_from_k8s(p) for p in pods + bound), nodepools=tuple(pools),
                           catalog=catalog(), nodes=tuple(nodes), daemonsets=daemonsets)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario())
def test_plans_respect_hard_constraints(inp):
    plan = simulate(inp)
    assert validate(inp, plan) == []
    pending = {p.key for p in inp.pods if not p.node_name}
    assert set(plan.placements) | {u.pod for u in plan.unschedulable} == pending
    assert plan.lower_bound_per_hour <= plan.cost_per_hour + 1e-9
    assert abs(plan.cost_per_hour - sum(n.price_per_hour for n in plan.new_nodes)) < 1e-6


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario())
def test_raw_lower_bound_never_exceeds_the_plan(inp):
    # simulate() clips the bound to the plan's cost, which would hide an invalid LP: check the
    # LP value itself against the cost of the feasible plan it was computed for
    plan, raw = simulate_with_raw_bound(inp)
    assert validate(inp, plan) == []
    assert raw <= plan.cost_per_hour * (1 + 1e-7) + 1e-9


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario())
def test_repacking_keeps_every_rule_and_never_costs_more(inp):
    greedy = simulate(inp)
    plan = simulate(replace(inp, repack_seconds=5.0))
    assert validate(inp, plan) == []
    pending = {p.key for p in inp.pods if not p.node_name}
    assert set(plan.placements) | {u.pod for u in plan.unschedulable} == pending
    assert {u.pod for u in plan.unschedulable} == {u.pod for u in greedy.unschedulable}
    assert plan.cost_per_hour <= greedy.cost_per_hour + 1e-9


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario())
def test_configuration_bound_never_exceeds_the_repacked_plan(inp):
    plan, raw = simulate_with_raw_bound(replace(inp, repack_seconds=2.0, bound_seconds=2.0))
    assert validate(inp, plan) == []
    assert raw <= plan.cost_per_hour * (1 + 1e-7) + 1e-9
