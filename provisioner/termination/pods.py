"""Pure decisions about the pods of a node being terminated: which to evict, in what order,
what blocks a voluntary disruption, and the deadlines."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Iterable, Mapping

from provisioner.state.view import owned_by_daemonset, pod_key

Obj = Mapping[str, Any]

MIRROR_ANNOTATION = "kubernetes.io/config.mirror"
CRITICAL_PRIORITY_CLASSES = ("system-cluster-critical", "system-node-critical")
DO_NOT_DISRUPT_KEYS = ("provisioner.sh/do-not-disrupt", "karpenter.sh/do-not-disrupt")
DEFAULT_POD_GRACE_SECONDS = 30  # the API server's default terminationGracePeriodSeconds


def _annotations(obj: Obj) -> Mapping[str, str]:
    return (obj.get("metadata") or {}).get("annotations") or {}


def is_mirror(pod: Obj) -> bool:
    """A static pod's API copy: the kubelet owns it, eviction cannot remove it."""
    return MIRROR_ANNOTATION in _annotations(pod)


def is_daemonset_pod(pod: Obj) -> bool:
    return owned_by_daemonset(pod)  # type: ignore[arg-type]


def is_terminal(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def is_critical(pod: Obj) -> bool:
    return (pod.get("spec") or {}).get("priorityClassName") in CRITICAL_PRIORITY_CLASSES


def is_workload(pod: Obj) -> bool:
    """A pod that a drain evicts and that makes a node non-empty: not DaemonSet, mirror or finished."""
    return not (is_daemonset_pod(pod) or is_mirror(pod) or is_terminal(pod))


def eviction_order(pods: Iterable[Obj]) -> list[list[Obj]]:
    """Groups evicted one after the other: ordinary pods, then critical ones.

    DaemonSet and mirror pods stay (they die with the node); finished pods need nothing.
    Empty groups are left out, so `[]` means nothing to evict. Order inside a group is by key.
    """
    ordinary: list[Obj] = []
    critical: list[Obj] = []
    for pod in pods:
        if is_workload(pod):
            (critical if is_critical(pod) else ordinary).append(pod)
    groups = [sorted(ordinary, key=pod_key), sorted(critical, key=pod_key)]  # type: ignore[arg-type]
    return [g for g in groups if g]


@dataclass(frozen=True)
class Blocker:
    """What forbids a voluntary disruption, in words fit for an Event."""

    kind: str  # "node" or "pod"
    name: str  # node name or namespace/name
    key: str  # the annotation that says so

    def __str__(self) -> str:
        return f"{self.kind} {self.name} has {self.key}=true"


def _do_not_disrupt_key(obj: Obj) -> str | None:
    annotations = _annotations(obj)
    return next((k for k in DO_NOT_DISRUPT_KEYS if str(annotations.get(k, "")).lower() == "true"), None)


def blocked_by_do_not_disrupt(node: Obj, pods: Iterable[Obj]) -> Blocker | None:
    """The first do-not-disrupt annotation (ours or Karpenter's) on the node or one of its running pods.

    Finished pods do not block. Only voluntary disruption obeys this; a hard deadline does not.
    """
    key = _do_not_disrupt_key(node)
    if key:
        return Blocker("node", (node.get("metadata") or {}).get("name", ""), key)
    for pod in sorted((p for p in pods if not is_terminal(p)), key=pod_key):  # type: ignore[arg-type]
        key = _do_not_disrupt_key(pod)
        if key:
            return Blocker("pod", pod_key(pod), key)  # type: ignore[arg-type]
    return None


def pod_grace_seconds(pod: Obj) -> int:
    value = (pod.get("spec") or {}).get("terminationGracePeriodSeconds")
    return DEFAULT_POD_GRACE_SECONDS if value is None else max(0, int(value))


def hard_deadline(drain_started: datetime, termination_grace_period: timedelta | None) -> datetime | None:
    """When the node goes whatever its pods say: drain start + the NodePool's terminationGracePeriod."""
    return None if termination_grace_period is None else drain_started + termination_grace_period


def eviction_grace_seconds(pod: Obj, now: datetime, deadline: datetime | None) -> int:
    """The grace period to ask for when evicting `pod` now: its own, shortened so that it ends by the
    hard deadline (never below 0)."""
    own = pod_grace_seconds(pod)
    if deadline is None:
        return own
    left = int((deadline - now).total_seconds())
    return max(0, min(own, left))


def latest_pod_exit(pods: Iterable[Obj], evicted_at: datetime, deadline: datetime | None) -> datetime:
    """When every pod evicted at `evicted_at` must be gone at the latest (their grace periods, capped
    by the hard deadline): after that, a pod still there is stuck."""
    grace = max((eviction_grace_seconds(p, evicted_at, deadline) for p in pods), default=0)
    return evicted_at + timedelta(seconds=grace)
