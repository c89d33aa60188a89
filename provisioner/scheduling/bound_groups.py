"""What the lower bound LP is given: the pods a plan placed, grouped for the LP.

Classes are pooled by the columns their requirements admit and by memory-to-CPU ratio band
(with ratio rows), the largest classes are kept whole, and classes allowed one (or maxSkew)
pod per node force a node count. See provisioner.scheduling.bound for the LP itself.
"""

from __future__ import annotations

import math

import numpy as np

from provisioner.catalog.resources import Resources
from provisioner.scheduling.bound import BoundGroup, lower_bound
from provisioner.scheduling.model import HOSTNAME
from provisioner.scheduling.nodes import pool_label
from provisioner.scheduling.solver import Solver

WHOLE_CLASSES = 12  # classes kept whole in the lower bound LP (each holding >= 5% of the pods)


def plan_lower_bound(solver: Solver, classes, originally: dict[int, int]) -> float:
    cols = solver.cols
    existing = [n for n in solver.nodes if n.existing]
    free0 = []
    for n in existing:
        # free room before this plan: allocatable minus what was already bound there
        placed = Resources()
        for p in n.placed:
            placed = placed + p.requests
        free0.append([n.cap[d] - n.used[d] + placed.get(dim, 0) for d, dim in enumerate(solver.dims)])
    existing_free = np.array(free0, dtype=np.int64).reshape(len(existing), len(solver.dims))
    groups: dict[tuple, BoundGroup] = {}
    node_needs: dict[tuple, list] = {}  # pods that need distinct nodes: key -> [mask, existing, pods, per node]
    counts = {c.id: originally.get(c.id, 0) - len(c.pending) for c in classes}
    total = sum(v for v in counts.values() if v > 0)
    # The largest classes are kept whole in the LP (tighter); the rest are pooled by resource.
    whole = set(sorted((cid for cid, v in counts.items() if v > 0 and v * 20 >= total),
                       key=lambda cid: -counts[cid])[:WHOLE_CLASSES])
    host_pods: list = []
    for c in classes:
        placed = originally.get(c.id, 0) - len(c.pending)
        if placed <= 0:
            continue
        cons = solver.levels[c.id][-1]  # required constraints only
        m = solver.requirement_mask(c, cons)
        ex = tuple(i for i, n in enumerate(existing) if solver.compatible(c, cons, n)
                   and all(existing_free[i, d] >= r for d, r in enumerate(c.req)))
        mkey = m.tobytes()
        hosts = []
        for key, ids in cons.forbid:
            if key == HOSTNAME and c.id in ids:  # one pod per node among classes excluding each other
                _need(node_needs, ("anti", ids), solver.cons_mask(c, cons), ex, placed, 1)
                hosts.append((("anti", ids), 1))  # classes sharing this set all exclude each other
        for s in cons.spreads:
            if s.key == HOSTNAME:
                _need(node_needs, ("spread", s), solver.cons_mask(c, cons), ex, placed, s.max_skew)
                if c.id in s.matching:
                    hosts.append((("spread", s.matching, s.max_skew), s.max_skew))
        demand = np.array(c.req, dtype=float) * placed
        if hosts:
            host_pods.append((c, m, ex, tuple(hosts), placed))
        if c.id in whole:
            groups[("whole", c.id)] = BoundGroup(m, ex, demand, per_pod=np.array(c.req, dtype=float), count=placed)
            continue
        band = _band(c.req)
        g = groups.get((mkey, ex, band))
        if g is None:
            groups[(mkey, ex, band)] = g = BoundGroup(m, ex, demand)
            g.ratio_members = []  # type: ignore[attr-defined]
        else:
            g.demand = g.demand + demand
        g.ratio_members.append(c.req)  # type: ignore[attr-defined]
    for g in groups.values():
        members = getattr(g, "ratio_members", None)
        if members:
            g.ratios = _ratio_bounds(members)
            g.members = np.unique(np.array(members, dtype=np.int64), axis=0)
    extra = _host_groups(host_pods, cols.alloc)
    extra += [BoundGroup(m, ex, np.zeros(len(solver.dims)), math.ceil(pods / per))
             for m, ex, pods, per in node_needs.values()]
    limits = {}
    for p in solver.pools:
        if p.limits or p.node_limit is not None:
            used_existing = np.zeros(len(solver.dims), dtype=np.int64)
            count = 0
            for n in existing:
                if pool_label(n) == p.name:
                    used_existing += np.array([n.node.allocatable.get(d, 0) for d in solver.dims], dtype=np.int64)
                    count += 1
            limits[p.index] = ({d: int(v - used_existing[d]) for d, v in p.limits.items()},
                               None if p.node_limit is None else p.node_limit - count)
    lp = lower_bound(list(groups.values()) + extra, cols.price, cols.alloc, cols.capacity, cols.pool_idx, limits,
                     existing_free)
    return lp


def _band(req: tuple[int, ...]) -> int:
    """Memory-to-CPU ratio band (factors of four): pods in one band share tight ratio rows."""
    cpu, mem = req[0], req[1]
    if cpu <= 0 or mem <= 0:
        return -10**6 if cpu <= 0 else 10**6
    return int(math.floor(math.log2(mem / cpu) / 2))


def _ratio_bounds(members: list[tuple[int, ...]]) -> tuple[tuple[int, int, float, float], ...]:
    """Every pod of the group has memory/cpu and pods/cpu within these ranges."""
    out = []
    cpus = [r[0] for r in members]
    if min(cpus) > 0:
        mems = [r[1] / r[0] for r in members]
        out.append((1, 0, min(mems), max(mems)))
        pods = [r[3] / r[0] for r in members]  # BASE_DIMS: cpu, memory, ephemeral-storage, pods
        out.append((3, 0, min(pods), max(pods)))
    return tuple(out)


def _need(needs: dict, key: tuple, mask, existing, pods: int, per_node: int) -> None:
    hit = needs.get(key)
    if hit is None:
        needs[key] = [mask, existing, pods, per_node]
    else:  # distinct nodes for all of them, each compatible with at least one
        hit[0] = hit[0] | mask
        hit[1] = tuple(sorted(set(hit[1]) | set(existing)))
        hit[2] += pods


HOST_SIZES_EXACT = 8  # up to this many sizes in a set: exact assignment rows, else threshold rows
HOST_THRESHOLD_ROWS = 400  # candidate sizes (requests and their pairwise meets) at most


def _host_groups(host_pods: list, alloc: np.ndarray) -> list[BoundGroup]:
    """Node-count rows for pods limited per node by hostname rules. A node holds at most s
    pods of such a set (one for anti-affinity, maxSkew for a hostname spread), so for every
    request size r in the set, the pods at least as large as r in every dimension need at least
    ceil(count / s) nodes, each on a column their requirements admit that fits r. Only node
    counts: their resources are covered by their resource groups."""
    by_key: dict[tuple, list] = {}
    for c, m, ex, hosts, placed in host_pods:
        for hk, lim in hosts:
            by_key.setdefault((hk, lim), []).append((np.array(c.req, dtype=np.int64), m, ex, placed))
    out = []
    for (key, lim), items in by_key.items():
        reqs = np.stack([req for req, _, _, _ in items])
        counts = np.array([n for _, _, _, n in items])
        mask_ids: dict[bytes, int] = {}
        masks = []
        for _, m, _, _ in items:
            if m.tobytes() not in mask_ids:
                mask_ids[m.tobytes()] = len(masks)
                masks.append(m)
        item_mask = [mask_ids[m.tobytes()] for _, m, _, _ in items]
        sizes = np.unique(reqs, axis=0)
        if len(sizes) <= HOST_SIZES_EXACT:
            # few sizes: exact assignment rows (pods of each size on fitting nodes, at most
            # `lim` of the set per node), count-only
            for k, rr in enumerate(sizes):
                same = np.all(reqs == rr, axis=1)
                for mid in {item_mask[i] for i in np.nonzero(same)[0]}:
                    sel = [i for i in np.nonzero(same)[0] if item_mask[i] == mid]
                    ex_all = tuple(sorted({e for i in sel for e in items[i][2]}))
                    out.append(BoundGroup(masks[mid], ex_all, np.zeros(len(rr)), per_pod=rr.astype(float),
                                          count=int(counts[sel].sum()), hosts=((key, lim),), uses_capacity=False))
            continue
        # many sizes: threshold rows at every size and every pairwise meet (elementwise min)
        meets = np.minimum(sizes[:, None, :], sizes[None, :, :]).reshape(-1, sizes.shape[1])
        meets = np.unique(meets, axis=0)
        if len(meets) <= HOST_THRESHOLD_ROWS:
            sizes = meets
        dominates = np.all(reqs[None, :, :] >= sizes[:, None, :], axis=2)  # [size, item]
        unions: dict[tuple, np.ndarray] = {}
        for k, rr in enumerate(sizes):
            big = np.nonzero(dominates[k])[0]
            ids = tuple(sorted({item_mask[i] for i in big}))
            mask = unions.get(ids)
            if mask is None:
                mask = unions[ids] = np.logical_or.reduce([masks[i] for i in ids])
            ex_all = sorted({e for i in big for e in items[i][2]})
            out.append(BoundGroup(mask, tuple(ex_all), np.zeros(len(rr)), math.ceil(int(counts[big].sum()) / lim),
                                  min_fit=rr))
    return out
