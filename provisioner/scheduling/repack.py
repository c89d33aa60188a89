"""After placement: pack the new nodes' pods again from the configuration LP, when that is cheaper.

Placement goes class by class, so a node is sized for the class that opened it and filled by
whatever comes later; measured on Karpenter's mix, that leaves about 10% against the
configuration LP (bench/gap_anatomy.py). This pass takes the pods of a bucket of new nodes
(the buckets of merge.py: one per NodePool, or per zone and capacity type for pods whose zone
matters, so zonal spreads and affinities keep their counts), solves the configuration LP of
their sizes over the bucket's node types (configurations.py, seeded with the nodes as they
are, so it never starts worse) and rounds it to whole nodes. The result replaces the bucket
only if it costs less. Buckets go biggest first, each with its share of the time left.

Tried and not kept: one bucket per NodePool with zone-sensitive pods pinned to their zone
(plain pods could then fill zonal nodes), but its LP (~840 sizes, ~460 node types at 5,000
pods) got too few rounds in a second and saved less than the buckets do.

Only pods free to move between nodes of the bucket take part: no hostname affinity,
anti-affinity or host ports (their own or aimed at them). Hostname spreads are kept: the pods
of a spread's matching set hold at most maxSkew to a node. NodePools with limits are left alone.
"""

from __future__ import annotations

import time

import numpy as np

from provisioner.scheduling import configurations
from provisioner.scheduling.merge import _current_price, bucket_candidates, new_node_buckets
from provisioner.scheduling.model import HOSTNAME
from provisioner.scheduling.nodes import SimNode


def repack_nodes(solver, pod_class: dict[str, int], seconds: float) -> int:
    """Repack bucket by bucket within `seconds` in all; returns how many buckets were replaced."""
    if seconds <= 0:
        return 0
    deadline = time.perf_counter() + seconds
    buckets = new_node_buckets(solver, lambda n: _movable(solver, n))
    saved = 0
    todo = sorted((kv for kv in buckets.items() if len(kv[1]) >= 2), key=lambda kv: -len(kv[1]))
    waiting = sum(len(nodes) for _, nodes in todo)
    for key, nodes in todo:  # biggest first, each with its share of the time left
        left = deadline - time.perf_counter()
        if left <= 0:
            break
        share = left * len(nodes) / waiting
        waiting -= len(nodes)
        cand = bucket_candidates(solver, key)
        if len(cand):
            saved += _repack_bucket(solver, nodes, cand, pod_class, share) is not None
    return saved


def _movable(solver, n: SimNode) -> bool:
    for c, cons in n.cons.values():
        if any(k == HOSTNAME for k, _ in cons.forbid) or any(a.key == HOSTNAME for a in cons.affinities):
            return False
        if HOSTNAME in solver.builder.symmetric.get(c.id, {}):
            return False
    return True


def _repack_bucket(solver, nodes: list[SimNode], cand: np.ndarray, pod_class: dict[str, int],
                   seconds: float) -> int | None:
    """The nodes saved, or None when the bucket is left as placed."""
    cols = solver.cols
    sensitive = solver.zone_sensitive()
    cons_of: dict[int, dict[int, tuple]] = {}
    pods_of: dict[tuple, list] = {}  # (class, pin) -> pods; pin: the (zone, capacity type) they keep
    for n in nodes:
        for c, cons in n.cons.values():
            cons_of.setdefault(c.id, {})[cons.id] = (c, cons)
        for p in n.placed:
            cid = pod_class[p.key]
            pods_of.setdefault((cid, _pin(cols, n, cid, sensitive)), []).append(p)
    # hostname spread sets: a class in one set holds at most the set's maxSkew per node
    sets: dict[frozenset, int] = {}
    for entries in cons_of.values():
        for _, cons in entries.values():
            for s in cons.spreads:
                if s.key == HOSTNAME:
                    sets[s.matching] = min(sets.get(s.matching, s.max_skew), s.max_skew)
    set_ids = {m: g for g, m in enumerate(sets)}
    # sizes: classes with the same requests, node requirements and spread set pack as one
    size_of: dict[tuple, int] = {}
    req_rows, masks, groups, members = [], [], [], []
    for (cid, pin), pods in pods_of.items():
        entries = tuple(cons_of[cid].values())
        mask = np.ones(len(cand), dtype=bool)
        for c, cons in entries:
            mask &= solver.requirement_mask(c, cons)[cand]
        if pin is not None:  # zonal rules counted these pods in this zone: they stay there
            mask &= (cols.zone_idx[cand] == pin[0]) & (cols.ct_idx[cand] == pin[1])
        in_sets = [g for m, g in set_ids.items() if cid in m]
        if len(in_sets) > 1:
            return None  # counted by two hostname spreads: left as placed
        group = in_sets[0] if in_sets else -1
        key = (entries[0][0].req, mask.tobytes(), group, pin)
        i = size_of.get(key)
        if i is None:
            i = size_of[key] = len(req_rows)
            req_rows.append(entries[0][0].req)
            masks.append(mask)
            groups.append(group)
            members.append([])
        members[i].append((cid, pin, entries, pods))
    req = np.array(req_rows, dtype=np.int64)
    compat_cols = np.array(masks).T  # (candidate column, size)
    # node types: candidate columns alike in allocatable and in which sizes they admit, cheapest kept
    alloc_c, price_c = cols.alloc[cand], cols.price[cand]
    key = np.concatenate([alloc_c, np.packbits(compat_cols, axis=1).astype(np.int64)], axis=1)
    order = np.lexsort((price_c,))
    _, first = np.unique(key[order], axis=0, return_index=True)
    types = order[first]  # index into cand of each node type's cheapest column
    demand = np.array([sum(len(p) for _, _, _, p in m) for m in members], dtype=np.int64)
    problem = configurations.Problem(req, demand, alloc_c[types], price_c[types], compat_cols[types],
                                     np.array(groups, dtype=np.int64),
                                     np.array([sets[m] for m in sets], dtype=np.int64))
    seeds = _seeds(solver, nodes, pod_class, members, problem, sensitive)
    try:
        packed = configurations.pack(problem, seeds, seconds)
    except ValueError:
        return None
    # hand out the pods, then price each node as the cheapest type holding what it got
    queues = [[(cid, entries, p) for cid, _, entries, pods in m for p in pods] for m in members]
    nodes_out = []
    for t, config in packed:
        take, counts = [], np.zeros(len(members), dtype=np.int64)
        for i in np.nonzero(config)[0]:
            k = min(int(config[i]), len(queues[i]))
            take += queues[i][:k]
            queues[i] = queues[i][k:]
            counts[i] = k
        if take:
            cheapest = configurations.cheapest_type(problem, counts)
            nodes_out.append((t if cheapest is None else cheapest, take))
    if any(queues):  # the rounding covers every pod; if it ever did not, keep the nodes as they are
        return None
    if len(seeds) == len(nodes):  # each node at its cheapest type, as the new ones are priced
        old = sum(float(problem.price[t]) for t, _ in seeds)
    else:
        old = sum(_current_price(solver, n, cand, alloc_c, price_c) for n in nodes)
    new = sum(float(problem.price[t]) for t, _ in nodes_out)
    if new >= old * (1 - 1e-6):
        return None
    for n in nodes:
        solver.pool_nodes[n.pool.index] -= 1
        solver.pool_used[n.pool.index] -= cols.capacity[n.col]
    gone = {n.idx for n in nodes}
    solver.nodes = [n for n in solver.nodes if n.idx not in gone]
    solver.open_nodes = [n for n in solver.open_nodes if n.idx not in gone]
    for t, take in nodes_out:
        _build_node(solver, int(cand[types[t]]), take)
    return len(nodes) - len(nodes_out)


def _pin(cols, n: SimNode, cid: int, sensitive: set[int]):
    return (int(cols.zone_idx[n.col]), int(cols.ct_idx[n.col])) if cid in sensitive else None


def _seeds(solver, nodes, pod_class, members, problem, sensitive) -> list[tuple[int, np.ndarray]]:
    """The bucket's nodes as they are, as configurations on the cheapest node type holding them."""
    index = {}
    for i, m in enumerate(members):
        for cid, pin, _, _ in m:
            index[(cid, pin)] = i
    out = []
    for n in nodes:
        a = np.zeros(len(members), dtype=np.int64)
        for p in n.placed:
            cid = pod_class[p.key]
            a[index[(cid, _pin(solver.cols, n, cid, sensitive))]] += 1
        t = configurations.cheapest_type(problem, a)
        if t is not None:
            out.append((t, a))
    return out


def _build_node(solver, col: int, pods: list) -> SimNode:
    cols = solver.cols
    pool = next(p for p in solver.pools if p.index == int(cols.pool_idx[col]))
    node = solver._new_node(pool, col)
    for cid, entries, p in pods:
        c = entries[0][0]
        for d, r in enumerate(c.req):
            node.used[d] += int(r)
        node.counts[cid] = node.counts.get(cid, 0) + 1
        node.placed.append(p)
        for cc, cons in entries:
            if cons.id not in node.cons:
                node.cons[cons.id] = (cc, cons)
                node.mask &= solver.cons_mask(cc, cons)[node.cand]
    return node
