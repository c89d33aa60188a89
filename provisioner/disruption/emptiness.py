"""Emptiness: which of our nodes have held no workload pods for at least their NodePool's consolidateAfter.

The caller keeps the per-node "empty since" times across passes (`track`), and asks which nodes
are due (`due`). DaemonSet, mirror and finished pods do not count as workload.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Iterable, Mapping

from provisioner.api.types import NodePool
from provisioner.state.view import is_ours, is_ready, nodepool_of
from provisioner.termination.pods import is_workload

Obj = Mapping[str, Any]


def workload_counts(nodes: Iterable[Obj], pods: Iterable[Obj]) -> dict[str, int]:
    """Workload pods bound to each node (every node listed, 0 when empty)."""
    counts = {n["metadata"]["name"]: 0 for n in nodes}
    for pod in pods:
        node = (pod.get("spec") or {}).get("nodeName")
        if node in counts and is_workload(pod) and not (pod.get("metadata") or {}).get("deletionTimestamp"):
            counts[node] += 1
    return counts


def track(previous: Mapping[str, datetime], nodes: Iterable[Obj], pods: Iterable[Obj],
          now: datetime) -> dict[str, datetime]:
    """Next "empty since" map: an empty node keeps its earlier time (or gets `now`); others drop out."""
    return {name: previous.get(name, now) for name, count in workload_counts(list(nodes), pods).items()
            if count == 0}


@dataclass(frozen=True)
class EmptyNode:
    name: str
    node_pool: str
    empty_since: datetime
    empty_for: timedelta


def _candidate(node: Obj) -> bool:
    meta = node.get("metadata") or {}
    return is_ours(node) and is_ready(node) and not meta.get("deletionTimestamp")  # type: ignore[arg-type]


def due(nodes: Iterable[Obj], empty_since: Mapping[str, datetime], pools: Mapping[str, NodePool],
        now: datetime) -> list[EmptyNode]:
    """Our Ready nodes, empty for at least their NodePool's consolidateAfter; longest empty first.

    Nodes of an unknown NodePool or one with consolidateAfter Never are never due.
    """
    out = []
    for node in nodes:
        name = node["metadata"]["name"]
        pool = pools.get(nodepool_of(node) or "")  # type: ignore[arg-type]
        since = empty_since.get(name)
        if since is None or pool is None or not _candidate(node):
            continue
        after = pool.disruption.consolidate_after
        if after is not None and now - since >= after:
            out.append(EmptyNode(name, pool.name, since, now - since))
    return sorted(out, key=lambda e: (-e.empty_for, e.name))
