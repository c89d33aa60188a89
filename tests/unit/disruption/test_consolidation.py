"""Consolidation decisions on hand-built clusters with the real offline catalog."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from provisioner.api import load_yaml
from provisioner.catalog import allocatable as alloc
from provisioner.catalog.labels import node_labels
from provisioner.disruption.consolidation import consolidate
from provisioner.fleet.desired import DesiredNodeSet
from provisioner.fleet.guardrails import Guardrails
from provisioner.provisioning.planner import World
from tests.unit.disruption.offerings import PINNED, price
from tests.unit.provisioning.world import SETTINGS, ZONES

SAMPLE = Path(__file__).resolve().parents[3] / "stacks" / "samples" / "default.yaml"




def node(catalog, name, itype="m5.xlarge", zone="us-east-1a", ct="on-demand", **spec):
    it = catalog.instance_types[itype]
    return {"metadata": {"name": name, "labels": node_labels(it, zone, "us-east-1", ct, "default", hostname=name)},
            "spec": {"providerID": f"aws:///{zone}/i-{name}", **spec},
            "status": {"allocatable": alloc.allocatable(it).to_k8s(),
                       "conditions": [{"type": "Ready", "status": "True"}]}}


def pod(name, on, cpu="500m", memory="1Gi", app="web", owner="ReplicaSet", phase="Running", annotations=None,
        **spec):
    return {"metadata": {"name": name, "namespace": "shop", "labels": {"app": app},
                         "annotations": annotations or {}, "ownerReferences": [{"kind": owner, "name": f"{app}-x"}]},
            "spec": {"nodeName": on, "containers": [{"name": "c", "resources": {"requests": {
                "cpu": cpu, "memory": memory}}}], **spec},
            "status": {"phase": phase}}


def world(nodes, pods) -> World:
    pools, classes = load_yaml(SAMPLE)
    return World(pods=tuple(pods), nodes=tuple(nodes), nodepools=tuple(pools), nodeclasses=tuple(classes),
                 settings={"default": SETTINGS}, desired=DesiredNodeSet("test", "us-east-1", {}, ()))


def test_node_whose_pods_fit_elsewhere_is_deleted(catalog):
    w = world([node(catalog, "a"), node(catalog, "b")], [pod("p1", "a"), pod("p2", "a"), pod("q", "b")])
    cmd = consolidate(w, catalog, ["a"])
    assert cmd is not None and cmd.reason == "Underutilized"
    assert cmd.nodes == ("a",) and cmd.replacement is None
    assert cmd.pods == ("shop/p1", "shop/p2")
    assert cmd.savings_per_hour == pytest.approx(price(catalog, "m5.xlarge"))
    assert cmd.explanation == "pods of a fit on 1 other node"


def test_no_command_when_the_pods_fit_nowhere_cheaper(catalog):
    # b is full; the pods need an on-demand m5.large, so no replacement can be cheaper
    nodes = [node(catalog, "a", "m5.large"), node(catalog, "b", "m5.large")]
    pods = [pod("p", "a", cpu="1500m", nodeSelector=PINNED), pod("q", "b", cpu="1500m", nodeSelector=PINNED)]
    assert consolidate(world(nodes, pods), catalog, ["a", "b"]) is None


def test_big_underused_on_demand_node_is_replaced_by_a_cheaper_one(catalog):
    w = world([node(catalog, "big", "m5.2xlarge")], [pod("p", "big", cpu="500m", memory="1Gi")])
    cmd = consolidate(w, catalog, ["big"])
    assert cmd is not None and cmd.nodes == ("big",) and cmd.pods == ("shop/p",)
    r = cmd.replacement
    assert r is not None and r.node_pool == "default" and r.zone in ZONES
    assert r.price_per_hour == pytest.approx(price(catalog, r.instance_types[0], r.capacity_type, r.zone))
    assert cmd.savings_per_hour == pytest.approx(price(catalog, "m5.2xlarge") - r.price_per_hour)
    assert 1 <= len(r.instance_types) <= 10
    for t in r.instance_types:  # every alternative is cheaper than the node it replaces, same architecture
        assert catalog.instance_types[t].architecture == "amd64"
        assert price(catalog, t, r.capacity_type, r.zone) < price(catalog, "m5.2xlarge")
    assert cmd.explanation == f"replace 1x m5.2xlarge on-demand with 1x {r.instance_types[0]} {r.capacity_type}"


def test_on_demand_pods_get_an_on_demand_replacement(catalog):
    on_demand = {"provisioner.sh/capacity-type": "on-demand"}
    w = world([node(catalog, "big", "m5.2xlarge")], [pod("p", "big", nodeSelector=on_demand)])
    cmd = consolidate(w, catalog, ["big"])
    assert cmd is not None and cmd.replacement.capacity_type == "on-demand"
    assert cmd.replacement.price_per_hour < price(catalog, "m5.2xlarge")


def _three_at_20_percent(catalog):
    nodes = [node(catalog, n, "m5.xlarge", zone) for n, zone in zip("abc", ZONES)]
    pods = [pod(f"{n}{i}", n, cpu="400m", memory="1536Mi") for n in "abc" for i in range(2)]
    return world(nodes, pods)


def test_multi_node_three_nodes_at_20_percent_go_together(catalog):
    w = _three_at_20_percent(catalog)
    cmd = consolidate(w, catalog, ["a", "b", "c"])
    assert cmd is not None and set(cmd.nodes) == {"a", "b", "c"} and len(cmd.pods) == 6
    # one cheaper node for all: saves more than deleting two and keeping the third
    assert cmd.replacement is not None
    assert cmd.savings_per_hour > 2 * price(catalog, "m5.xlarge")
    assert cmd.explanation.startswith("replace 3x m5.xlarge on-demand with 1x ")


def test_multi_node_budget_allows_two_so_two_go_and_their_pods_fit_on_the_third(catalog):
    w = _three_at_20_percent(catalog)
    cmd = consolidate(w, catalog, ["a", "b", "c"], max_nodes={"default": 2})
    assert cmd is not None and len(cmd.nodes) == 2 and cmd.replacement is None
    assert cmd.savings_per_hour == pytest.approx(2 * price(catalog, "m5.xlarge"))
    kept = ({"a", "b", "c"} - set(cmd.nodes)).pop()
    assert cmd.explanation == f"pods of {', '.join(cmd.nodes)} fit on 1 other node"
    assert all(not p.startswith(f"shop/{kept}") for p in cmd.pods) and len(cmd.pods) == 4


def test_budget_of_zero_or_one(catalog):
    w = _three_at_20_percent(catalog)
    assert consolidate(w, catalog, ["a", "b", "c"], max_nodes={"default": 0}) is None
    one = consolidate(w, catalog, ["a", "b", "c"], max_nodes={"default": 1})
    assert one is not None and len(one.nodes) == 1
    assert consolidate(w, catalog, ["a", "b", "c"], max_nodes={"other": 0}) is not None  # absent: unlimited


def test_min_savings_is_respected(catalog):
    w = world([node(catalog, "big", "m5.2xlarge")], [pod("p", "big")])
    cmd = consolidate(w, catalog, ["big"])
    assert cmd is not None and cmd.replacement is not None
    assert consolidate(w, catalog, ["big"], min_savings_per_hour=cmd.savings_per_hour + 0.001) is None
    lower = consolidate(w, catalog, ["big"], min_savings_per_hour=cmd.savings_per_hour - 0.001)
    assert lower.savings_per_hour == cmd.savings_per_hour and lower.replacement.instance_types[0] == \
        cmd.replacement.instance_types[0]
    # the alternatives handed to the fleet all save more than the bar too
    bar = price(catalog, "m5.2xlarge") - 0.3
    limited = consolidate(w, catalog, ["big"], min_savings_per_hour=0.3)
    r = limited.replacement
    assert all(price(catalog, t, r.capacity_type, r.zone) < bar for t in r.instance_types)
    assert consolidate(w, catalog, ["big"], min_savings_per_hour=price(catalog, "m5.2xlarge")) is None


def test_single_spot_node_is_not_replaced_by_spot(catalog):
    spot = node(catalog, "s", "m5.large", ct="spot")
    assert price(catalog, "m5.large", "spot") > min(o.price for o in catalog.offerings if o.capacity_type == "spot")
    assert consolidate(world([spot], [pod("p", "s", cpu="200m", memory="256Mi")]), catalog, ["s"]) is None


def test_spot_nodes_are_deleted_but_never_replaced(catalog):
    big_spot = node(catalog, "s", "r5.4xlarge", ct="spot")
    assert consolidate(world([big_spot], [pod("p", "s")]), catalog, ["s"]) is None  # not even by on-demand
    nodes = [node(catalog, "s", "r5.4xlarge", ct="spot"), node(catalog, "t", "m5.large", ct="spot")]
    cmd = consolidate(world(nodes, [pod("p", "s"), pod("q", "t")]), catalog, ["s"])
    assert cmd is not None and cmd.nodes == ("s",) and cmd.replacement is None  # deleting is fine


def test_a_set_with_an_on_demand_node_may_get_a_spot_replacement(catalog):
    nodes = [node(catalog, "s", "m5.xlarge", ct="spot"), node(catalog, "o", "m5.xlarge")]
    cmd = consolidate(world(nodes, [pod("p", "s"), pod("q", "o")]), catalog, ["s", "o"])
    assert cmd is not None and set(cmd.nodes) == {"s", "o"} and cmd.replacement is not None


def _anti_affine(app):
    return {"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": app}}, "topologyKey": "kubernetes.io/hostname"}]}}}


def test_pod_anti_affinity_keeps_a_pod_from_moving(catalog):
    nodes = [node(catalog, "a", "m5.large"), node(catalog, "b", "m5.large")]
    free = [pod("p", "a", app="db", nodeSelector=PINNED), pod("q", "b", app="db")]
    assert consolidate(world(nodes, free), catalog, ["a"]).nodes == ("a",)  # control: it fits on b
    anti = [pod("p", "a", app="db", nodeSelector=PINNED, **_anti_affine("db")), pod("q", "b", app="db")]
    assert consolidate(world(nodes, anti), catalog, ["a"]) is None


def test_zonal_topology_spread_keeps_a_pod_from_moving(catalog):
    spread = {"topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
                                             "whenUnsatisfiable": "DoNotSchedule",
                                             "labelSelector": {"matchLabels": {"app": "api"}}}]}
    nodes = [node(catalog, "a", "m5.large", "us-east-1a"), node(catalog, "full", "m5.large", "us-east-1a"),
             node(catalog, "b", "m5.large", "us-east-1b"), node(catalog, "c", "m5.large", "us-east-1c")]
    base = [pod("filler", "full", cpu="1800m", app="other")]
    plain = base + [pod(f"api-{n}", n, app="api", nodeSelector=PINNED) for n in "abc"]
    assert consolidate(world(nodes, plain), catalog, ["a"]).nodes == ("a",)  # control
    spread_pods = base + [pod(f"api-{n}", n, app="api", nodeSelector=PINNED, **spread) for n in "abc"]
    assert consolidate(world(nodes, spread_pods), catalog, ["a"]) is None


def test_cordoned_or_disrupted_nodes_take_no_pods(catalog):
    pods = [pod("p", "a", nodeSelector=PINNED)]
    cordoned = [node(catalog, "a", "m5.large"), node(catalog, "b", "m5.xlarge", unschedulable=True)]
    assert consolidate(world(cordoned, pods), catalog, ["a"]) is None
    tainted = [node(catalog, "a", "m5.large"), node(catalog, "b", "m5.xlarge", taints=[
        {"key": "provisioner.sh/disrupted", "effect": "NoSchedule"}])]
    tolerant = [pod("p", "a", nodeSelector=PINNED, tolerations=[{"operator": "Exists"}])]
    assert consolidate(world(tainted, tolerant), catalog, ["a"]) is None


def test_daemonset_mirror_and_finished_pods_are_ignored(catalog):
    nodes = [node(catalog, "a"), node(catalog, "b")]
    pods = [pod("agent", "a", cpu="3", owner="DaemonSet"),  # would not fit on b: it is not moved
            pod("static", "a", cpu="3", annotations={"kubernetes.io/config.mirror": "x"}),
            pod("done", "a", cpu="3", phase="Succeeded"),
            pod("web", "a", cpu="500m", nodeSelector=PINNED | {"node.kubernetes.io/instance-type": "m5.xlarge"}),
            pod("busy", "b", cpu="3")]
    cmd = consolidate(world(nodes, pods), catalog, ["a"])
    assert cmd is not None and cmd.replacement is None and cmd.pods == ("shop/web",)


def test_empty_candidate_is_deleted_too(catalog):
    w = world([node(catalog, "a"), node(catalog, "b")], [pod("agent", "a", owner="DaemonSet")])
    cmd = consolidate(w, catalog, ["a"])
    assert cmd is not None and cmd.pods == () and cmd.explanation == "no workload pods on a"


def test_unknown_candidates_and_no_candidates(catalog):
    w = _three_at_20_percent(catalog)
    assert consolidate(w, catalog, []) is None
    assert consolidate(w, catalog, ["ghost"]) is None


def test_guardrails_limit_the_replacement_types(catalog):
    w = world([node(catalog, "big", "m5.2xlarge")], [pod("p", "big")])
    free = consolidate(w, catalog, ["big"])
    family = free.replacement.instance_types[0].split(".")[0]
    cmd = consolidate(w, catalog, ["big"], guardrails=Guardrails(denied_families=(family,)))
    assert cmd is not None and all(not t.startswith(family + ".") for t in cmd.replacement.instance_types)


def test_deterministic_whatever_the_candidate_order(catalog):
    nodes = [node(catalog, f"n{i}", t, ZONES[i % 3]) for i, t in enumerate(
        ["m5.xlarge", "m5.large", "c5.xlarge", "r5.large", "m5.2xlarge", "m5.large"])]
    pods = [pod(f"p{i}-{j}", f"n{i}", cpu="300m", memory="700Mi", app=f"app{j}") for i in range(6) for j in range(3)]
    w = world(nodes, pods)
    names = [n["metadata"]["name"] for n in nodes]
    first = consolidate(w, catalog, names)
    assert first is not None
    for order in itertools.islice(itertools.permutations(names), 1, 720, 239):
        assert consolidate(w, catalog, list(order)) == first


def test_deadline_returns_what_was_found(catalog):
    w = _three_at_20_percent(catalog)
    ticks = itertools.count(0, 100)
    assert consolidate(w, catalog, ["a", "b", "c"], clock=lambda: float(next(ticks)), deadline_seconds=50) is None
