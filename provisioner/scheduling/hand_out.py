"""After the repack's LP is rounded: which pod goes on which node.

The LP packs sizes (pods alike in requests, node types admitted, count rows, hostname set);
the rounded nodes have slots per size, and the pods of a size are handed to them here, keeping
what the LP could only count: a zonal spread's exact count per zone (a transport problem over
the slots) and a hostname spread's cap per node.
"""

from __future__ import annotations

from collections import defaultdict

import highspy
import numpy as np

from provisioner.scheduling import configurations
from provisioner.scheduling.highs import silent_highs


def hand_out(problem, packed, items, targets, caps, zone_of_type) -> list[tuple[int, list]] | None:
    """Pods to the packed nodes' slots of their size. A zonal spread's pods go to zones by a
    transport problem (each zone gets the count it keeps); hostname-capped pods go first, each
    to the node holding fewest of its set, or to a node of its own when every slot's node is
    full of the set. Each node is then priced as the cheapest type of its zone holding what it
    got (merge.py joins the small ones afterwards). None when that fails."""
    split = _zone_quotas(problem, packed, items, targets, zone_of_type)
    if split is None:
        return None
    quota, extra = split
    packed = list(packed) + extra
    slots: list[list[list[int]]] = [[] for _ in items.req]  # size -> [[node, free slots], ...]
    for k, (t, config) in enumerate(packed):
        for i in np.nonzero(config)[0]:
            slots[i].append([k, int(config[i])])
    held: list[list] = [[] for _ in packed]
    in_set: dict[tuple[int, frozenset], int] = defaultdict(int)
    for i in range(len(items.req)):
        counted = items.counted[i] is not None
        for member in sorted(items.pods[i], key=lambda m: m[0] not in caps):  # capped first
            capped = caps.get(member[0])
            best = None
            for s in slots[i]:
                k, free = s
                if not free or (counted and quota.get((i, int(zone_of_type[packed[k][0]])), 0) <= 0):
                    continue
                if capped is None:
                    best = s
                    break
                have = in_set[(k, capped[0])]
                if have < capped[1] and (best is None or have < in_set[(best[0], capped[0])]):
                    best = s
            if best is None:  # a node of its own, in a zone it may go to
                zones = [z for (j, z), q in quota.items() if j == i and q > 0] if counted else [None]
                t = configurations.cheapest_type(problem, _unit(len(items.req), i), zones[0] if zones else None)
                if t is None:
                    return None
                packed.append((t, _unit(len(items.req), i)))
                held.append([])
                best = [len(packed) - 1, 1]
                slots[i].append(best)
            best[1] -= 1
            k = best[0]
            held[k].append(member)
            if capped is not None:
                in_set[(k, capped[0])] += 1
            if counted:
                quota[(i, int(zone_of_type[packed[k][0]]))] -= 1
    out = []
    for k, (t, _) in enumerate(packed):
        if not held[k]:
            continue
        counts = np.zeros(len(items.req), dtype=np.int64)
        for _, _, p in held[k]:
            counts[items.where[p.key]] += 1
        counted = any(items.counted[i] is not None for i in np.nonzero(counts)[0])
        cheapest = configurations.cheapest_type(problem, counts, int(zone_of_type[t]) if counted else None)
        out.append((t if cheapest is None else cheapest, held[k]))
    return out


def _zone_quotas(problem, packed, items, targets, zone_of_type):
    """(size, zone) -> how many of the size's pods go there, for the sizes a zonal spread
    counts, so that every zone gets the count its set keeps: a transport problem over the
    packed slots (the LP counts slots, and may hold more of a size in a zone than there are
    pods). Where the slots cannot make it, extra slots on new nodes close the gap, at the
    price per pod of the zone's cheapest node type for that size. Returns the quotas and the
    new nodes (node type, configuration)."""
    quota: dict[tuple[int, int], int] = {}
    extra: list[tuple[int, np.ndarray]] = []
    if not targets:
        return quota, extra
    n_zones = int(zone_of_type.max()) + 1
    slots = np.zeros((n_zones, len(items.req)), dtype=np.int64)  # zone -> slots of each size
    np.add.at(slots, zone_of_type[[t for t, _ in packed]], np.array([c for _, c in packed]))
    for matching in sorted({m for m, _ in targets}, key=sorted):
        sizes = [i for i, c in enumerate(items.counted) if c == matching]
        zones = sorted(z for m, z in targets if m == matching)
        room = np.zeros((len(sizes), len(zones)))
        per_pod = np.full((len(sizes), len(zones)), np.inf)
        alone = {}
        for b, z in enumerate(zones):
            for a, i in enumerate(sizes):
                room[a, b] = slots[z, i]
                t = configurations.cheapest_type(problem, _unit(len(items.req), i), z)
                if t is not None:
                    per_pod[a, b] = float(problem.price[t])
                    alone[(i, z)] = t
        n_f = room.size
        h = silent_highs()
        # f (within the slots, free) then e (extra slots, at their price)
        h.addVars(2 * n_f, np.zeros(2 * n_f), np.concatenate([room.ravel(), np.where(np.isfinite(per_pod), np.inf, 0).ravel()]))
        h.changeColsCost(n_f, np.arange(n_f, 2 * n_f, dtype=np.int32), np.where(np.isfinite(per_pod), per_pod, 0).ravel())
        width = len(zones)
        for a, i in enumerate(sizes):
            idx = np.arange(a * width, (a + 1) * width, dtype=np.int32)
            idx = np.concatenate([idx, idx + n_f])
            h.addRow(len(items.pods[i]), len(items.pods[i]), len(idx), idx, np.ones(len(idx)))
        for b, z in enumerate(zones):
            idx = np.arange(b, n_f, width, dtype=np.int32)
            idx = np.concatenate([idx, idx + n_f])
            h.addRow(targets[(matching, z)], targets[(matching, z)], len(idx), idx, np.ones(len(idx)))
        h.run()
        if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            return None
        x = np.rint(np.array(h.getSolution().col_value)).astype(np.int64)  # a vertex: integral
        f, e = x[:n_f].reshape(room.shape), x[n_f:].reshape(room.shape)
        for a, i in enumerate(sizes):
            for b, z in enumerate(zones):
                quota[(i, z)] = int(f[a, b] + e[a, b])
                if e[a, b]:
                    extra += [(alone[(i, z)], _unit(len(items.req), i)) for _ in range(int(e[a, b]))]
    return quota, extra


def _unit(n: int, i: int) -> np.ndarray:
    a = np.zeros(n, dtype=np.int64)
    a[i] = 1
    return a
