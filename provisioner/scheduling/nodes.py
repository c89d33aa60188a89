"""Simulated nodes: existing, in-flight, and the new ones the plan buys."""

from __future__ import annotations

from typing import Any

import numpy as np

from provisioner.scheduling.model import HOSTNAME, Node, Pod, Taint


class SimNode:
    __slots__ = ("idx", "name", "existing", "in_flight", "node", "pool", "col", "cap", "used", "counts",
                 "cand", "mask", "placed", "_domains", "taints", "closed", "cons")

    def __init__(self, idx: int, name: str, cap: list[int], *, node: Node | None = None, pool: Any = None,
                 col: int = -1, cand: np.ndarray | None = None, mask: np.ndarray | None = None,
                 taints: tuple[Taint, ...] = ()) -> None:
        self.idx = idx
        self.name = name
        self.node = node
        self.existing = node is not None
        self.in_flight = bool(node and node.in_flight)
        self.pool = pool
        self.col = col
        self.cap = cap
        self.used = [0] * len(cap)
        self.counts: dict[int, int] = {}
        self.cand = cand  # candidate column indices (new nodes): same NodePool, zone, capacity type
        self.mask = mask  # which candidates are still compatible with every pod placed
        self.placed: list[Pod] = []
        self._domains: dict[str, str | None] = {}
        self.taints = taints
        self.closed = False
        self.cons: dict[int, Any] = {}  # constraint set id -> (class, constraint set) placed here

    def fit(self, req: tuple[int, ...]) -> int:
        """How many more pods with these requests fit."""
        k = 1 << 30
        cap, used = self.cap, self.used
        for d, r in enumerate(req):
            if r > 0:
                free = cap[d] - used[d]
                if free < r:
                    return 0
                q = free // r
                if q < k:
                    k = q
        return k

    def domain(self, key: str, columns: Any) -> str | None:
        if key == HOSTNAME:
            return self.name
        if key in self._domains:
            return self._domains[key]
        if self.node is not None:
            v = self.node.labels.get(key)
        else:
            v = columns.label_value(self.col, key)
        self._domains[key] = v
        return v


def pool_label(n: SimNode) -> str | None:
    """The NodePool an existing node belongs to, from its labels."""
    labels = n.node.labels
    return labels.get("karpenter.sh/nodepool") or labels.get("provisioner.sh/nodepool")
