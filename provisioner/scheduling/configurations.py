"""The configuration LP (Gilmore-Gomory): which node types, holding which pods, at least cost.

A configuration is one node type and how many pods of each size it holds. The LP covers every
size's demand with fractional configurations at the lowest price. Count rows add zones: a row
asks for at least so many pods of some sizes on nodes of one domain (a zonal topology spread
puts at least its share in every zone). Column generation: the master LP (HiGHS, warm-started
as columns arrive) gives each size and count row a dual price; the pricing problem, per node
type, is the most valuable configuration at those prices (knapsack.py). A node type whose
configuration is worth more than its price enters the master.

Farley's bound: with dual prices y and lambda the largest ratio of a configuration's worth to
its node's price (never below 1), y / lambda is dual feasible, so (demand, count minima) . y /
lambda is a lower bound on the LP, hence on any plan of these pods and node types, at every
iteration. Node types not priced exactly enter lambda through upper bounds, so a run cut short
by its time budget stays valid; `certify` prices every node type that might still matter at
the end (HiGHS's MIP where the search and the LP relaxation fall short).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import highspy
import numpy as np

from provisioner.scheduling import knapsack
from provisioner.scheduling.slack import into_slack
from provisioner.scheduling.highs import silent_highs

EPS = knapsack.EPS
TAIL, TAIL_GAIN = 10, 2e-4  # stop when 10 rounds gained less than 0.02%
MIP_PODS = 500  # up to this many pods, pack() also tries the LP's columns as a MIP
DIVE_ITERATIONS = 2  # column generation rounds between two dives (the first: FIRST_SHARE of the time)
PACK_TYPES_PER_ROUND = 16  # columns a round of pack()'s column generation waits for
MAIN_SHARE, FIRST_SHARE = 0.45, 0.1  # of pack()'s time: the LP, the first dive
DIVE_PRICED = 64  # node types a round of a dive prices at most (the rest keep their upper bounds)
ROUND_UP = 0.8  # a dive also fixes one more node of a configuration with x this far past its floor
FIX_SHARE = 0.05  # a dive where no x reaches ROUND_UP fixes one node of this share of the columns in use


@dataclass
class Problem:
    req: np.ndarray  # (I, D) int64 requests per size
    demand: np.ndarray  # (I,) int64 pods per size
    alloc: np.ndarray  # (T, D) int64 allocatable per node type
    price: np.ndarray  # (T,) price per node type
    compat: np.ndarray  # (T, I) bool: size i may run on node type t (labels, taints, pins)
    group: np.ndarray | None = None  # (I,) hostname-spread set of each size, -1 for none
    group_cap: np.ndarray | None = None  # (G,) at most this many pods of the set per node
    domain: np.ndarray | None = None  # (T,) the domain (zone) of each node type
    count_rows: np.ndarray | None = None  # (R, I) bool: the sizes each count row counts
    count_domain: np.ndarray | None = None  # (R,) the domain whose nodes a row counts
    count_min: np.ndarray | None = None  # (R,) at least this many of those pods there
    exact: np.ndarray | None = None  # (I,) bool: sizes covered exactly (those count rows count)

    def rows(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(domain per type, count rows, their domains, their minima), empty when unused."""
        n_types, n_items = len(self.price), len(self.demand)
        if self.count_rows is None or not len(self.count_rows):
            dom = np.zeros(n_types, dtype=np.int64) if self.domain is None else np.asarray(self.domain, dtype=np.int64)
            return dom, np.zeros((0, n_items), dtype=bool), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        return (np.asarray(self.domain, dtype=np.int64), np.asarray(self.count_rows, dtype=bool),
                np.asarray(self.count_domain, dtype=np.int64), np.asarray(self.count_min, dtype=np.int64))

    def counted(self, t: int, a: np.ndarray) -> np.ndarray:
        """What a configuration on node type t adds to each count row."""
        dom, rows, rdom, _ = self.rows()
        return np.where(rdom == dom[t], rows @ a, 0).astype(np.int64)


@dataclass
class Solution:
    bound: float  # valid lower bound on any packing of the demand on these node types
    value: float  # the master LP's value (>= the LP optimum until converged)
    configs: np.ndarray  # (K, I) int64
    owner: np.ndarray  # (K,) node type of each configuration
    x: np.ndarray  # (K,) LP solution
    converged: bool
    iterations: int
    # dual prices (sizes, then count rows) feasible for the LP's dual: what `bound` is made of
    prices: np.ndarray | None = None


def solve(p: Problem, seeds: list[tuple[int, np.ndarray]] = (), seconds: float = 1.0,
          max_iterations: int = 500, types_per_round: int = 8, steps: int = 3000,
          certify: bool = False) -> Solution:
    """Column generation until no node type prices out, `seconds` run out or `max_iterations`.
    Each round prices node types, most promising first, until `types_per_round` columns came
    in (or none can), each search limited to `steps` branch-and-bound steps (the columns stay
    feasible; the bound stays valid). With `certify`, a run that stops short ends with
    Farley's bound at its last prices, every node type that might price out priced."""
    return ColumnGeneration(p, seeds).run(seconds, max_iterations, types_per_round, steps, certify)


class ColumnGeneration:
    """The master LP, its columns and the node types' pricers, kept between runs: `cover`
    lowers what is left to cover (a dive fixed some nodes) and the next `run` goes on warm."""

    def __init__(self, p: Problem, seeds: list[tuple[int, np.ndarray]] = (), primal: bool = False) -> None:
        self.p = p
        self.req = np.ascontiguousarray(p.req, dtype=np.int64)
        self.demand = np.asarray(p.demand, dtype=np.int64)
        self.alloc = np.ascontiguousarray(p.alloc, dtype=np.int64)
        self.price = np.asarray(p.price, dtype=float)
        n_items = len(self.demand)
        self.group = np.full(n_items, -1, dtype=np.int64) if p.group is None else np.asarray(p.group, dtype=np.int64)
        self.group_cap = np.zeros(0, dtype=np.int64) if p.group_cap is None else np.asarray(p.group_cap, dtype=np.int64)
        self.dom, self.rows, self.rdom, self.rmin = p.rows()
        self.fits = p.compat & np.all(self.alloc[:, None, :] >= self.req[None, :, :], axis=2)
        if not self.fits.any(axis=0).all():
            raise ValueError("a pod size fits no node type")
        self.master = _Master(self.demand, self.rmin, p.exact, primal)
        self.seen: set[tuple[int, bytes]] = set()
        self.pricers: dict[int, knapsack.TypePricer] = {}
        self.domains = [(d, np.nonzero(self.dom == d)[0]) for d in np.unique(self.dom)]
        self._add_alone()
        for t, a in seeds:
            self.add(int(t), np.asarray(a, dtype=np.int64))

    def _add_alone(self) -> None:
        """Every size left alone, as many as fit (and are left), on its cheapest node type per
        pod, and so in every domain a count row still needs."""
        def alone(i, ok):
            return _alone(i, ok, self.req, self.alloc, self.price, self.demand, self.group, self.group_cap)
        for i in np.nonzero(self.demand)[0]:
            self.add(*alone(i, self.fits[:, i]))
        for r in np.nonzero(self.rmin > 0)[0]:
            in_domain = self.dom == self.rdom[r]
            for i in np.nonzero(self.rows[r] & (self.demand > 0))[0]:
                if (self.fits[:, i] & in_domain).any():
                    self.add(*alone(i, self.fits[:, i] & in_domain))

    def add(self, t: int, a: np.ndarray) -> bool:
        key = (int(t), a.tobytes())
        if key in self.seen:
            return False
        self.seen.add(key)
        self.master.add(float(self.price[t]), a, int(t), self.p.counted(t, a))
        return True

    def pricer(self, t: int) -> knapsack.TypePricer:
        hit = self.pricers.get(t)
        if hit is None:
            hit = self.pricers[t] = knapsack.TypePricer(self.req, self.alloc[t], self.demand, self.fits[t],
                                                        self.group, self.group_cap)
        return hit

    def cover(self, left: np.ndarray, rows_left: np.ndarray, x: np.ndarray) -> None:
        """Cover only this much from now on: new configurations hold no more than is left,
        and the ones in use (x > 0) come again cut down to it, as does every size alone."""
        self.demand = np.asarray(left, dtype=np.int64)
        self.rmin = np.asarray(rows_left, dtype=np.int64)
        self.master.cover(np.concatenate([self.demand, self.rmin]))
        for pricer in self.pricers.values():
            pricer.limit(self.demand)
        columns, owner = self.master.matrix()
        for k in np.nonzero(x > 1e-9)[0]:
            a = np.minimum(columns[k], self.demand)
            if a.any():
                self.add(owner[k], a)
        self.master.retire(np.nonzero((columns > self.demand).any(axis=1))[0])
        self._add_alone()

    def run(self, seconds: float = 1.0, max_iterations: int = 500, types_per_round: int = 8,
            steps: int = 3000, certify: bool = False, max_priced: int | None = None) -> Solution:
        start = time.perf_counter()
        req, alloc, price, fits, demand, rmin = self.req, self.alloc, self.price, self.fits, self.demand, self.rmin
        n_items, master = len(demand), self.master
        dom, rows, rdom = self.dom, self.rows, self.rdom
        best_bound, it, converged = 0.0, 0, False
        history: list[float] = []
        prices = None  # the duals with the best bound so far, made feasible
        max_priced = len(price) if max_priced is None else max_priced
        while it < max_iterations:
            it += 1
            y = master.solve()
            worth = _worths(y, n_items, dom, rows, rdom)
            ratio_of = np.zeros(len(price))
            for d, ts in self.domains:
                ratio_of[ts] = knapsack.upper_bounds(worth(d), req, alloc[ts], fits[ts]) / price[ts]
            added, inexact = 0, False
            # most promising first, until enough columns came in or `max_priced` types were
            # priced (the rest keep their upper bounds)
            for n, t in enumerate(np.argsort(-ratio_of)):
                if ratio_of[t] <= 1 + EPS or added >= types_per_round or n >= max_priced:
                    inexact = inexact or ratio_of[t] > 1 + EPS
                    break
                got, a, upper = self.pricer(int(t)).price(worth(dom[t]), steps)
                ratio_of[t] = min(ratio_of[t], upper / price[t])
                inexact |= upper > got * (1 + 1e-6)
                for col in (a, self.pricer(int(t)).runner_up):
                    if col is not None and float(worth(dom[t]) @ col) > price[t] * (1 + EPS) and self.add(int(t), col):
                        added += 1
            ratio = float(ratio_of.max()) if len(ratio_of) else 1.0
            here = _covered(y, demand, rmin) / max(ratio, 1.0)
            if here > best_bound:
                best_bound, prices = here, y / max(ratio, 1.0)
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
        y = master.solve()  # columns added in the last round: the solution covers them
        value, x = master.value()
        if not converged and certify:
            worth = _worths(y, n_items, dom, rows, rdom)
            ratio = 1.0
            for d, ts in self.domains:
                ratio = max(ratio, _max_ratio(worth(d), req, alloc, price, fits, ts, self.pricer, steps))
            if _covered(y, demand, rmin) / ratio > best_bound:
                best_bound, prices = _covered(y, demand, rmin) / ratio, y / ratio
        bound = max(best_bound * (1 - 1e-9) - 1e-9, 0.0)
        configs, owner = master.matrix()
        return Solution(bound, value, configs, owner, x, converged, it,
                        None if prices is None else prices * (1 - 1e-9))


def node_types(alloc, price, compat, domain) -> np.ndarray:
    """Columns (offerings) as node types: those alike in allocatable, domain and the sizes they
    admit merged into the cheapest, then those another of the same domain and sizes beats
    (no dearer, at least as big everywhere) dropped. Indices into the columns, cheapest first."""
    from provisioner.scheduling.bound import _undominated

    usable = np.nonzero(compat.any(axis=1))[0]
    sig = np.concatenate([domain[usable, None], np.packbits(compat[usable], axis=1).astype(np.int64)], axis=1)
    key = np.concatenate([alloc[usable], sig], axis=1)
    order = np.argsort(price[usable], kind="stable")
    _, first = np.unique(key[order], axis=0, return_index=True)
    pick = order[first]
    keep = _undominated(sig[pick], alloc[usable[pick]], price[usable[pick]], np.zeros(len(pick), dtype=np.int64))
    types = usable[pick[keep]]
    return types[np.argsort(price[types], kind="stable")]


def _alone(i, ok, req, alloc, price, demand, group, group_cap) -> tuple[int, np.ndarray]:
    """Size i alone, as many as fit, on the node type (among `ok`) cheapest per pod."""
    per = np.where(req[i] > 0, alloc // np.maximum(req[i], 1), 1 << 40).min(axis=1)
    if group[i] >= 0:
        per = np.minimum(per, group_cap[group[i]])
    per = np.where(ok, np.minimum(per, demand[i]), 0)
    t = int(np.argmin(np.where(per > 0, price / np.maximum(per, 1), np.inf)))
    a = np.zeros(len(demand), dtype=np.int64)
    a[i] = per[t]
    return t, a


def _worths(y, n_items, dom, rows, rdom):
    """Each size's worth on a node of domain d: its own dual plus those of the rows counting it there."""
    pi, sigma = y[:n_items], y[n_items:]

    def worth(d) -> np.ndarray:
        here = rdom == d
        return pi + sigma[here] @ rows[here] if here.any() else pi
    return worth


def _covered(y, demand, rmin) -> float:
    return float(y[:len(demand)] @ demand + y[len(demand):] @ rmin)


def _max_ratio(val, req, alloc, price, fits, ts, pricer, steps) -> float:
    """The largest worth / price over node types ts (at least 1), each that might exceed the
    largest so far priced: search, LP relaxation, then HiGHS's MIP bound."""
    ratio_of = knapsack.upper_bounds(val, req, alloc[ts], fits[ts]) / price[ts]
    best = 1.0
    for k in np.argsort(-ratio_of):
        if ratio_of[k] <= best + EPS:
            break
        t = int(ts[k])
        got, _, upper = pricer(t).price(val, steps)
        if upper > got * (1 + 1e-6) and upper > price[t] * best:
            upper = min(upper, pricer(t).mip_upper(val))
        best = max(best, upper / price[t])
    return best


class _Master:
    """min price.x subject to configs.x >= demand, count rows >= their minima, x >= 0; HiGHS
    keeps its basis between solves."""

    def __init__(self, demand: np.ndarray, count_min: np.ndarray = np.zeros(0), exact=None,
                 primal: bool = False) -> None:
        self.h = silent_highs()
        self.primal = primal
        self.n = len(demand)
        # exact sizes: covered exactly (a count row may not count pods that are not there)
        self.exact = np.zeros(len(demand) + len(count_min), dtype=bool)
        if exact is not None:
            self.exact[:len(demand)] = exact
        for r, v in enumerate(list(demand) + list(count_min)):
            self.h.addRow(float(v), float(v) if self.exact[r] else highspy.kHighsInf, 0,
                          np.zeros(0, dtype=np.int32), np.zeros(0))
        self._rows_moved = False  # since the last solve: the basis may be primal infeasible
        self.columns: list[np.ndarray] = []
        self.owner: list[int] = []
        self._matrix = np.zeros((0, len(demand)), dtype=np.int64)

    def add(self, price: float, a: np.ndarray, t: int, counted: np.ndarray = np.zeros(0)) -> None:
        coef = np.concatenate([a, counted]) if len(counted) else a
        idx = np.nonzero(coef)[0].astype(np.int32)
        self.h.addCol(price, 0.0, highspy.kHighsInf, len(idx), idx, coef[idx].astype(float))
        self.columns.append(a)
        self.owner.append(t)

    def matrix(self) -> tuple[np.ndarray, np.ndarray]:
        """(columns as a (K, I) array, node type of each): only the new ones are stacked."""
        if len(self._matrix) < len(self.columns):
            new = np.array(self.columns[len(self._matrix):], dtype=np.int64).reshape(-1, self._matrix.shape[1])
            self._matrix = np.vstack([self._matrix, new])
        return self._matrix, np.array(self.owner, dtype=np.int64)

    def retire(self, ks: np.ndarray) -> None:
        """These columns may no longer be used."""
        if len(ks):
            self.h.changeColsBounds(len(ks), ks.astype(np.int32), np.zeros(len(ks)), np.zeros(len(ks)))

    def cover(self, left: np.ndarray) -> None:
        rows = np.arange(len(left), dtype=np.int32)
        self.h.changeRowsBounds(len(rows), rows, left.astype(float),
                                np.where(self.exact, left.astype(float), highspy.kHighsInf))
        self._rows_moved = True

    def solve(self) -> np.ndarray:
        """Dual prices: >= 0 on covering rows, of either sign on exact ones."""
        # new columns leave the basis primal feasible: the primal simplex goes on from it (in
        # ~60% of the dual simplex's time on the bench's masters); moved rows leave it dual
        # feasible instead. The bound's LP keeps the dual simplex: the duals it ends at price
        # the zones higher (bench, 100 and 1,000 pods: +0.5%, 5,000: -0.01%).
        self.h.setOptionValue("simplex_strategy", 1 if self._rows_moved or not self.primal else 4)
        self._rows_moved = False
        self.h.run()
        y = np.array(self.h.getSolution().row_dual)
        return np.where(self.exact, y, np.maximum(y, 0.0))

    def value(self) -> tuple[float, np.ndarray]:
        return float(self.h.getInfo().objective_function_value), np.array(self.h.getSolution().col_value)


def pack(p: Problem, seeds: list[tuple[int, np.ndarray]], seconds: float) -> list[tuple[int, np.ndarray]]:
    """Whole nodes (node type, configuration) covering the demand and the count rows, by diving:
    solve the LP (MAIN_SHARE of the time), fix floor(x) nodes of every configuration, one more
    where x is ROUND_UP past its floor (or, when none is, one node of the largest FIX_SHARE),
    then go on generating columns for what is left, warm, and fix again: the first time with
    FIRST_SHARE of the time, then DIVE_ITERATIONS rounds at most, and past the time one round
    pricing a few node types. Rounding once and for all leaves a third of the LP fractional.
    Up to MIP_PODS pods, a MIP over the columns (_mip) gets the last 15% of the time and is
    kept when cheaper. Last, nodes whose pods fit the others' room are emptied into it
    (slack.py). Raises ValueError when a size fits no node type."""
    start = time.perf_counter()
    small = int(np.sum(p.demand)) <= MIP_PODS
    until = start + seconds * (0.85 if small else 1.0)
    cg = ColumnGeneration(p, seeds, primal=True)
    first = sol = cg.run(seconds * MAIN_SHARE, types_per_round=PACK_TYPES_PER_ROUND)
    exact = np.zeros(len(p.demand), dtype=bool) if p.exact is None else np.asarray(p.exact, dtype=bool)
    packed: list[tuple[int, np.ndarray]] = []
    left, rows_left = _left(p, p.demand, p.rows()[3], [])
    while True:
        fixed = _fixed(p, sol, exact, left, rows_left)
        packed += fixed
        left, rows_left = _left(p, left, rows_left, fixed)
        if not left.any() and not rows_left.any():
            break
        if not fixed:  # (no column holds anything left) rounded on the columns there are
            rest = replace(p, demand=left, count_min=rows_left if p.count_rows is not None else None)
            packed += round_solution(sol, rest)
            break
        cg.cover(left, rows_left, sol.x)
        time_left = until - time.perf_counter()
        if sol is first:  # the first dive leaves the most to re-optimise
            sol = cg.run(seconds * FIRST_SHARE, types_per_round=PACK_TYPES_PER_ROUND)
        elif time_left > 0:
            sol = cg.run(min(time_left / 4, 0.5), max_iterations=DIVE_ITERATIONS,
                         types_per_round=PACK_TYPES_PER_ROUND, max_priced=DIVE_PRICED)
        else:  # out of time: a round each, few node types priced (FIX_SHARE bounds the dives)
            sol = cg.run(0.0, max_iterations=1, types_per_round=PACK_TYPES_PER_ROUND,
                         max_priced=PACK_TYPES_PER_ROUND)
    if not small:
        return into_slack(p, packed)
    configs, owner = cg.master.matrix()
    whole = _mip(p, owner, configs, max(seconds - (time.perf_counter() - start), 0.0))
    if whole is not None and sum(p.price[t] for t, _ in whole) < sum(p.price[t] for t, _ in packed) - 1e-9:
        packed = whole
    return into_slack(p, packed)


def _fixed(p: Problem, sol: Solution, exact, left, rows_left) -> list[tuple[int, np.ndarray]]:
    """The nodes a dive fixes: floor(x) of every configuration, one more of those whose
    fractional part is at least ROUND_UP, or else one node each of the largest FIX_SHARE; each
    trimmed to what is left as the nodes before it were taken."""
    n = np.floor(sol.x + 1e-9).astype(np.int64)
    n += (sol.x - n >= ROUND_UP)
    if not n.any() and len(sol.x):  # one node each of the largest few
        n[np.argsort(-sol.x)[:max(1, int(FIX_SHARE * np.count_nonzero(sol.x > 1e-9)))]] = 1
    out = []
    for k in np.argsort(-sol.x):
        for _ in range(int(n[k])):
            t = int(sol.owner[k])
            a = _trimmed(p, t, np.minimum(sol.configs[k], left), exact, left, rows_left)
            if not a.any():
                break
            out.append((t, a))
            left, rows_left = _left(p, left, rows_left, [(t, a)])
        if not n[k]:
            break
    return out


def _mip(p: Problem, owner: np.ndarray, configs: np.ndarray, seconds: float) -> list[tuple[int, np.ndarray]] | None:
    """Columns (the LP's and the dives') as a MIP (HiGHS, within `seconds`): whole nodes
    covering every row. A node may leave slots of an exact size empty (u[i, d]: empty slots of
    size i on nodes of domain d), which its domain's count rows then do not count: exact sizes
    are covered exactly by pods, so a count row is met by pods, not by slots. On small
    problems it beats diving; None when it found nothing in time."""
    if seconds < 0.05 or not len(owner):
        return None
    h = silent_highs()
    dom, rows, rdom, rmin = p.rows()
    exact = np.zeros(len(p.demand), dtype=bool) if p.exact is None else np.asarray(p.exact, dtype=bool)
    n_items, n_rows = len(p.demand), len(rmin)
    for i, v in enumerate(p.demand):
        h.addRow(float(v), float(v) if exact[i] else highspy.kHighsInf, 0, np.zeros(0, dtype=np.int32), np.zeros(0))
    for v in rmin:
        h.addRow(float(v), highspy.kHighsInf, 0, np.zeros(0, dtype=np.int32), np.zeros(0))
    # empty slots: of exact sizes, per domain, at most the slots there are (slots - u >= 0)
    empty = [(int(i), int(d)) for i in np.nonzero(exact)[0] for d in np.unique(dom)]
    slot_row = {key: n_items + n_rows + j for j, key in enumerate(empty)}
    for _ in empty:
        h.addRow(0.0, highspy.kHighsInf, 0, np.zeros(0, dtype=np.int32), np.zeros(0))
    K = len(owner)
    for k in range(K):
        t = int(owner[k])
        a = configs[k]
        coef = dict(enumerate(a.astype(float)))
        coef.update({n_items + r: float(c) for r, c in enumerate(p.counted(t, a))})
        coef.update({slot_row[(int(i), int(dom[t]))]: float(a[i]) for i in np.nonzero(exact & (a > 0))[0]})
        idx = np.array([r for r, c in coef.items() if c], dtype=np.int32)
        h.addCol(float(p.price[t]), 0.0, highspy.kHighsInf, len(idx), idx, np.array([coef[r] for r in idx]))
    for (i, d), row in slot_row.items():
        idx = [i, row] + [n_items + r for r in np.nonzero((rdom == d) & rows[:, i])[0]]
        h.addCol(0.0, 0.0, highspy.kHighsInf, len(idx), np.array(idx, dtype=np.int32), -np.ones(len(idx)))
    n = K + len(empty)
    h.changeColsIntegrality(n, np.arange(n, dtype=np.int32), np.full(n, highspy.HighsVarType.kInteger))
    h.setOptionValue("time_limit", seconds)
    h.setOptionValue("mip_rel_gap", 1e-3)
    h.run()
    x = np.array(h.getSolution().col_value)
    if len(x) != n or not np.isfinite(h.getInfo().objective_function_value):
        return None
    n = np.rint(x[:K]).astype(np.int64)
    out = [(int(owner[k]), configs[k]) for k in np.nonzero(n > 0)[0] for _ in range(int(n[k]))]
    covered = sum((a for _, a in out), np.zeros(len(p.demand), dtype=np.int64))
    return out if np.all(covered >= p.demand) else None


def _left(p: Problem, demand, count_min, nodes) -> tuple[np.ndarray, np.ndarray]:
    """What these nodes leave uncovered of the demand and of the count rows."""
    left = np.asarray(demand, dtype=np.int64).copy()
    rows_left = np.asarray(count_min, dtype=np.int64).copy()
    for t, a in nodes:
        left -= a
        if len(rows_left):
            rows_left -= p.counted(t, a)
    return np.maximum(left, 0), np.maximum(rows_left, 0)


def cheapest_type(p: Problem, counts: np.ndarray, domain: int | None = None) -> int | None:
    """The cheapest node type that holds these pods of each size and admits them all (in
    `domain` when given). Remembered per problem: many nodes hold the same pods."""
    memo = p.__dict__.setdefault("_cheapest", {})
    key = (counts.tobytes(), domain)
    if key in memo:
        return memo[key]
    ok = np.all(p.alloc >= counts @ p.req, axis=1) & np.all(p.compat[:, counts > 0], axis=1)
    if domain is not None:
        ok &= p.rows()[0] == domain
    fit = np.nonzero(ok)[0]
    memo[key] = int(fit[np.argmin(p.price[fit])]) if len(fit) else None
    return memo[key]


def round_solution(sol: Solution, p: Problem, max_rounds: int = 400) -> list[tuple[int, np.ndarray]]:
    """Whole nodes covering p's demand and count rows from the LP's configurations: take
    floor(x) of each, solve the LP again for what is left (HiGHS keeps its basis), and when
    every x is below one take one node of the largest. A node that ends with empty room is
    shrunk to the cheapest type holding its pods when the plan is priced."""
    K = len(sol.configs)
    price = np.asarray(p.price, dtype=float)
    exact = np.zeros(len(p.demand), dtype=bool) if p.exact is None else np.asarray(p.exact, dtype=bool)
    out: list[tuple[int, np.ndarray]] = []
    left, rows_left = _left(p, p.demand, p.rows()[3], [])
    master = _Master(left, rows_left, p.exact)
    for k in range(K):
        master.add(float(price[sol.owner[k]]), sol.configs[k], int(sol.owner[k]),
                   p.counted(int(sol.owner[k]), sol.configs[k]))
    x = sol.x if len(sol.x) == K else None
    for _ in range(max_rounds):
        if not left.any() and not rows_left.any():
            break
        if x is None:
            master.cover(np.concatenate([left, rows_left]))
            master.solve()
            x = master.value()[1]
        take = np.floor(x + 1e-9).astype(np.int64)
        if take.any():
            picked = [(k, int(take[k]), sol.configs[k]) for k in np.nonzero(take)[0]]
        else:  # every x below one: one node of the largest that still holds something
            picked = []
            for k in np.argsort(-x):
                a = _trimmed(p, int(sol.owner[k]), sol.configs[k], exact, left, rows_left)
                if a.any():
                    picked = [(int(k), 1, a)]
                    break
            if not picked:
                break
        for k, n, a in picked:
            t = int(sol.owner[k])
            out += [(t, a)] * n
            left = np.maximum(left - n * a, 0)
            if len(rows_left):
                rows_left = np.maximum(rows_left - n * p.counted(t, a), 0)
        x = None
    for i in np.nonzero(left)[0]:  # out of rounds: the rest alone, each on its own configuration
        alone = np.nonzero(sol.configs[:, i] > 0)[0]
        k = int(alone[np.argmax(sol.configs[alone, i])])
        a = np.zeros(len(left), dtype=np.int64)
        a[i] = sol.configs[k, i]
        out += [(int(sol.owner[k]), a)] * -(-int(left[i]) // int(a[i]))
    if rows_left.any():
        raise ValueError("rounding left a count row short")
    return out


def _trimmed(p: Problem, t: int, config: np.ndarray, exact: np.ndarray, left: np.ndarray,
             rows_left: np.ndarray) -> np.ndarray:
    """A configuration holding no more exact sizes than are left, and no more pods a count row
    counts than the row still needs (the rows' minima add up to those pods: more in one
    domain would leave another short)."""
    a = config.copy()
    a[exact] = np.minimum(a[exact], left[exact])
    if len(rows_left):
        dom, rows, rdom, _ = p.rows()
        for r in np.nonzero(rdom == dom[t])[0]:
            excess = int(rows[r] @ a) - int(rows_left[r])
            for i in np.nonzero(rows[r] & (a > 0))[0]:
                if excess <= 0:
                    break
                cut = min(excess, int(a[i]))
                a[i] -= cut
                excess -= cut
    return a
