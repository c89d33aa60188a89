from datetime import datetime, timedelta, timezone

from provisioner.api.types import Disruption, NodePool
from provisioner.disruption.emptiness import EmptyNode, due, track, workload_counts

T0 = datetime(2026, 3, 4, 12, 0, tzinfo=timezone.utc)
MIN = timedelta(minutes=1)


def node(name, pool="web", ours=True, ready=True, deleting=False):
    meta = {"name": name, "labels": {"provisioner.sh/nodepool": pool} if pool else {}}
    if deleting:
        meta["deletionTimestamp"] = "2026-03-04T12:00:00Z"
    return {"metadata": meta,
            "spec": {"providerID": f"aws:///us-east-1a/i-{name}" if ours else f"kind://{name}"},
            "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


def pod(name, node_name, owner=None, phase="Running", mirror=False, deleting=False):
    meta = {"name": name, "namespace": "app"}
    if owner:
        meta["ownerReferences"] = [{"kind": owner}]
    if mirror:
        meta["annotations"] = {"kubernetes.io/config.mirror": "x"}
    if deleting:
        meta["deletionTimestamp"] = "x"
    return {"metadata": meta, "spec": {"nodeName": node_name}, "status": {"phase": phase}}


def pools(after=timedelta(minutes=5), name="web"):
    return {name: NodePool(name=name, disruption=Disruption(consolidate_after=after))}


def test_workload_counts_ignore_daemonset_mirror_finished_and_deleting_pods():
    nodes = [node("a"), node("b"), node("c")]
    pods = [pod("w", "a"), pod("ds", "b", owner="DaemonSet"), pod("m", "b", mirror=True), pod("done", "b", phase="Succeeded"),
            pod("gone", "c", deleting=True), pod("elsewhere", "zz"), pod("pending", None)]
    assert workload_counts(nodes, pods) == {"a": 1, "b": 0, "c": 0}


def test_track_keeps_first_empty_time_and_drops_busy_nodes():
    nodes = [node("a"), node("b"), node("c")]
    first = track({}, nodes, [pod("w", "a")], T0)
    assert first == {"b": T0, "c": T0}
    second = track(first, nodes, [pod("w", "a"), pod("x", "c")], T0 + MIN)
    assert second == {"b": T0}
    third = track(second, nodes, [pod("x", "c")], T0 + 2 * MIN)
    assert third == {"a": T0 + 2 * MIN, "b": T0}


def test_track_forgets_deleted_nodes():
    assert track({"gone": T0}, [node("a")], [], T0 + MIN) == {"a": T0 + MIN}


def test_due_after_consolidate_after():
    nodes = [node("a"), node("b")]
    since = {"a": T0, "b": T0 + 2 * MIN}
    assert due(nodes, since, pools(), T0 + 4 * MIN) == []
    assert due(nodes, since, pools(), T0 + 5 * MIN) == [EmptyNode("a", "web", T0, 5 * MIN)]
    assert [e.name for e in due(nodes, since, pools(), T0 + 10 * MIN)] == ["a", "b"]  # longest empty first


def test_zero_consolidate_after_is_due_at_once():
    assert [e.name for e in due([node("a")], {"a": T0}, pools(timedelta(0)), T0)] == ["a"]


def test_never_is_never_due():
    assert due([node("a")], {"a": T0}, pools(None), T0 + timedelta(days=30)) == []


def test_not_empty_unknown_pool_not_ours_not_ready_or_deleting_are_not_due():
    nodes = [node("busy"), node("other", pool="other"), node("foreign", ours=False), node("unlabelled", pool=None),
             node("starting", ready=False), node("deleting", deleting=True)]
    since = {n["metadata"]["name"]: T0 for n in nodes if n["metadata"]["name"] != "busy"}
    assert due(nodes, since, pools(), T0 + timedelta(hours=1)) == []


def test_each_node_uses_its_own_pools_consolidate_after():
    p = {**pools(timedelta(minutes=1), "fast"), **pools(timedelta(minutes=30), "slow")}
    nodes = [node("f", pool="fast"), node("s", pool="slow")]
    assert [e.name for e in due(nodes, {"f": T0, "s": T0}, p, T0 + 10 * MIN)] == ["f"]


def test_karpenter_nodepool_label_counts():
    n = node("k", pool=None)
    n["metadata"]["labels"] = {"karpenter.sh/nodepool": "web"}
    assert [e.name for e in due([n], {"k": T0}, pools(), T0 + 5 * MIN)] == ["k"]
