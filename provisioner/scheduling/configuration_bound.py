"""A lower bound from the configuration LP: tighter than the resource LP where nodes hold a few pods.

The resource LP (bound.py) lets pods split across nodes; on node types holding a handful of
pods that leaves ~5% on the table (bench/gap_anatomy.py). This bound solves the configuration
LP (configurations.py) over the plan's pods and every node type their requirements admit,
relaxing what it cannot model: hostname rules, NodePool limits, zonal affinities. Farley's
bound keeps it valid when the time budget cuts the column generation short, and its dual
prices pi (scaled to be feasible) price every pod.

Zones enter through the dual prices too. A zonal topology spread (DoNotSchedule) over d zones
puts at least q = ceil((n - (d - 1) maxSkew) / d) of its n pods in every zone. Adding that row
for zone z with price theta_z keeps the duals feasible as long as no configuration on a node
type of zone z is worth more than its price with the spread's pods worth pi + theta_z there;
the largest such theta_z is found by pricing zone z's node types (exactly, or bounded): from an
upper bound, each configuration found worth more than its price lowers theta to where it is
worth exactly that, and bisection takes over when only a bound stands in the way. The bound is
then pi . demand + sum over zones of q theta_z: the premium of the zones the spread forces pods
into. With several spreads, each zone is charged by one of them (the dearest): thetas priced
apart could not all be paid on one node type.

Only pods that must go on new nodes count: a class that some existing or in-flight node could
take is left out (a relaxation), and so is a spread whose pods are not all here and placed.
"""

from __future__ import annotations

import time
from collections import defaultdict

import numpy as np

from provisioner.scheduling import configurations
from provisioner.scheduling.knapsack import TypePricer, upper_bounds
from provisioner.scheduling.model import ZONE

MAX_STEPS = 24  # per zone: tightening steps and bisections
LP_SHARE = 0.7  # of the time budget, for the column generation; the rest prices the zones


# A configuration the zone-free LP uses: (column, LP amount, [(classes of a size, pods), ...]).
# The repack starts from these (they are close to the best packing, zones aside).
Shape = tuple[int, float, list[tuple[frozenset, int]]]


def configuration_bound(solver, classes, originally: dict[int, int], seconds: float) -> tuple[float, list[Shape]]:
    """The bound, and the LP's configurations."""
    start = time.perf_counter()
    cols = solver.cols
    existing = [n for n in solver.nodes if n.existing]
    keys: dict[tuple, int] = {}
    req_rows, masks, demand = [], [], []
    item_of_class: dict[int, int] = {}
    for c in classes:
        placed = originally.get(c.id, 0) - len(c.pending)
        if placed <= 0:
            continue
        cons = solver.levels[c.id][-1]  # required constraints only
        if any(solver.compatible(c, cons, n) for n in existing):
            continue  # it might go on existing room: left out
        m = solver.requirement_mask(c, cons) & np.all(cols.alloc >= np.array(c.req, dtype=np.int64), axis=1)
        if not m.any():
            continue
        key = (c.req, m.tobytes())
        i = keys.get(key)
        if i is None:
            i = keys[key] = len(req_rows)
            req_rows.append(c.req)
            masks.append(m)
            demand.append(0)
        demand[i] += placed
        item_of_class[c.id] = i
    if not req_rows:
        return 0.0, []
    req = np.array(req_rows, dtype=np.int64)
    demand = np.array(demand, dtype=np.int64)
    compat = np.array(masks).T  # (column, item)
    types = configurations.node_types(cols.alloc, cols.price, compat, np.zeros(len(cols.price), dtype=np.int64))
    problem = configurations.Problem(req, demand, cols.alloc[types], cols.price[types], compat[types])
    sol = configurations.solve(problem, seconds=seconds * LP_SHARE, certify=True, steps=30_000)
    members: dict[int, set] = defaultdict(set)
    for cid, i in item_of_class.items():
        members[i].add(cid)
    shapes = [(int(types[sol.owner[k]]), float(sol.x[k]),
               [(frozenset(members[i]), int(sol.configs[k][i])) for i in np.nonzero(sol.configs[k])[0]])
              for k in np.nonzero(sol.x > 1e-6)[0]]
    if sol.prices is None:
        return sol.bound, shapes
    pi = sol.prices
    base = float(pi @ demand)
    deadline = start + seconds
    # each zone's premium: one row's dual per zone (two rows priced apart could not both be
    # charged on one node type), so the spread that charges that zone most
    premium: dict[int, float] = defaultdict(float)
    for members, zones, q in _zonal_spreads(solver, classes, originally, item_of_class):
        share = _share(members, originally, len(demand))
        for z in zones:
            if time.perf_counter() > deadline:
                return base + sum(premium.values()), shapes
            # to within 0.01% of the bound
            theta = _zone_price(pi, req, demand, share, cols, compat, z, deadline, 1e-4 * base / q)
            premium[z] = max(premium[z], q * theta)
    return base + sum(premium.values()), shapes


def _share(members, originally, n_items: int) -> np.ndarray:
    """Pods of a set in each item."""
    share = np.zeros(n_items, dtype=np.int64)
    for cid, i in members:
        share[i] += originally[cid]
    return share


def _zonal_spreads(solver, classes, originally, item_of_class):
    """(members [(class, item)], zone indices, q) for each zonal DoNotSchedule spread whose
    pods are all pending here, all placed and all in the bound, and which every class it
    counts carries itself."""
    by_id = {c.id: c for c in classes}
    seen = set()
    out = []
    for c in classes:
        if c.id not in item_of_class:
            continue
        for s in solver.levels[c.id][-1].spreads:
            if s.key != ZONE or s.matching in seen:
                continue
            seen.add(s.matching)
            ok = all(m in by_id and m in item_of_class and not by_id[m].pending
                     and s in solver.levels[m][-1].spreads for m in s.matching)
            if not ok or any(m in n.counts for n in solver.nodes if n.existing for m in s.matching):
                continue  # pods of the set already run somewhere: the counts start uneven
            names = solver.spread_domains(c, solver.levels[c.id][-1], ZONE)
            if not names or (s.min_domains and len(names) < s.min_domains):
                continue
            n = sum(originally[m] for m in s.matching)
            q = -(-(n - (len(names) - 1) * s.max_skew) // len(names))
            if q <= 0:
                continue
            zones = [solver.cols.zones.index(z) for z in names if z in solver.cols.zones]
            if len(zones) == len(names):
                out.append(([(m, item_of_class[m]) for m in sorted(s.matching)], zones, q))
    return out


def _zone_price(pi, req, demand, share, cols, compat, z: int, deadline: float, tol: float) -> float:
    """The largest theta (to within tol) such that no configuration on a node type of
    zone z is worth more than its price when the spread's pods are worth pi + theta there."""
    in_zone = cols.zone_idx == z
    types = configurations.node_types(cols.alloc, cols.price, compat & in_zone[:, None], np.zeros(len(cols.price), dtype=np.int64))
    if not len(types):
        return 0.0
    # each item twice: its spread pods (worth pi + theta, set 0 so they are not merged with
    # the rest) and the others (worth pi)
    n = len(demand)
    live = share > 0
    req2 = np.concatenate([req[live], req])
    cnt2 = np.concatenate([share[live], demand - share])
    group = np.concatenate([np.zeros(live.sum(), dtype=np.int64), np.full(n, -1, dtype=np.int64)])
    fits = np.concatenate([compat[types][:, live], compat[types]], axis=1)
    fits &= np.all(cols.alloc[types][:, None, :] >= req2[None, :, :], axis=2)
    price = cols.price[types]
    pricers = [TypePricer(req2, cols.alloc[t], cnt2, fits[k], group, np.array([1 << 40], dtype=np.int64))
               for k, t in enumerate(types)]
    # one spread pod alone on a node: theta is at most its price less the pod's worth
    alone = np.where(fits[:, :live.sum()], price[:, None] - pi[live][None, :], np.inf)
    hi = float(alone.min()) if alone.size else 0.0
    lo = 0.0
    if not np.isfinite(hi) or hi <= 0:
        return 0.0
    alloc = cols.alloc[types]
    n_live = int(live.sum())
    theta = hi
    for _ in range(MAX_STEPS):
        if time.perf_counter() > deadline or hi - lo <= tol:
            break
        val = np.concatenate([pi[live] + theta, pi])
        found = _violation(val, req2, alloc, fits, pricers, price)
        if found is None:
            return theta  # every node type of the zone within its price: feasible
        hi = min(hi, theta)
        k, a = found
        if a is not None and a[:n_live].any():
            # the configuration found is worth exactly its price at this theta; above, it breaks
            tight = (price[k] - float(np.concatenate([pi[live], pi]) @ a)) / float(a[:n_live].sum())
            if tight <= lo + tol:
                return lo  # above lo + tol this configuration is worth more than its price
            theta = min(tight, hi * (1 - 1e-9))
            continue
        theta = (lo + hi) / 2  # nothing to go by: bisect
        if _violation(np.concatenate([pi[live] + theta, pi]), req2, alloc, fits, pricers, price) is None:
            lo = theta
        else:
            hi = theta
    return lo


def _violation(val, req, alloc, fits, pricers, price):
    """None when no node type's best configuration is worth more than its price (upper bounds:
    a cheap one per dimension first, then the search where it is exhaustive, else the LP
    relaxation, else HiGHS's MIP bound); else (node type, a configuration worth more, or None
    when only a bound says so). Most promising node types first."""
    ratio = upper_bounds(val, req, alloc, fits) / price
    for k in np.argsort(-ratio):
        if ratio[k] <= 1 + 1e-9:
            break
        p, cost = pricers[k], price[k]
        got, a, upper = p.price(val, 30_000)
        if got > cost * (1 + 1e-9):
            return int(k), a
        if upper > cost * (1 + 1e-9) and p.mip_upper(val) > cost * (1 + 1e-9):
            return int(k), None
    return None
