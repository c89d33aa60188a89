"""The configuration LP (Gilmore-Gomory): which node types, holding which pods, at least cost.

A configuration is one node type and how many pods of each size it holds. The LP covers every
size's demand with fractional configurations at the lowest price. Column generation: the
master LP (HiGHS, warm-started as columns arrive) gives each size a dual price; the pricing
problem, per node type, is the most valuable configuration at those prices (an exact bounded
knapsack over every resource dimension, with at most s pods of a hostname-spread set, solved
by depth-first branch and bound in numba). A node type whose configuration is worth more than
its price enters the master.

Farley's bound: with dual prices pi and lambda the largest ratio of a configuration's worth to
its node's price (never below 1), pi / lambda is dual feasible, so demand . pi / lambda is a
lower bound on the LP, hence on any plan of these pods and node types, at every iteration.
Node types not priced exactly enter lambda through a cheap upper bound (per dimension: free
room times the best worth per unit), so a run cut short by its time budget stays valid.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, replace

import highspy
import numba
import numpy as np

EPS = 1e-9
DUAL_CANDIDATES = 24  # items tried as tight in _dual_prices (the rest only scale the result)
TAIL, TAIL_GAIN = 10, 2e-4  # stop when 10 rounds gained less than 0.02%


@dataclass
class Problem:
    req: np.ndarray  # (I, D) int64 requests per size
    demand: np.ndarray  # (I,) int64 pods per size
    alloc: np.ndarray  # (T, D) int64 allocatable per node type
    price: np.ndarray  # (T,) price per node type
    compat: np.ndarray  # (T, I) bool: size i may run on node type t (labels, taints)
    group: np.ndarray | None = None  # (I,) hostname-spread set of each size, -1 for none
    group_cap: np.ndarray | None = None  # (G,) at most this many pods of the set per node


@dataclass
class Solution:
    bound: float  # valid lower bound on any packing of the demand on these node types
    value: float  # the master LP's value (>= the LP optimum until converged)
    configs: np.ndarray  # (K, I) int64
    owner: np.ndarray  # (K,) node type of each configuration
    x: np.ndarray  # (K,) LP solution
    converged: bool
    iterations: int


def solve(p: Problem, seeds: list[tuple[int, np.ndarray]] = (), seconds: float = 1.0,
          max_iterations: int = 500, types_per_round: int = 8, steps: int = 3000) -> Solution:
    """Column generation until no node type prices out, `seconds` run out or `max_iterations`.
    Each round prices node types, most promising first, until `types_per_round` columns came
    in (or none can), each search limited to
    `steps` branch-and-bound steps (the columns stay feasible; the bound stays valid)."""
    start = time.perf_counter()
    req = np.ascontiguousarray(p.req, dtype=np.int64)
    demand = np.asarray(p.demand, dtype=np.int64)
    alloc = np.ascontiguousarray(p.alloc, dtype=np.int64)
    price = np.asarray(p.price, dtype=float)
    n_items, n_dims = req.shape
    group = np.full(n_items, -1, dtype=np.int64) if p.group is None else np.asarray(p.group, dtype=np.int64)
    group_cap = np.zeros(0, dtype=np.int64) if p.group_cap is None else np.asarray(p.group_cap, dtype=np.int64)
    fits = p.compat & np.all(alloc[:, None, :] >= req[None, :, :], axis=2)
    if not fits.any(axis=0).all():
        raise ValueError("a pod size fits no node type")
    master = _Master(demand)
    seen: set[tuple[int, bytes]] = set()

    def add(t: int, a: np.ndarray) -> bool:
        key = (int(t), a.tobytes())
        if key in seen:
            return False
        seen.add(key)
        master.add(float(price[t]), a, int(t))
        return True

    for i in range(n_items):  # every size alone, as many as fit, on its cheapest node type per pod
        per = np.where(req[i] > 0, alloc // np.maximum(req[i], 1), 1 << 40).min(axis=1)
        if group[i] >= 0:
            per = np.minimum(per, group_cap[group[i]])
        per = np.where(fits[:, i], np.minimum(per, demand[i]), 0)
        t = int(np.argmin(np.where(per > 0, price / np.maximum(per, 1), np.inf)))
        a = np.zeros(n_items, dtype=np.int64)
        a[i] = per[t]
        add(t, a)
    for t, a in seeds:
        add(int(t), np.asarray(a, dtype=np.int64))
    with np.errstate(divide="ignore"):
        inv_req = np.where(req > 0, 1.0 / np.maximum(req, 1), np.inf)  # worth per unit = pi * inv_req
    best_bound, it, converged = 0.0, 0, False
    history: list[float] = []
    pi = np.zeros(n_items)
    while it < max_iterations:
        it += 1
        pi = master.solve()
        upper = _upper_bounds(pi, req, alloc, fits, inv_req)
        ratio_of = upper / price  # per node type: an upper bound on worth / price
        added, inexact = 0, False
        for t in np.argsort(-ratio_of):  # most promising first, until enough columns came in
            if ratio_of[t] <= 1 + EPS or added >= types_per_round:
                break
            worth, a, exact = _price_type(pi, req, alloc[t], demand, fits[t], group, group_cap, steps)
            if exact:
                ratio_of[t] = worth / price[t]
            else:
                inexact = True
            if worth > price[t] * (1 + EPS) and add(int(t), a):
                added += 1
        ratio = float(ratio_of.max()) if len(ratio_of) else 1.0
        best_bound = max(best_bound, float(pi @ demand) / max(ratio, 1.0))
        if ratio <= 1 + EPS:
            converged = True
            break
        if not added and not inexact:
            break  # nothing new among the types priced, and the rest only bounded
        history.append(master.value()[0])  # the value before this round's columns
        if len(history) > TAIL and history[-TAIL - 1] - history[-1] < TAIL_GAIN * history[-1]:
            break  # tailing off: the last rounds gained almost nothing
        if time.perf_counter() - start > seconds:
            break
    master.solve()  # columns added in the last round: the solution covers them
    value, x = master.value()
    bound = max(best_bound * (1 - 1e-9) - 1e-9, 0.0)
    return Solution(bound, value, np.array(master.columns, dtype=np.int64).reshape(-1, n_items),
                    np.array(master.owner, dtype=np.int64), x, converged, it)


_BANNER_SHOWN = False


def _highs() -> highspy.Highs:
    """A silent HiGHS instance. The first one in a process prints a banner to the C-level
    stdout before any option applies, which would corrupt `simulate --output json`: that one
    is made with stdout pointed at /dev/null."""
    global _BANNER_SHOWN
    if _BANNER_SHOWN:
        h = highspy.Highs()
    else:
        sys.stdout.flush()
        saved = os.dup(1)
        try:
            with open(os.devnull, "w") as null:
                os.dup2(null.fileno(), 1)
            h = highspy.Highs()
        finally:
            os.dup2(saved, 1)
            os.close(saved)
        _BANNER_SHOWN = True
    h.setOptionValue("output_flag", False)
    return h


class _Master:
    """min price.x subject to configs.x >= demand, x >= 0; HiGHS keeps its basis between solves."""

    def __init__(self, demand: np.ndarray) -> None:
        self.h = _highs()
        self.n = len(demand)
        for i in range(self.n):
            self.h.addRow(float(demand[i]), highspy.kHighsInf, 0, np.zeros(0, dtype=np.int32), np.zeros(0))
        self.columns: list[np.ndarray] = []
        self.owner: list[int] = []

    def add(self, price: float, a: np.ndarray, t: int) -> None:
        idx = np.nonzero(a)[0].astype(np.int32)
        self.h.addCol(price, 0.0, highspy.kHighsInf, len(idx), idx, a[idx].astype(float))
        self.columns.append(a)
        self.owner.append(t)

    def solve(self) -> np.ndarray:
        self.h.run()
        return np.maximum(np.array(self.h.getSolution().row_dual), 0.0)

    def value(self) -> tuple[float, np.ndarray]:
        return float(self.h.getInfo().objective_function_value), np.array(self.h.getSolution().col_value)


def _upper_bounds(pi, req, alloc, fits, inv_req) -> np.ndarray:
    """Per node type, a cheap upper bound on its best configuration's worth: the least of, per
    dimension, room times the best worth per unit, and CPU and memory priced (mu) so that no
    size is worth more than its resources, times the type's room."""
    with np.errstate(invalid="ignore"):
        dens = np.where(fits[:, :, None], (pi[:, None] * inv_req)[None, :, :], 0.0).max(axis=1)
        upper = np.nan_to_num(alloc * dens, nan=np.inf, posinf=np.inf).min(axis=1)
    live = pi > EPS
    if live.any():
        mu = _dual_prices(pi[live], req[live], alloc.max(axis=0))
        if np.isfinite(mu).all():
            upper = np.minimum(upper, alloc[:, 0] * mu[0] + alloc[:, 1] * mu[1])
    return upper


def fractional_upper(r: np.ndarray, v: np.ndarray, cap: np.ndarray) -> float:
    """max v.a with r.a <= cap on CPU and memory (dimensions 0 and 1), a >= 0: an upper bound
    on any configuration's worth (the optimum uses one size, or two with both dimensions full)."""
    if not len(v):
        return 0.0
    r, cap = r[:, :2].astype(float), cap[:2].astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        best = float((np.where(r > 0, cap / r, np.inf).min(axis=1) * v).max())
        det = r[:, None, 0] * r[None, :, 1] - r[:, None, 1] * r[None, :, 0]
        xi = (cap[0] * r[None, :, 1] - cap[1] * r[None, :, 0]) / det
        xj = (r[:, None, 0] * cap[1] - r[:, None, 1] * cap[0]) / det
        tot = xi * v[:, None] + xj * v[None, :]
    ok = (np.abs(det) > 1e-12) & (xi >= 0) & (xj >= 0)
    return max(best, float(tot[ok].max())) if ok.any() else best


def _price_type(pi, req, cap, demand, fits, group, group_cap, steps) -> tuple[float, np.ndarray, bool]:
    idx = np.nonzero(fits & (pi > EPS))[0]
    a = np.zeros(len(pi), dtype=np.int64)
    if not len(idx):
        return 0.0, a, True
    r = req[idx]
    v = pi[idx]
    share = (r / np.maximum(cap, 1)).max(axis=1)
    order = np.argsort(-(v / np.maximum(share, 1e-12)))
    r, v, sub = r[order], v[order], idx[order]
    with np.errstate(divide="ignore"):
        dens = np.where(r > 0, v[:, None] / np.maximum(r, 1), np.inf)
    suffix = np.maximum.accumulate(dens[::-1], axis=0)[::-1]
    suffix = np.vstack([suffix, np.zeros((1, r.shape[1]))])
    worth, take, exact = _knapsack(np.ascontiguousarray(v), np.ascontiguousarray(r), cap.astype(np.int64),
                                   demand[sub].astype(np.int64), group[sub].astype(np.int64),
                                   group_cap.astype(np.int64), np.ascontiguousarray(suffix), steps)
    a[sub] = take
    return float(worth), a, bool(exact)


@numba.njit(cache=True)
def _knapsack(val, req, cap, maxcnt, group, gcap, suffix, steps):  # pragma: no cover - compiled
    """Most valuable multiset of items (in the given order, each at most maxcnt times, at most
    gcap[g] from set g) within cap, by depth-first branch and bound. suffix[k, d]: the best
    worth per unit of dimension d among items k.. (bound: room x that, least over d)."""
    n, dims = req.shape
    mu = _dual_prices(val, req, cap)
    free = cap.copy()
    gfree = gcap.copy()
    cur = np.zeros(n, dtype=np.int64)
    best = 0.0
    best_take = np.zeros(n, dtype=np.int64)
    stack = np.zeros(4096, dtype=np.int64)
    sp = 0
    k = 0
    value = 0.0
    exact = True
    while True:
        steps -= 1
        if steps < 0:
            exact = False
            break
        extended = False
        j = k
        while j < n:
            ub = mu[0] * free[0] + mu[1] * free[1]
            for d in range(dims):
                b = free[d] * suffix[j, d]
                if b < ub:
                    ub = b
            if value + ub <= best + 1e-12:
                break
            ok = cur[j] < maxcnt[j]
            if ok and group[j] >= 0 and gfree[group[j]] <= 0:
                ok = False
            if ok:
                for d in range(dims):
                    if req[j, d] > free[d]:
                        ok = False
                        break
            if ok and sp >= 4096:
                exact = False
                ok = False
            if ok:
                cur[j] += 1
                for d in range(dims):
                    free[d] -= req[j, d]
                if group[j] >= 0:
                    gfree[group[j]] -= 1
                value += val[j]
                stack[sp] = j
                sp += 1
                k = j
                if value > best + 1e-12:
                    best = value
                    best_take[:] = cur
                extended = True
                break
            j += 1
        if extended:
            continue
        if sp == 0:
            break
        sp -= 1
        j = stack[sp]
        cur[j] -= 1
        for d in range(dims):
            free[d] += req[j, d]
        if group[j] >= 0:
            gfree[group[j]] += 1
        value -= val[j]
        k = j + 1
    return best, best_take, exact


@numba.njit(cache=True)
def _dual_prices(val, req, cap):  # pragma: no cover - compiled
    """mu (CPU, memory) >= 0 with mu . req_i >= val_i for every item, small in mu . cap: then
    any set of items within free room is worth at most mu . free. The least such mu is a vertex
    of a two-variable LP (two items tight, or one and an axis); the vertices are tried among the
    DUAL_CANDIDATES items worth most per unit of cap, and the best one is scaled up until every
    item satisfies it (so it is always valid, and exact when the tight items are among those)."""
    n = len(val)
    score = np.empty(n)
    for i in range(n):
        score[i] = -val[i] / max(req[i, 0] / max(cap[0], 1) + req[i, 1] / max(cap[1], 1), 1e-12)
    top = np.argsort(score)[:DUAL_CANDIDATES]
    m = len(top)
    best = np.inf
    out = np.zeros(2)
    for ia in range(m):
        a = top[ia]
        for ib in range(ia, m + 2):
            if ib < m:
                b = top[ib]
                det = req[a, 0] * req[b, 1] - req[a, 1] * req[b, 0]
                if det == 0:
                    continue
                m0 = (val[a] * req[b, 1] - val[b] * req[a, 1]) / det
                m1 = (req[a, 0] * val[b] - req[b, 0] * val[a]) / det
            elif ib == m:
                if req[a, 0] == 0:
                    continue
                m0, m1 = val[a] / req[a, 0], 0.0
            else:
                if req[a, 1] == 0:
                    continue
                m0, m1 = 0.0, val[a] / req[a, 1]
            if m0 < 0 or m1 < 0:
                continue
            # scale to cover every item
            scale = 1.0
            for i in range(n):
                have = m0 * req[i, 0] + m1 * req[i, 1]
                if have <= 0:
                    if val[i] > 0:
                        scale = np.inf
                        break
                    continue
                if val[i] / have > scale:
                    scale = val[i] / have
            cost = scale * (m0 * cap[0] + m1 * cap[1])
            if cost < best:
                best = cost
                out[0], out[1] = scale * m0, scale * m1
    if best == np.inf:  # no finite vertex (an item free in CPU and memory): no bound from here
        out[0], out[1] = np.inf, np.inf
    return out


def pack(p: Problem, seeds: list[tuple[int, np.ndarray]], seconds: float) -> list[tuple[int, np.ndarray]]:
    """Whole nodes (node type, configuration) covering the demand: the LP's configurations
    floor(x) times; what is left gets an LP of its own (new configurations for the leftovers),
    rounded by round_solution. Raises ValueError when a size fits no node type."""
    start = time.perf_counter()
    sol = solve(p, seeds, seconds=seconds * 0.7)
    counts = np.floor(sol.x + 1e-9).astype(np.int64)
    nz = np.nonzero(counts)[0]
    packed = [(int(sol.owner[k]), sol.configs[k]) for k in nz for _ in range(int(counts[k]))]
    left = np.maximum(p.demand - counts[nz] @ sol.configs[nz], 0)
    if left.any():
        keep = [(int(sol.owner[k]), np.minimum(sol.configs[k], left)) for k in np.nonzero(sol.x > 1e-9)[0]]
        more = solve(replace(p, demand=left), keep, seconds=max(seconds - (time.perf_counter() - start), 0.01))
        packed += round_solution(more, left, p.price)
    return packed


def cheapest_type(p: Problem, counts: np.ndarray) -> int | None:
    """The cheapest node type that holds these pods of each size and admits them all."""
    ok = np.all(p.alloc >= counts @ p.req, axis=1) & np.all(p.compat[:, counts > 0], axis=1)
    fit = np.nonzero(ok)[0]
    return int(fit[np.argmin(p.price[fit])]) if len(fit) else None


def round_solution(sol: Solution, demand: np.ndarray, price: np.ndarray,
                   max_rounds: int = 400) -> list[tuple[int, np.ndarray]]:
    """Whole nodes covering the demand from the LP's configurations: take floor(x) of each,
    solve the LP again for what is left (HiGHS keeps its basis), and when every x is below one
    take one node of the largest. A node that ends with empty room is shrunk to the cheapest
    type holding its pods when the plan is priced."""
    K = len(sol.configs)
    counts = np.zeros(K, dtype=np.int64)
    left = np.asarray(demand, dtype=np.int64).copy()
    master = _Master(left)
    for k in range(K):
        master.add(float(price[sol.owner[k]]), sol.configs[k], int(sol.owner[k]))
    rows = np.arange(len(left), dtype=np.int32)
    x = sol.x if len(sol.x) == K else None
    for _ in range(max_rounds):
        if not left.any():
            break
        if x is None:
            master.h.changeRowsBounds(len(rows), rows, left.astype(float), np.full(len(rows), highspy.kHighsInf))
            master.solve()
            x = master.value()[1]
        take = np.floor(x + 1e-9).astype(np.int64)
        if not take.any():
            take[int(np.argmax(x))] = 1
        counts += take
        nz = np.nonzero(take)[0]
        left = np.maximum(left - take[nz] @ sol.configs[nz], 0)
        x = None
    for i in np.nonzero(left)[0]:  # out of rounds: the rest alone, each on its own configuration
        alone = np.nonzero(sol.configs[:, i] > 0)[0]
        k = int(alone[np.argmax(sol.configs[alone, i])])
        counts[k] += -(-int(left[i]) // int(sol.configs[k, i]))
    return [(int(sol.owner[k]), sol.configs[k]) for k in np.nonzero(counts)[0] for _ in range(int(counts[k]))]
