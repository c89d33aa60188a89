from datetime import datetime, timedelta, timezone

import pytest

from provisioner.termination import pods as P

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)


def pod(name, ns="app", owner=None, annotations=None, priority_class=None, phase="Running", grace=None):
    meta = {"name": name, "namespace": ns}
    if owner:
        meta["ownerReferences"] = [{"kind": owner, "name": "o"}]
    if annotations:
        meta["annotations"] = annotations
    spec = {"nodeName": "n1", "containers": []}
    if priority_class:
        spec["priorityClassName"] = priority_class
    if grace is not None:
        spec["terminationGracePeriodSeconds"] = grace
    return {"metadata": meta, "spec": spec, "status": {"phase": phase}}


def node(annotations=None):
    return {"metadata": {"name": "n1", **({"annotations": annotations} if annotations else {})}, "spec": {}}


def names(groups):
    return [[p["metadata"]["name"] for p in g] for g in groups]


def test_ordinary_pods_form_one_group_sorted_by_key():
    assert names(P.eviction_order([pod("b"), pod("a"), pod("c", owner="ReplicaSet")])) == [["a", "b", "c"]]


def test_daemonset_and_mirror_pods_are_not_evicted():
    pods = [pod("ds", owner="DaemonSet"), pod("mirror", annotations={P.MIRROR_ANNOTATION: "x"}), pod("web")]
    assert names(P.eviction_order(pods)) == [["web"]]


def test_finished_pods_are_not_evicted():
    assert names(P.eviction_order([pod("done", phase="Succeeded"), pod("bad", phase="Failed")])) == []


@pytest.mark.parametrize("cls", P.CRITICAL_PRIORITY_CLASSES)
def test_critical_pods_go_last(cls):
    pods = [pod("dns", ns="kube-system", priority_class=cls), pod("web"), pod("api", priority_class="high")]
    assert names(P.eviction_order(pods)) == [["api", "web"], ["dns"]]


def test_only_critical_pods_make_a_single_group():
    assert names(P.eviction_order([pod("dns", priority_class="system-node-critical")])) == [["dns"]]


def test_critical_daemonset_pod_still_stays():
    assert P.eviction_order([pod("cni", owner="DaemonSet", priority_class="system-node-critical")]) == []


def test_nothing_to_evict():
    assert P.eviction_order([]) == []


def test_no_blocker_without_annotations():
    assert P.blocked_by_do_not_disrupt(node(), [pod("a"), pod("b")]) is None


@pytest.mark.parametrize("key", P.DO_NOT_DISRUPT_KEYS)
def test_pod_annotation_blocks(key):
    blocker = P.blocked_by_do_not_disrupt(node(), [pod("a"), pod("keep", annotations={key: "true"})])
    assert blocker == P.Blocker("pod", "app/keep", key)
    assert str(blocker) == f"pod app/keep has {key}=true"


@pytest.mark.parametrize("key", P.DO_NOT_DISRUPT_KEYS)
def test_node_annotation_blocks_before_pods(key):
    blocker = P.blocked_by_do_not_disrupt(node({key: "true"}), [pod("keep", annotations={key: "true"})])
    assert blocker == P.Blocker("node", "n1", key)


def test_annotation_value_must_be_true():
    assert P.blocked_by_do_not_disrupt(node({"karpenter.sh/do-not-disrupt": "false"}),
                                       [pod("a", annotations={"provisioner.sh/do-not-disrupt": "no"})]) is None


def test_annotation_true_is_case_insensitive():
    assert P.blocked_by_do_not_disrupt(node(), [pod("a", annotations={"karpenter.sh/do-not-disrupt": "True"})])


def test_finished_pod_does_not_block():
    done = pod("job", phase="Succeeded", annotations={"karpenter.sh/do-not-disrupt": "true"})
    assert P.blocked_by_do_not_disrupt(node(), [done]) is None


def test_other_annotations_do_not_block():
    assert P.blocked_by_do_not_disrupt(node({"example.com/do-not-disrupt": "true"}), []) is None


def test_pod_grace_default_and_explicit():
    assert P.pod_grace_seconds(pod("a")) == 30
    assert P.pod_grace_seconds(pod("a", grace=0)) == 0
    assert P.pod_grace_seconds(pod("a", grace=120)) == 120


def test_hard_deadline():
    assert P.hard_deadline(T0, None) is None
    assert P.hard_deadline(T0, timedelta(minutes=10)) == T0 + timedelta(minutes=10)


def test_eviction_grace_without_deadline_is_the_pods_own():
    assert P.eviction_grace_seconds(pod("a", grace=300), T0, None) == 300


def test_eviction_grace_is_shortened_to_end_by_the_deadline():
    deadline = T0 + timedelta(seconds=45)
    assert P.eviction_grace_seconds(pod("a", grace=300), T0, deadline) == 45
    assert P.eviction_grace_seconds(pod("a", grace=10), T0, deadline) == 10


def test_eviction_grace_after_deadline_is_zero():
    assert P.eviction_grace_seconds(pod("a", grace=30), T0, T0 - timedelta(seconds=5)) == 0


def test_latest_pod_exit():
    pods = [pod("a", grace=10), pod("b", grace=60)]
    assert P.latest_pod_exit(pods, T0, None) == T0 + timedelta(seconds=60)
    assert P.latest_pod_exit(pods, T0, T0 + timedelta(seconds=20)) == T0 + timedelta(seconds=20)
    assert P.latest_pod_exit([], T0, None) == T0
