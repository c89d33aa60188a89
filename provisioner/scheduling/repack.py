"""After placement: pack the new nodes' pods again from the configuration LP, when that is cheaper.

Placement goes class by class, so a node is sized for the class that opened it and filled by
whatever comes later; measured on Karpenter's mix, that leaves 10-20% against the
configuration LP (bench/gap_anatomy.py). This pass takes the pods of a NodePool's new nodes,
solves the configuration LP of their sizes over the NodePool's node types in every zone
(configurations.py, seeded with the nodes as they are, so it never starts worse), rounds it
to whole nodes and hands the pods out again. The result replaces the nodes only if it costs
less. NodePools go biggest first, each with its share of the time.

What each pod keeps:
* pods no zonal rule concerns go to any zone and capacity type;
* pods whose only zonal rule is a zonal topology spread of their own set keep the set's count
  in every zone (count rows of the LP), but which of them go where is the LP's choice: the few
  that must sit in an expensive zone are those it packs best;
* other pods a zonal rule concerns (zonal affinity, anti-affinity, capacity-type spreads, or
  counted by someone else's) stay in their zone and capacity type;
* a hostname spread's set keeps at most maxSkew pods per node: the LP packs sizes, and pods
  are handed out to slots of their size, capped ones first, each to the node holding fewest;
* a set kept apart on hostname (anti-affinity of a set to itself, or a host port), when no
  other hostname exclusion concerns its pods, is a set capped at one per node.
Other pods with hostname anti-affinity or host ports (their own or aimed at them), and pods
with hostname affinity, are not moved; NodePools with limits are left alone.
"""

from __future__ import annotations

import time
from collections import defaultdict

import numpy as np

from provisioner.scheduling import configurations
from provisioner.scheduling.hand_out import hand_out
from provisioner.scheduling.merge import new_node_buckets
from provisioner.scheduling.model import HOSTNAME, ZONE
from provisioner.scheduling.nodes import SimNode


def repack_nodes(solver, pod_class: dict[str, int], seconds: float, shapes=()) -> int:
    """Repack NodePool by NodePool within `seconds` in all; returns how many were replaced.
    `shapes`: configurations of the zone-free LP (configuration_bound.py), to start from."""
    if seconds <= 0:
        return 0
    deadline = time.perf_counter() + seconds
    apart = _kept_apart(solver)
    pools: dict[int, list[SimNode]] = defaultdict(list)
    for (pool, _, _), nodes in new_node_buckets(solver, lambda n: _movable(solver, n, apart)).items():
        pools[pool] += nodes
    todo = sorted((kv for kv in pools.items() if len(kv[1]) >= 2), key=lambda kv: -len(kv[1]))
    waiting = sum(len(nodes) for _, nodes in todo)
    replaced = 0
    for pool, nodes in todo:  # biggest first, each with its share of the time left
        left = deadline - time.perf_counter()
        if left <= 0:
            break
        share = left * len(nodes) / waiting
        waiting -= len(nodes)
        cand = solver.pool_by_price(pool)[0]  # non-exotic, cheapest first
        replaced += _repack_pool(solver, nodes, cand, pod_class, share, shapes, apart) is not None
    return replaced


def _kept_apart(solver) -> dict[int, frozenset]:
    """Class id -> its set, for classes whose hostname exclusions (required or kept preferred
    anti-affinity, host ports) are exactly a set they are in, as are those of every member of
    the set on a new node: no two pods of the set on one node, which the LP takes as a cap of
    one per node (anti-affinity of a Deployment to itself, or one host port)."""
    seen: dict[int, set[frozenset]] = defaultdict(set)
    for n in solver.nodes:
        if n.existing:
            continue
        for c, cons in n.cons.values():
            apart = frozenset(i for k, ids in cons.forbid if k == HOSTNAME for i in ids)
            if apart or HOSTNAME in solver.builder.symmetric.get(c.id, {}):
                seen[c.id].add(apart)
    single = {cid: next(iter(sets)) for cid, sets in seen.items() if len(sets) == 1}
    return {cid: s for cid, s in single.items()
            if cid in s and all(m not in seen or single.get(m) == s for m in s)}


def _movable(solver, n: SimNode, apart: dict[int, frozenset]) -> bool:
    for c, cons in n.cons.values():
        if any(a.key == HOSTNAME for a in cons.affinities):
            return False
        if c.id not in apart and (any(k == HOSTNAME for k, _ in cons.forbid)
                                  or HOSTNAME in solver.builder.symmetric.get(c.id, {})):
            return False
    return True


class _Items:
    """The pool's pods as LP sizes: alike in requests, the node types they admit, and which
    count rows count them. Pods in one size are interchangeable for capacity."""

    def __init__(self) -> None:
        self.index: dict[tuple, int] = {}
        self.req: list[tuple[int, ...]] = []
        self.mask: list[np.ndarray] = []
        self.counted: list[object] = []  # the zonal spread set counting the size, or None
        self.capped: list[object] = []  # (hostname spread set, per-node cap) limiting it, or None
        self.pods: list[list[tuple]] = []  # (class id, constraint entries, pod)
        self.where: dict[str, int] = {}  # pod -> its size

    def add(self, req, mask: np.ndarray, counted, capped, member: tuple) -> None:
        key = (req, mask.tobytes(), counted, capped)
        i = self.index.get(key)
        if i is None:
            i = self.index[key] = len(self.req)
            self.req.append(req)
            self.mask.append(mask)
            self.counted.append(counted)
            self.capped.append(capped)
            self.pods.append([])
        self.pods[i].append(member)
        self.where[member[2].key] = i


def _repack_pool(solver, nodes: list[SimNode], cand: np.ndarray, pod_class: dict[str, int],
                 seconds: float, shapes=(), apart: dict[int, frozenset] | None = None) -> int | None:
    """The nodes saved, or None when the pool is left as placed."""
    cols = solver.cols
    sensitive = solver.zone_sensitive()
    spreads = _zonal_spreads(solver, nodes, pod_class)
    caps = _hostname_caps(nodes, apart or {})
    if caps is None:
        return None
    cons_of: dict[int, tuple] = {}
    for n in nodes:
        for c, cons in n.cons.values():
            cons_of.setdefault(c.id, {})[cons.id] = (c, cons)
    req_mask = {cid: _mask(solver, entries.values(), cand) for cid, entries in cons_of.items()}
    items = _Items()
    targets: dict[tuple, int] = defaultdict(int)  # (spread set, zone) -> pods it keeps there
    for n in nodes:
        zone, ct = int(cols.zone_idx[n.col]), int(cols.ct_idx[n.col])
        for p in n.placed:
            cid = pod_class[p.key]
            entries = tuple(cons_of[cid].values())
            mask, counted = req_mask[cid], spreads.get(cid)
            if counted is not None:
                targets[(counted, zone)] += 1
            elif cid in sensitive:  # kept in its zone and capacity type
                mask = mask & (cols.zone_idx[cand] == zone) & (cols.ct_idx[cand] == ct)
            items.add(entries[0][0].req, mask, counted, caps.get(cid), (cid, entries, p))
    problem, types = _problem(solver, cand, items, targets)
    seeds = _seeds(solver, nodes, problem, items)
    try:
        packed = configurations.pack(problem, seeds + _lifted(problem, items, shapes), seconds)
    except ValueError:
        return None
    placed = hand_out(problem, packed, items, targets, caps, cols.zone_idx[cand[types]])
    if placed is None or len(seeds) < len(nodes):
        return None  # (or a node no type of the LP holds as it is: nothing to compare with)
    old = sum(float(problem.price[t]) for t, _ in seeds)
    new = sum(float(problem.price[t]) for t, _ in placed)
    if new >= old * (1 - 1e-6):
        return None
    for n in nodes:
        solver.pool_nodes[n.pool.index] -= 1
        solver.pool_used[n.pool.index] -= cols.capacity[n.col]
    gone = {n.idx for n in nodes}
    solver.nodes = [n for n in solver.nodes if n.idx not in gone]
    solver.open_nodes = [n for n in solver.open_nodes if n.idx not in gone]
    for t, take in placed:
        _build_node(solver, int(cand[types[t]]), take)
    return len(nodes) - len(placed)


def _mask(solver, entries, cand) -> np.ndarray:
    mask = np.ones(len(cand), dtype=bool)
    for c, cons in entries:
        mask &= solver.requirement_mask(c, cons)[cand]
    return mask


def _zonal_spreads(solver, nodes: list[SimNode], pod_class: dict[str, int]) -> dict[int, frozenset]:
    """Classes whose only zonal concern is a zonal topology spread of their own set, which
    no other rule shares: class id -> the set (its count per zone is what must stay)."""
    here = {pod_class[p.key] for n in nodes for p in n.placed}
    own: dict[int, frozenset] = {}
    for n in nodes:
        for c, cons in n.cons.values():
            zonal = [s for s in cons.spreads if s.key != HOSTNAME]
            if (len(zonal) == 1 and zonal[0].key == ZONE and c.id in zonal[0].matching
                    and not any(k != HOSTNAME for k, _ in cons.forbid)
                    and not any(a.key != HOSTNAME for a in cons.affinities)
                    and not any(k != HOSTNAME for k in solver.builder.symmetric.get(c.id, {}))):
                if own.setdefault(c.id, zonal[0].matching) != zonal[0].matching:
                    own[c.id] = None  # two constraint sets, two spreads: keep it pinned
    # every class such a set counts must be one of these, all here; and no other zonal rule
    # of anyone may count them
    out = {}
    for cid, matching in own.items():
        if matching and all(own.get(m) == matching and m in here for m in matching):
            out[cid] = matching
    for lv in solver.levels.values():
        for cons in lv:
            for key, ids in cons.forbid:
                if key != HOSTNAME:
                    for m in ids:
                        out.pop(m, None)
            for a in cons.affinities:
                if a.key != HOSTNAME:
                    for m in a.matching:
                        out.pop(m, None)
            for s in cons.spreads:
                if s.key != HOSTNAME and any(out.get(m) != s.matching for m in s.matching if m in out):
                    for m in s.matching:
                        out.pop(m, None)
    return out


def _hostname_caps(nodes: list[SimNode], apart: dict[int, frozenset]) -> dict[int, tuple[frozenset, int]] | None:
    """Class id -> (hostname spread set, or set kept apart, at most this many of it per node).
    None when a class is limited by two such sets (left as placed)."""
    caps: dict[int, tuple[frozenset, int]] = {cid: (members, 1) for cid, members in apart.items()
                                              if any(cid in n.counts for n in nodes)}
    seen = {}
    for n in nodes:
        seen.update(n.cons)
    for _, cons in seen.values():
        for s in cons.spreads:
            if s.key == HOSTNAME:
                for m in s.matching:
                    have = caps.get(m)
                    if have is not None and have[0] != s.matching:
                        return None
                    caps[m] = (s.matching, min(s.max_skew, have[1]) if have else s.max_skew)
    return caps


def _problem(solver, cand, items: _Items, targets: dict[tuple, int]):
    """The configuration LP over the pool's node types: candidate columns alike in allocatable,
    zone and the sizes they admit merged into the cheapest. Returns it and each type's index
    into cand."""
    cols = solver.cols
    compat = np.array(items.mask).T  # (candidate column, size)
    zone = cols.zone_idx[cand]
    alloc, price = cols.alloc[cand], cols.price[cand]
    # zones apart only where count rows need them (pinned sizes already tell zones apart)
    types = configurations.node_types(alloc, price, compat, zone if targets else np.zeros(len(cand), dtype=np.int64))
    demand = np.array([len(p) for p in items.pods], dtype=np.int64)
    req = np.array(items.req, dtype=np.int64)
    p = configurations.Problem(req, demand, alloc[types], price[types], compat[types], domain=zone[types])
    sets = sorted({c for c in items.capped if c is not None}, key=lambda c: (sorted(c[0]), c[1]))
    if sets:  # at most maxSkew pods of a hostname spread's set per node
        p.group = np.array([-1 if c is None else sets.index(c) for c in items.capped], dtype=np.int64)
        p.group_cap = np.array([c[1] for c in sets], dtype=np.int64)
    if targets:
        keys = sorted(targets, key=lambda k: (sorted(k[0]), k[1]))
        p.count_rows = np.array([[c == m for c in items.counted] for m, _ in keys])
        p.count_domain = np.array([z for _, z in keys], dtype=np.int64)
        p.count_min = np.array([targets[k] for k in keys], dtype=np.int64)
        p.exact = np.array([c is not None for c in items.counted])
    return p, types


def _seeds(solver, nodes, problem, items: _Items) -> list[tuple[int, np.ndarray]]:
    """The nodes as they are, as configurations on the cheapest node type holding them (in
    their zone when a zonal spread counts a pod on them; pinned pods pin it anyway), which is
    how they would be priced without the repack."""
    out = []
    for n in nodes:
        a = np.zeros(len(items.req), dtype=np.int64)
        for p in n.placed:
            a[items.where[p.key]] += 1
        counted = any(items.counted[i] is not None for i in np.nonzero(a)[0])
        t = configurations.cheapest_type(problem, a, int(solver.cols.zone_idx[n.col]) if counted else None)
        if t is not None:
            out.append((t, a))
    return out


def _lifted(problem, items: _Items, shapes) -> list[tuple[int, np.ndarray]]:
    """The zone-free LP's configurations as this LP's: in every zone, each of its pods given to a
    size of the same classes that zone admits (four ways: plain sizes first, then counted,
    capped or pinned ones first), within demand and hostname caps, on the cheapest node type of
    that zone holding them. Only a head start: the LP re-prices everything."""
    if not shapes:
        return []
    by_class: dict[int, list[int]] = defaultdict(list)
    for i, pods in enumerate(items.pods):
        for cid in {m[0] for m in pods}:
            by_class[cid].append(i)
    dom = problem.rows()[0]
    kind = [(items.counted[i] is not None, items.capped[i] is not None, not items.mask[i].all())
            for i in range(len(items.req))]  # counted, capped, pinned (or otherwise limited)
    out, seen = [], set()
    for z in np.unique(dom):
        admits = problem.compat[dom == z].any(axis=0)
        for _, _, sizes in shapes:
            # several ways to hand the pods to sizes: each kind of size first in turn
            for first in range(4):
                a = np.zeros(len(items.req), dtype=np.int64)
                in_set: dict[frozenset, int] = defaultdict(int)
                for classes, k in sizes:
                    cands = [i for i in {i for cid in classes for i in by_class.get(cid, ())} if admits[i]]
                    cands.sort(key=lambda i: (not (kind[i][first - 1] if first else not any(kind[i])), i))
                    for i in cands:
                        capped = items.capped[i]
                        room = k if capped is None else min(k, capped[1] - in_set[capped[0]])
                        take = min(room, int(problem.demand[i]) - int(a[i]))
                        if take <= 0:
                            continue
                        a[i] += take
                        k -= take
                        if capped is not None:
                            in_set[capped[0]] += take
                        if not k:
                            break
                if not a.any() or (z, a.tobytes()) in seen:
                    continue
                seen.add((z, a.tobytes()))
                t = configurations.cheapest_type(problem, a, int(z))
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
