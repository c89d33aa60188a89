"""`explain`: why a node exists and what the disruption pass would do with it, on hand-built worlds
with the real offline catalog."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from provisioner.api.types import Budget, Disruption, NodePool
from provisioner.catalog import allocatable as alloc
from provisioner.catalog.labels import node_labels
from provisioner.disruption.explain import UnknownNode, explain
from provisioner.fleet.desired import DesiredNode, DesiredNodeSet
from provisioner.provisioning.planner import World
from tests.unit.disruption.offerings import PINNED, price
from tests.unit.provisioning.world import SETTINGS
from provisioner.stack.changes import UpdateRecord

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=timezone.utc)




def pool(name="web", policy="WhenEmptyOrUnderutilized", after=timedelta(minutes=5), budgets=(Budget("100%"),)):
    return NodePool(name=name, node_class_ref="default",
                    disruption=Disruption(consolidation_policy=policy, consolidate_after=after, budgets=tuple(budgets)))


def node(catalog, name, itype="m5.large", zone="us-east-1a", ct="on-demand", pool_name="web", age=timedelta(hours=2),
         ours=True):
    it = catalog.instance_types[itype]
    return {"metadata": {"name": name, "labels": node_labels(it, zone, "us-east-1", ct, pool_name, hostname=name),
                         "creationTimestamp": (NOW - age).strftime("%Y-%m-%dT%H:%M:%SZ")},
            "spec": {"providerID": f"aws:///{zone}/i-{name}" if ours else f"kind://{name}"},
            "status": {"allocatable": alloc.allocatable(it).to_k8s(),
                       "conditions": [{"type": "Ready", "status": "True"}]}}


def desired(name, itype="m5.large", zone="us-east-1a", pool_name="web", reason="for 2 pending pods in shop/web"):
    return DesiredNode(name=name, node_pool=pool_name, node_class="default", instance_types=(itype,),
                       capacity_type="on-demand", zones=(zone,), reason=reason)


def pod(name, on, cpu="500m", memory="512Mi", annotations=None, **spec):
    return {"metadata": {"name": name, "namespace": "shop", "labels": {"app": "web"}, "annotations": annotations or {},
                         "ownerReferences": [{"kind": "ReplicaSet", "name": "web-x"}]},
            "spec": {"nodeName": on, "containers": [{"name": "c", "resources": {"requests": {
                "cpu": cpu, "memory": memory}}}], **spec},
            "status": {"phase": "Running"}}


def world(nodes, pods, desired_nodes, pools=None) -> World:
    return World(pods=tuple(pods), nodes=tuple(nodes), nodepools=tuple(pools or (pool(),)), nodeclasses=(),
                 settings={"default": SETTINGS},
                 desired=DesiredNodeSet("test", "us-east-1", {"default": SETTINGS}, tuple(desired_nodes)))


def update(version, message, nodes, minutes_ago=60, result="succeeded"):
    rec = UpdateRecord(version=version, kind="update", result=result, message=message,
                       start_time=(NOW - timedelta(minutes=minutes_ago)).replace(tzinfo=None), end_time=None,
                       resource_changes={})
    return rec, DesiredNodeSet("test", "us-east-1", {"default": SETTINGS}, tuple(desired(n) for n in nodes))


def test_identity_of_a_node(catalog):
    w = world([node(catalog, "web-aaaaa", age=timedelta(hours=3, minutes=7))],
              [pod("p1", "web-aaaaa"), pod("p2", "web-aaaaa")], [desired("web-aaaaa")])
    ex = explain("web-aaaaa", w, catalog, [], NOW)
    assert (ex.managed, ex.registered, ex.ready, ex.state) == (True, True, True, "active")
    assert (ex.nodepool, ex.instance_type, ex.capacity_type, ex.zone) == ("web", "m5.large", "on-demand", "us-east-1a")
    assert ex.price_per_hour == pytest.approx(price(catalog, "m5.large"))
    assert ex.pods == ["shop/p1", "shop/p2"]
    assert ex.reason == "for 2 pending pods in shop/web"
    d = json.loads(json.dumps(ex.to_dict()))
    assert d["age"] == "3h7m" and d["age_seconds"] == 3 * 3600 + 7 * 60
    assert d["expires"].startswith("expires in 29d") and d["launched_in"] is None
    assert "what-if of the current state" in d["what_if"]


def test_empty_node_is_next_removed_as_empty(catalog):
    w = world([node(catalog, "web-empty"), node(catalog, "web-busy")], [pod("p", "web-busy", cpu="1500m",
                                                                              nodeSelector=PINNED)],
              [desired("web-empty"), desired("web-busy")])
    ex = explain("web-empty", w, catalog, [], NOW)
    assert ex.pods == []
    assert ex.next.kind == "disrupt" and ex.next.method == "Empty" and ex.next.nodes == ("web-empty",)
    assert ex.next.savings_per_hour == pytest.approx(price(catalog, "m5.large"))
    assert ex.next.summary.startswith("Empty: would be removed, saves $0.")
    text = ex.to_text()
    assert "What would happen next" in text and "Empty: would be removed" in text and "what-if" in text
    # the other node waits for the removal: one disruption at a time
    other = explain("web-busy", w, catalog, [], NOW).next
    assert other.kind == "waits" and "first Empty of web-empty" in other.summary


def test_do_not_disrupt_pod_keeps_the_node_and_is_named(catalog):
    w = world([node(catalog, "web-keep")],
              [pod("keeper", "web-keep", annotations={"karpenter.sh/do-not-disrupt": "true"})], [desired("web-keep")])
    nxt = explain("web-keep", w, catalog, [], NOW).next
    assert nxt.kind == "blocked" and nxt.summary.startswith("kept")
    assert "pod shop/keeper has karpenter.sh/do-not-disrupt=true" in nxt.summary
    assert [b["reason"] for b in nxt.blocked] == ["DoNotDisrupt"]


def test_budget_of_zero_nodes_makes_an_empty_node_wait(catalog):
    w = world([node(catalog, "web-empty")], [], [desired("web-empty")], pools=[pool(budgets=[Budget("0")])])
    nxt = explain("web-empty", w, catalog, [], NOW).next
    assert nxt.kind == "blocked" and nxt.method == "Empty"
    assert nxt.summary.startswith("waits for the budget: Empty disruption of web-empty waits: NodePool web")
    assert "nodes=0" in nxt.summary and [b["reason"] for b in nxt.blocked] == ["Budget"]


def test_launch_update_and_later_mentions_come_from_history(catalog):
    w = world([node(catalog, "web-a"), node(catalog, "web-b")], [pod("p", "web-a", cpu="1500m", nodeSelector=PINNED),
                                                                 pod("q", "web-b", cpu="1500m", nodeSelector=PINNED)],
              [desired("web-a"), desired("web-b")])
    history = [  # newest first
        update(6, "disruption: launching web-aa to replace web-zz (Drifted)", ["web-a", "web-b", "web-aa"], 5),
        update(5, "disruption: draining web-a (Empty, saves $0.10/h)", ["web-a", "web-b"], 10, result="failed"),
        update(4, "scale-up: +1 node (m5.large) for 1 pending pods in shop/web, +$0.10/h", ["web-a", "web-b"], 20),
        update(3, "scale-up: +1 node (m5.large) for 1 pending pods in shop/web, +$0.10/h", ["web-a"], 30),
        update(2, "disruption: removed web-a (Empty) after drain started in update #1", [], 40),
        update(1, "scale-up: an older node of the same name", ["web-a"], 50),
    ]
    ex = explain("web-a", w, catalog, history, NOW)
    assert ex.launched_in.version == 3 and ex.launched_in.message.startswith("scale-up: +1 node")
    assert ex.launched_in.time == NOW - timedelta(minutes=30)
    assert [(m.version, m.result) for m in ex.mentions] == [(5, "failed")]  # web-aa is another node
    d = ex.to_dict()
    assert d["launched_in"]["version"] == 3 and d["mentions"][0]["message"].startswith("disruption: draining web-a")
    assert "launched in update #3" in ex.to_text()
    assert explain("web-b", w, catalog, history, NOW).launched_in.version == 4


def test_needed_node_is_kept(catalog):
    w = world([node(catalog, "web-a")], [pod("p", "web-a", cpu="1500m", nodeSelector=PINNED)], [desired("web-a")])
    nxt = explain("web-a", w, catalog, [], NOW).next
    assert nxt.kind == "kept" and nxt.summary == "kept: needed (its pods fit nowhere cheaper)"


def test_underused_node_is_next_replaced_by_a_cheaper_one(catalog):
    w = world([node(catalog, "web-big", "m5.2xlarge")], [pod("p", "web-big")], [desired("web-big", "m5.2xlarge")])
    nxt = explain("web-big", w, catalog, [], NOW).next
    assert nxt.kind == "disrupt" and nxt.method == "Underutilized" and nxt.replacements
    assert nxt.savings_per_hour > 0 and "replaced by " in nxt.summary


def test_pending_pods_hold_consolidation_back(catalog):
    pending = {**pod("wait", None), "status": {"phase": "Pending", "conditions": [
        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}]}}
    pending["spec"] = {k: v for k, v in pending["spec"].items() if k != "nodeName"}
    w = world([node(catalog, "web-big", "m5.2xlarge")], [pod("p", "web-big"), pending],
              [desired("web-big", "m5.2xlarge")])
    nxt = explain("web-big", w, catalog, [], NOW).next
    assert nxt.kind == "waits" and "settled" in nxt.summary


def test_policies_that_never_consolidate_a_busy_node(catalog):
    w = world([node(catalog, "web-a")], [pod("p", "web-a")], [desired("web-a")], pools=[pool(after=None)])
    assert "consolidateAfter Never" in explain("web-a", w, catalog, [], NOW).next.summary
    w = world([node(catalog, "web-a")], [pod("p", "web-a")], [desired("web-a")], pools=[pool(policy="WhenEmpty")])
    assert "consolidates only empty nodes" in explain("web-a", w, catalog, [], NOW).next.summary


def test_draining_node_says_so_with_its_drain_update(catalog):
    draining = DesiredNode(**{**desired("web-a").__dict__, "state": "draining", "reason": "Empty"})
    w = world([node(catalog, "web-a")], [], [draining])
    history = [update(2, "disruption: draining web-a (Empty, saves $0.10/h)", ["web-a"], 1),
               update(1, "scale-up: +1 node", ["web-a"], 30)]
    ex = explain("web-a", w, catalog, history, NOW)
    assert ex.state == "draining" and ex.next.kind == "draining" and "since update #2" in ex.next.summary


def test_a_node_not_in_the_stack_is_not_ours(catalog):
    w = world([node(catalog, "kind-worker", ours=False, pool_name="web")], [pod("p", "kind-worker")], [])
    ex = explain("kind-worker", w, catalog, [], NOW)
    assert not ex.managed and ex.next.kind == "unmanaged"
    assert "not in the stack" in ex.to_text() and ex.to_dict()["next"]["kind"] == "unmanaged"


def test_a_node_in_flight_is_explained_from_the_desired_set(catalog):
    w = world([], [], [desired("web-new", reason="for 3 pending pods in shop/web")])
    ex = explain("web-new", w, catalog, [update(1, "scale-up: +1 node", ["web-new"], 1)], NOW)
    assert not ex.registered and ex.instance_type == "m5.large" and ex.launched_in.version == 1
    assert ex.next.kind == "waits" and "not registered" in ex.next.summary


def test_unknown_node_is_an_error(catalog):
    with pytest.raises(UnknownNode, match="node nope not found"):
        explain("nope", world([node(catalog, "web-a")], [], [desired("web-a")]), catalog, [], NOW)


def test_budget_of_zero_nodes_holds_consolidation_back(catalog):
    w = world([node(catalog, "web-big", "m5.2xlarge")], [pod("p", "web-big")], [desired("web-big", "m5.2xlarge")],
              pools=[pool(budgets=[Budget("0")])])
    nxt = explain("web-big", w, catalog, [], NOW).next
    assert nxt.kind == "blocked" and nxt.method == "Underutilized"
    assert nxt.summary == ("waits for the budget: Underutilized disruption of web-big waits: NodePool web "
                           "budget #0 nodes=0 allows 0 more")
