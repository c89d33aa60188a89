"""One disruption pass (`methods.decide`) on hand-built cluster states: which method acts, on which
nodes, and what blocks it."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from provisioner.api.types import Budget, Disruption
from provisioner.catalog.labels import node_labels
from provisioner.disruption import methods
from provisioner.fleet.desired import DesiredNode, DesiredNodeSet
from tests.unit.provisioning.world import SETTINGS, pending_pod, pools
from provisioner.provisioning.planner import World

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=timezone.utc)
LONG_AGO = NOW - timedelta(hours=1)


def pool(**disruption):
    base = pools("default")[0][0]
    return replace(base, disruption=replace(Disruption(), **disruption))


def node(name: str, catalog, itype="m5.large", zone="us-east-1a", ct="on-demand", age=timedelta(hours=1)):
    it = catalog.instance_types[itype]
    labels = {**node_labels(it, zone, "us-east-1", ct, "default", hostname=name), "workload": "general"}
    from provisioner.catalog import allocatable as alloc

    allocatable = alloc.allocatable(it, None).to_k8s()
    return {"metadata": {"name": name, "labels": labels, "creationTimestamp": (NOW - age).strftime("%Y-%m-%dT%H:%M:%SZ")},
            "spec": {"providerID": f"aws:///{zone}/i-{name}"},
            "status": {"allocatable": allocatable, "capacity": allocatable,
                       "conditions": [{"type": "Ready", "status": "True"}]}}


def bound(name: str, node_name: str, cpu="500m", memory="512Mi", annotations=None):
    p = pending_pod(name, cpu=cpu, memory=memory)
    p["spec"]["nodeName"] = node_name
    p["status"] = {"phase": "Running"}
    if annotations:
        p["metadata"]["annotations"] = annotations
    return p


def desired_node(name: str, itype="m5.large", zone="us-east-1a", ct="on-demand"):
    return DesiredNode(name=name, node_pool="default", node_class="default", instance_types=(itype,),
                       capacity_type=ct, zones=(zone,), labels={"workload": "general"}, reason="e2e")


def world(nodes, pods, the_pool):
    desired = DesiredNodeSet("test", "us-east-1", {"default": SETTINGS},
                             tuple(desired_node(n["metadata"]["name"],
                                                n["metadata"]["labels"]["node.kubernetes.io/instance-type"],
                                                n["metadata"]["labels"]["topology.kubernetes.io/zone"])
                                   for n in nodes))
    return World(pods=tuple(pods), nodes=tuple(nodes), nodepools=(the_pool,), nodeclasses=pools("default")[1],
                 settings={"default": SETTINGS}, desired=desired)


def run(w, catalog, **kw):
    names = [n["metadata"]["name"] for n in w.nodes]
    defaults = dict(world=w, catalog=catalog, now=NOW, empty_since={}, stable_since={n: LONG_AGO for n in names})
    return methods.decide(methods.PassInput(**{**defaults, **kw}))


def test_an_empty_node_goes_after_consolidate_after_with_its_price_as_savings(catalog):
    nodes = [node("a", catalog), node("b", catalog)]
    w = world(nodes, [bound("1", "b")], pool(consolidate_after=timedelta(minutes=5), budgets=(Budget("100%"),)))
    early = run(w, catalog, empty_since={"a": NOW - timedelta(minutes=4)}, settled=False)
    assert early.action is None
    due = run(w, catalog, empty_since={"a": NOW - timedelta(minutes=6)}, settled=False)
    assert due.action.method == "Empty" and due.action.nodes == ("a",) and not due.action.replacements
    assert due.action.savings_per_hour == pytest.approx(0.096)  # m5.large on-demand in us-east-1


def test_budgets_limit_how_many_empty_nodes_go_at_once(catalog):
    nodes = [node(x, catalog) for x in "abcd"]
    empty = {x: LONG_AGO for x in "abcd"}
    one = run(world(nodes, [], pool(budgets=(Budget("1"),))), catalog, empty_since=empty)
    assert len(one.action.nodes) == 1
    assert sum(b.reason == "Budget" for b in one.blocked) == 3
    half = run(world(nodes, [], pool(budgets=(Budget("50%"),))), catalog, empty_since=empty)
    assert len(half.action.nodes) == 2


def test_a_budget_of_zero_blocks_every_method_and_says_which_budget(catalog):
    nodes = [node("a", catalog)]
    r = run(world(nodes, [], pool(budgets=(Budget("0"),))), catalog, empty_since={"a": LONG_AGO})
    assert r.action is None
    assert [b.reason for b in r.blocked] == ["Budget"]
    assert "budget #0 nodes=0" in r.blocked[0].message and "Empty disruption of a waits" in r.blocked[0].message


def test_nodes_already_disrupting_count_against_the_budget(catalog):
    nodes = [node(x, catalog) for x in "ab"]
    r = run(world(nodes, [], pool(budgets=(Budget("1"),))), catalog, empty_since={"a": LONG_AGO},
            disrupting=frozenset({"b"}))
    assert r.action is None and r.blocked[0].reason == "Budget"


def test_a_do_not_disrupt_pod_keeps_its_node(catalog):
    nodes = [node("a", catalog), node("b", catalog)]
    pods = [bound("1", "a", annotations={"karpenter.sh/do-not-disrupt": "true"}), bound("2", "b")]
    r = run(world(nodes, pods, pool(budgets=(Budget("100%"),))), catalog)
    assert not (r.action and "a" in r.action.nodes)
    blocked = [b for b in r.blocked if b.node == "a"]
    assert blocked and blocked[0].reason == "DoNotDisrupt" and "web/frontend-abc12-1" in blocked[0].message
    assert "kept" in r.notes["a"]


def test_consolidation_waits_for_a_settled_cluster(catalog):
    nodes = [node("a", catalog), node("b", catalog)]
    pods = [bound("1", "a"), bound("2", "b")]
    w = world(nodes, pods, pool(budgets=(Budget("100%"),)))
    assert run(w, catalog, settled=False).action is None
    moved = run(w, catalog, settled=True).action
    assert moved is not None and moved.method == "Underutilized" and moved.nodes
    assert moved.savings_per_hour > 0 and len(moved.replacements) < len(moved.nodes)


def test_consolidation_skips_nodes_whose_pods_changed_recently_and_guarded_ones(catalog):
    nodes = [node("a", catalog), node("b", catalog)]
    pods = [bound("1", "a"), bound("2", "b")]
    w = world(nodes, pods, pool(budgets=(Budget("100%"),)))
    recent = run(w, catalog, stable_since={"a": NOW - timedelta(seconds=10), "b": NOW - timedelta(seconds=10)})
    assert recent.action is None
    guarded = run(w, catalog, guarded={"a": "replacement", "b": "replacement"})
    assert guarded.action is None and "protected" in guarded.notes["a"]


def test_expired_node_is_replaced_for_its_pods(catalog):
    nodes = [node("old", catalog, age=timedelta(hours=800))]
    pods = [bound(str(i), "old", cpu="1") for i in range(3)]
    r = run(world(nodes, pods, pool(budgets=(Budget("100%"),))), catalog, settled=False)
    assert r.action.method == "Expired" and r.action.nodes == ("old",)
    assert r.action.replacements, "its pods need a new node"
    assert all(n.name != "old" for n in r.action.replacements)
    assert "720h" in r.action.detail


def test_workload_sets_and_stability_clock():
    n = {"metadata": {"name": "a"}}
    sets = methods.workload_sets([n], [bound("1", "a"), {**bound("ds", "a"), "metadata": {
        **bound("ds", "a")["metadata"], "ownerReferences": [{"kind": "DaemonSet", "name": "x"}]}}])
    assert sets == {"a": frozenset({"web/frontend-abc12-1"})}
    first = methods.track_stable({}, sets, NOW)
    later = methods.track_stable(first, sets, NOW + timedelta(minutes=1))
    assert later["a"][1] == NOW
    changed = methods.track_stable(later, {"a": frozenset()}, NOW + timedelta(minutes=2))
    assert changed["a"][1] == NOW + timedelta(minutes=2)


def test_a_budget_of_zero_for_underutilized_is_named(catalog):
    nodes = [node("a", catalog), node("b", catalog)]
    pods = [bound("1", "a"), bound("2", "b")]
    r = run(world(nodes, pods, pool(budgets=(Budget("0", reasons=("Underutilized",)),))), catalog)
    assert r.action is None
    assert {b.node for b in r.blocked if b.reason == "Budget"} == {"a", "b"}
    assert "Underutilized disruption of a waits" in next(b.message for b in r.blocked if b.node == "a")
