"""Pure questions about the cluster state: which pods wait for capacity, which nodes are ours,
which nodes of the desired node set are still in flight."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from provisioner.state.kinds import Obj

NODEPOOL_LABELS = ("provisioner.sh/nodepool", "karpenter.sh/nodepool")


def pod_key(pod: Obj) -> str:
    m = pod["metadata"]
    return f"{m.get('namespace', 'default')}/{m['name']}"


def owned_by_daemonset(pod: Obj) -> bool:
    return any(o.get("kind") == "DaemonSet" for o in pod["metadata"].get("ownerReferences") or ())


def is_unschedulable(pod: Obj) -> bool:
    """Pending, unbound, not being deleted, and the scheduler has said it cannot place it."""
    if pod["spec"].get("nodeName") or pod["metadata"].get("deletionTimestamp"):
        return False
    if (pod.get("status") or {}).get("phase", "Pending") != "Pending" or owned_by_daemonset(pod):
        return False
    for c in (pod.get("status") or {}).get("conditions") or ():
        if c.get("type") == "PodScheduled" and c.get("status") == "False" and c.get("reason") == "Unschedulable":
            return True
    return False


def is_running_or_bound(pod: Obj) -> bool:
    phase = (pod.get("status") or {}).get("phase")
    return bool(pod["spec"].get("nodeName")) and phase not in ("Succeeded", "Failed")


def nodepool_of(node: Obj) -> str | None:
    labels = node["metadata"].get("labels") or {}
    return next((labels[k] for k in NODEPOOL_LABELS if labels.get(k)), None)


def is_ours(node: Obj) -> bool:
    """Launched by us: an EC2 providerID and a NodePool label."""
    return str(node.get("spec", {}).get("providerID", "")).startswith("aws://") and nodepool_of(node) is not None


def is_ready(node: Obj) -> bool:
    for c in (node.get("status") or {}).get("conditions") or ():
        if c.get("type") == "Ready":
            return c.get("status") == "True"
    return False


@dataclass(frozen=True)
class NodeStatus:
    name: str
    registered: bool
    ready: bool


def desired_node_status(desired_names: Iterable[str], nodes: Iterable[Obj]) -> dict[str, NodeStatus]:
    """For each node of the desired node set: registered as a Node yet, and Ready."""
    by_name = {n["metadata"]["name"]: n for n in nodes}
    out = {}
    for name in desired_names:
        node = by_name.get(name)
        out[name] = NodeStatus(name, node is not None, node is not None and is_ready(node))
    return out


def in_flight(desired_names: Iterable[str], nodes: Iterable[Obj]) -> list[str]:
    """Desired nodes not registered, or registered but not Ready yet."""
    return sorted(n for n, s in desired_node_status(desired_names, nodes).items() if not s.ready)
