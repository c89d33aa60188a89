"""After placement: merge pairs of new nodes when one cheaper node holds both.

Greedy placement fills nodes one class at a time, so some end full on CPU and light on memory
and others the reverse. Two such nodes of the same NodePool are merged when a single offering
that every pod on them accepts holds both and costs less than the two. Hard rules are kept:

* hostname rules: no pod on one node may forbid (anti-affinity, host ports) a pod on the
  other, and every hostname spread still has at most maxSkew matching pods on the merged node
  (hostname affinity only gains targets);
* non-hostname domains: nodes holding pods that care about them (zonal spread, affinity or
  anti-affinity, or counted by such a rule) only merge within the same zone and capacity type
  and stay there; the others may land in any zone or capacity type;
* NodePools with limits are left alone, and exotic types are never chosen.
"""

from __future__ import annotations

import numpy as np

from provisioner.scheduling.model import HOSTNAME
from provisioner.scheduling.nodes import SimNode

TRIES_PER_NODE = 3


def merge_nodes(solver) -> int:
    cols = solver.cols
    merged = 0
    gone: set[int] = set()
    for key, nodes in new_node_buckets(solver).items():
        if len(nodes) < 2:
            continue
        cand = bucket_candidates(solver, key)
        if not len(cand):
            continue
        alloc = cols.alloc[cand]
        price = cols.price[cand]
        # memory per CPU used: pair the most CPU-heavy with the most memory-heavy
        nodes.sort(key=lambda n: n.used[1] / max(n.used[0], 1))
        cur = {n.idx: _current_price(solver, n, cand, alloc, price) for n in nodes}
        i, j = 0, len(nodes) - 1
        tries = 0
        while i < j:
            a, b = nodes[i], nodes[j]
            col = _merged_column(solver, a, b, cand, alloc, price, cur[a.idx] + cur[b.idx])
            if col is not None:
                _absorb(solver, b, a, col)
                cur[b.idx] = float(cols.price[col])
                gone.add(a.idx)
                merged += 1
                i += 1
                tries = 0
                continue
            tries += 1
            if tries >= TRIES_PER_NODE:
                j -= 1
                tries = 0
            else:
                i += 1
            if i >= j and tries:
                break
        # then small nodes two by two (two half-empty nodes often fit one cheaper node)
        rest = sorted((n for n in nodes if n.idx not in gone), key=lambda n: cur[n.idx])
        k = 0
        while k + 1 < len(rest):
            a, b = rest[k], rest[k + 1]
            col = _merged_column(solver, a, b, cand, alloc, price, cur[a.idx] + cur[b.idx])
            if col is not None:
                _absorb(solver, b, a, col)
                cur[b.idx] = float(cols.price[col])
                gone.add(a.idx)
                merged += 1
                k += 2
            else:
                k += 1
    if gone:
        solver.nodes = [n for n in solver.nodes if n.idx not in gone]
    return merged


def new_node_buckets(solver, keep=lambda n: True) -> dict[tuple, list[SimNode]]:
    """New nodes of NodePools without limits, by (NodePool, zone, capacity type) when a pod on
    them is concerned by a non-hostname rule, else by (NodePool, None, None)."""
    cols = solver.cols
    sensitive = solver.zone_sensitive()
    buckets: dict[tuple, list[SimNode]] = {}
    for n in solver.nodes:
        if n.existing or not n.placed or n.pool.limits or n.pool.node_limit is not None or not keep(n):
            continue
        if any(cid in sensitive for cid in n.counts):
            key = (n.pool.index, int(cols.zone_idx[n.col]), int(cols.ct_idx[n.col]))
        else:
            key = (n.pool.index, None, None)
        buckets.setdefault(key, []).append(n)
    return buckets


def bucket_candidates(solver, key: tuple) -> np.ndarray:
    """The non-exotic columns a bucket's nodes may take, cheapest first."""
    if key[1] is None:
        return solver.pool_by_price(key[0])[0]
    cand = solver._groups[key]
    return cand[~solver.cols.exotic[cand]]


def _current_price(solver, n: SimNode, cand, alloc, price) -> float:
    """What the node costs once right-sized (the cheapest candidate holding it, as finalize does)."""
    own = float(solver.cols.price[n.col])
    k = int(np.searchsorted(price, own, side="left"))  # candidates are sorted by price
    if not k:
        return own
    ok = np.all(alloc[:k] >= np.array(n.used, dtype=np.int64), axis=1)
    for c, cons in n.cons.values():
        if not ok.any():
            return own
        ok &= solver.cons_mask(c, cons)[cand[:k]]
    hit = np.nonzero(ok)[0]
    return float(price[hit[0]]) if len(hit) else own


def _hostname_ok(a: SimNode, b: SimNode) -> bool:
    for x, y in ((a, b), (b, a)):
        for c, cons in x.cons.values():
            for key, ids in cons.forbid:
                if key == HOSTNAME and any(i in ids for i in y.counts):
                    return False
            for s in cons.spreads:
                if s.key == HOSTNAME:
                    have = sum(v for i, v in a.counts.items() if i in s.matching) + \
                        sum(v for i, v in b.counts.items() if i in s.matching)
                    if have > s.max_skew:
                        return False
    return True


def _merged_column(solver, a: SimNode, b: SimNode, cand, alloc, price, budget: float) -> int | None:
    n_ok = int(np.searchsorted(price, budget, side="left"))  # candidates are sorted by price
    if not n_ok:
        return None
    used = np.array(a.used, dtype=np.int64) + np.array(b.used, dtype=np.int64)
    ok = np.all(alloc[:n_ok] >= used, axis=1) & (price[:n_ok] < budget - 1e-9)
    if not ok.any() or not _hostname_ok(a, b):
        return None
    for c, cons in list(a.cons.values()) + list(b.cons.values()):
        ok &= solver.cons_mask(c, cons)[cand[:n_ok]]
        if not ok.any():
            return None
    return int(cand[int(np.argmax(ok))])


def _absorb(solver, keep: SimNode, other: SimNode, col: int) -> None:
    cols = solver.cols
    for d in range(len(keep.used)):
        keep.used[d] += other.used[d]
    for cid, k in other.counts.items():
        keep.counts[cid] = keep.counts.get(cid, 0) + k
    keep.cons.update(other.cons)
    keep.placed.extend(other.placed)
    group = solver._groups[(keep.pool.index, int(cols.zone_idx[col]), int(cols.ct_idx[col]))]
    keep.col = col
    keep.cap = [int(v) for v in cols.alloc[col]]
    keep.cand = group
    mask = np.ones(len(group), dtype=bool)
    for c, cons in keep.cons.values():
        mask &= solver.cons_mask(c, cons)[group]
    keep.mask = mask
    keep._domains = {}
