"""Pricing for the configuration LP: one node type's most valuable configuration at given
worths per pod size, and upper bounds on it.

Sizes alike in requests and hostname-spread set are merged first (their worths differ only by
which row of the LP counts them: zone rows, pinned copies), the best worth standing for all and
the copies handed back best first, so the search sees the distinct sizes only. The search is a
depth-first branch and bound compiled with numba, started from a greedy configuration. It is
exact on node types that hold a few pods; on big ones it runs out of steps and the LP
relaxation (HiGHS), rounded down and topped up, gives both the configuration and the bound.
A bound must stay valid: the merged problem is a relaxation, the LP's value and the MIP's dual
bound are upper bounds, and so is the cheap per-dimension bound used to skip node types.
"""

from __future__ import annotations

import highspy
import numba
import numpy as np

from provisioner.scheduling.highs import silent_highs

EPS = 1e-9
DUAL_CANDIDATES = 24  # items tried as tight in _dual_prices (the rest only scale the result)
MIP_SECONDS = 0.05  # per node type, when a bound needs HiGHS's MIP


class TypePricer:
    """Pricing for one node type over one problem's sizes: those that fit it, alike ones
    (requests and hostname-spread set) merged. The LP relaxation's HiGHS model is kept between
    calls: only the worths change, and a warm re-solve costs a fraction of a new one."""

    def __init__(self, req, cap, demand, fits, group, group_cap) -> None:
        idx = np.nonzero(fits)[0]
        key = np.column_stack([req[idx], group[idx]])
        uniq, inv = np.unique(key, axis=0, return_inverse=True)
        inv = inv.ravel()
        order = np.argsort(inv, kind="stable")
        self.members = idx[order]
        self.starts = np.searchsorted(inv[order], np.arange(len(uniq) + 1))
        self.req = np.ascontiguousarray(uniq[:, :-1], dtype=np.int64)
        self.group = np.ascontiguousarray(uniq[:, -1], dtype=np.int64)
        self._idx, self._inv = idx, inv
        self.count = np.bincount(inv, weights=demand[idx], minlength=len(uniq)).astype(np.int64)
        self.demand = demand
        self.cap = np.asarray(cap, dtype=np.int64)
        self.gcap = np.asarray(group_cap, dtype=np.int64)
        self._lp = None
        self.runner_up: np.ndarray | None = None  # the second configuration of the last price()

    def limit(self, demand) -> None:
        """At most this many pods of each size from now on."""
        self.demand = demand
        self.count = np.bincount(self._inv, weights=demand[self._idx], minlength=len(self.count)).astype(np.int64)
        if self._lp is not None:
            n = len(self.count)
            self._lp.changeColsBounds(n, np.arange(n, dtype=np.int32), np.zeros(n), self.count.astype(float))

    def worths(self, val) -> np.ndarray:
        """Each merged size's worth: the best of its members'."""
        if not len(self.members):
            return np.zeros(0)
        return np.maximum.reduceat(val[self.members], self.starts[:-1])

    def spread(self, take, val) -> np.ndarray:
        """Copies of merged sizes handed back to their members, best worth first."""
        a = np.zeros(len(val), dtype=np.int64)
        for u in np.nonzero(take)[0]:
            k = int(take[u])
            m = self.members[self.starts[u]:self.starts[u + 1]]
            for i in m[np.argsort(-val[m], kind="stable")]:
                got = min(k, int(self.demand[i]))
                a[i] = got
                k -= got
                if not k:
                    break
        return a

    def price(self, val, steps) -> tuple[float, np.ndarray, float]:
        """The best configuration found at these worths, its worth, and an upper bound on the
        best worth (the search's own when it was exhaustive, else the LP relaxation's)."""
        v_all = self.worths(val)
        live = np.nonzero(v_all > EPS)[0]
        if not len(live):
            return 0.0, np.zeros(len(val), dtype=np.int64), 0.0
        v, r = v_all[live], self.req[live]
        share = (r / np.maximum(self.cap, 1)).max(axis=1)
        order = np.argsort(-(v / np.maximum(share, 1e-12)))
        with np.errstate(divide="ignore"):
            dens = np.where(r[order] > 0, v[order, None] / np.maximum(r[order], 1), np.inf)
        suffix = np.maximum.accumulate(dens[::-1], axis=0)[::-1]
        suffix = np.vstack([suffix, np.zeros((1, r.shape[1]))])
        worth, take, exact = _knapsack(np.ascontiguousarray(v[order]), np.ascontiguousarray(r[order]), self.cap,
                                       self.count[live][order], self.group[live][order], self.gcap,
                                       np.ascontiguousarray(suffix), steps)
        merged = np.zeros(len(v_all), dtype=np.int64)
        merged[live[order]] = take
        upper = float(worth)
        self.runner_up = None
        if not exact:  # a big node type: the LP relaxation, rounded down and topped up, is close
            upper, lp_take = self._lp_round(v_all)
            if float(v_all @ lp_take) > worth:
                merged, lp_take = lp_take, merged
            if lp_take.any() and not np.array_equal(lp_take, merged):
                self.runner_up = self.spread(lp_take, val)  # the other one: a column too, if it prices out
        a = self.spread(merged, val)
        got = float(a @ val)
        return got, a, max(upper, got)

    def mip_upper(self, val, seconds: float = MIP_SECONDS) -> float:
        """HiGHS's MIP on the merged knapsack: its dual bound, valid even when cut short. For
        node types the search could not finish whose LP relaxation is loose."""
        v = self.worths(val)
        if not (v > EPS).any():
            return 0.0
        h = _knapsack_model(np.maximum(v, 0.0), self.req, self.cap, self.count, self.group, self.gcap)
        n = len(v)
        h.changeColsIntegrality(n, np.arange(n, dtype=np.int32), np.full(n, highspy.HighsVarType.kInteger))
        h.setOptionValue("time_limit", seconds)
        h.setOptionValue("mip_rel_gap", 1e-6)
        h.run()
        bound = -float(h.getInfo().mip_dual_bound)
        return bound * (1 + 1e-7) + 1e-12 if np.isfinite(bound) else np.inf

    def _lp_round(self, v) -> tuple[float, np.ndarray]:
        """The LP relaxation's value (an upper bound on any configuration's worth), and its
        solution rounded down then topped up by worth per unit of the LP's resource prices."""
        n = len(v)
        if self._lp is None:
            self._lp = _knapsack_model(v, self.req, self.cap, self.count, self.group, self.gcap)
        else:
            self._lp.changeColsCost(n, np.arange(n, dtype=np.int32), -v)
        h = self._lp
        h.run()
        sol = h.getSolution()
        upper = -float(h.getInfo().objective_function_value) * (1 + 1e-9) + 1e-12
        take = np.minimum(np.floor(np.array(sol.col_value) + 1e-9).astype(np.int64), self.count)
        mu = np.maximum(-np.array(sol.row_dual[:self.req.shape[1]]), 0.0)
        _top_up(v, self.req, self.cap, self.count, self.group, self.gcap, mu, take)
        return upper, take


def upper_bounds(val, req, alloc, fits) -> np.ndarray:
    """Per node type, a cheap upper bound on its best configuration's worth: the least of, per
    dimension, room times the best worth per unit, and CPU and memory priced (mu) so that no
    size is worth more than its resources, times the type's room."""
    with np.errstate(divide="ignore", invalid="ignore"):
        inv_req = np.where(req > 0, 1.0 / np.maximum(req, 1), np.inf)
        # best worth per unit over the sizes that fit some node type (cheaper than per type)
        some = fits.any(axis=0) & (val > EPS)
        dens = (val[some, None] * inv_req[some]).max(axis=0) if some.any() else np.zeros(req.shape[1])
        upper = np.nan_to_num(alloc * dens[None, :], nan=np.inf, posinf=np.inf).min(axis=1)
    live = val > EPS
    if live.any():
        mu = _dual_prices(val[live], req[live], alloc.max(axis=0))
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


def _knapsack_model(v, r, cap, cnt, g, gcap) -> highspy.Highs:
    """max v.a subject to r.a <= cap, at most gcap[k] of set k, 0 <= a <= cnt (as a minimum)."""
    h = silent_highs()
    n, dims = r.shape
    h.addVars(n, np.zeros(n), cnt.astype(float))
    h.changeColsCost(n, np.arange(n, dtype=np.int32), -v)
    for d in range(dims):
        nz = np.nonzero(r[:, d])[0].astype(np.int32)
        h.addRow(-highspy.kHighsInf, float(cap[d]), len(nz), nz, r[nz, d].astype(float))
    for k in range(len(gcap)):
        nz = np.nonzero(g == k)[0].astype(np.int32)
        if len(nz):
            h.addRow(-highspy.kHighsInf, float(gcap[k]), len(nz), nz, np.ones(len(nz)))
    return h


@numba.njit(cache=True)
def _knapsack(val, req, cap, maxcnt, group, gcap, suffix, steps):  # pragma: no cover - compiled
    """Most valuable multiset of items (in the given order, each at most maxcnt times, at most
    gcap[g] from set g) within cap, by depth-first branch and bound. suffix[k, d]: the best
    worth per unit of dimension d among items k.. (bound: room x that, least over d)."""
    n, dims = req.shape
    mu = _dual_prices(val, req, cap)
    best_take = np.zeros(n, dtype=np.int64)
    _top_up(val, req, cap, maxcnt, group, gcap, mu, best_take)
    best = 0.0
    for j in range(n):
        best += val[j] * best_take[j]
    free = cap.copy()
    gfree = gcap.copy()
    cur = np.zeros(n, dtype=np.int64)
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
def _top_up(val, req, cap, maxcnt, group, gcap, mu, take):  # pragma: no cover - compiled
    """Add to `take` (in place) items by worth per unit of resources priced at mu (per
    dimension, the first len(mu)), as many of each as still fit; items worth more than their
    resources first (the LP relaxation takes all of those). From nothing on a node type
    holding hundreds of pods, it is within a pod or two of the best, where the search alone
    ends its steps far from it."""
    n, dims = req.shape
    free = cap.copy()
    gfree = gcap.copy()
    for j in range(n):
        for d in range(dims):
            free[d] -= take[j] * req[j, d]
        if group[j] >= 0:
            gfree[group[j]] -= take[j]
    score = np.empty(n)
    for j in range(n):
        w = 0.0
        for d in range(len(mu)):
            w += mu[d] * req[j, d]
        score[j] = -val[j] / w if w > 0 and np.isfinite(w) else -np.inf
        if val[j] - w > 1e-9 * val[j]:
            score[j] -= 1e12
    for j in np.argsort(score):
        if val[j] <= 0:
            continue
        k = maxcnt[j] - take[j]
        for d in range(dims):
            if req[j, d] > 0:
                k = min(k, free[d] // req[j, d])
        if group[j] >= 0:
            k = min(k, gfree[group[j]])
        if k <= 0:
            continue
        take[j] += k
        for d in range(dims):
            free[d] -= k * req[j, d]
        if group[j] >= 0:
            gfree[group[j]] -= k


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
