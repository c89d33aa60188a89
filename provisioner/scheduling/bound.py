"""A lower bound on the hourly cost of any plan that places the same pods.

Linear relaxation: fractional nodes of every column (NodePool x type x zone x capacity type)
and of the existing nodes' free room (at no cost, at most one each); pods grouped by the set
of columns/nodes they may use; each resource dimension of a group's demand may be split
across its compatible nodes independently. Identical pods of a large class are kept whole (at most floor(allocatable / request) per
node of a type). It ignores topology except that a class with
required hostname anti-affinity to itself needs one node per pod (and a hostname spread with
maxSkew s, one node per s pods), with node-size rows for such sets (each pod on a node that
fits it, at most s of the set per node), and it keeps NodePool limits. Every feasible plan is a
solution of this LP, so its optimum (HiGHS) is <= the cost of any feasible plan.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linprog
from scipy.sparse import coo_matrix


@dataclass
class BoundGroup:
    columns: np.ndarray  # bool over columns
    existing: tuple[int, ...]  # indices into the existing-node list
    demand: np.ndarray  # per dimension
    min_nodes: int = 0  # at least this many nodes among those columns/existing nodes
    per_pod: np.ndarray | None = None  # set for one class of identical pods: kept whole
    count: int = 0
    # (a, b, lo, hi): on any node, this group's use of dimension a is between lo and hi times
    # its use of b, because every pod in the group has a/b in [lo, hi]
    ratios: tuple[tuple[int, int, float, float], ...] = ()
    # whole groups only: (key, s) for every set of classes of which a node holds at most s pods
    # (hostname anti-affinity: 1; hostname spread: maxSkew), shared by the groups with that key
    hosts: tuple[tuple[object, int], ...] = ()
    # False for a group that only counts nodes (its pods' resources are covered by another group)
    uses_capacity: bool = True
    # min_nodes groups only: count only the columns whose allocatable fits this request
    # (kept out of `columns` so that fit sets do not split the column collapse and pruning)
    min_fit: np.ndarray | None = None
    # pooled groups only: the distinct requests of the group's pods. A column is used by the
    # group only if one of them fits its allocatable, and the ratio rows on a column span only
    # the requests that fit it (a pod cannot sit on a node it does not fit).
    members: np.ndarray | None = None


def lower_bound(groups: list[BoundGroup], price: np.ndarray, alloc: np.ndarray, capacity: np.ndarray,
                pool_idx: np.ndarray, pool_limits: dict[int, tuple[dict[int, int], int | None]],
                existing_free: np.ndarray) -> float:
    """pool_limits: pool -> ({dim: remaining capacity}, remaining node count or None)."""
    groups = [g for g in groups if g.demand.any() or g.min_nodes or (g.per_pod is not None and g.count)]
    if not groups:
        return 0.0
    # Resource units differ by 10^8 (millicores vs bytes): rescale every dimension to about 1
    # so HiGHS works on a well-conditioned problem. Scaling a dimension keeps the LP equivalent.
    scale = np.maximum(np.abs(alloc).max(axis=0).astype(float), 1.0)
    alloc_s = alloc / scale
    existing_free = existing_free / scale if len(existing_free) else existing_free
    groups = [BoundGroup(g.columns, g.existing, g.demand / scale, g.min_nodes,
                         None if g.per_pod is None else g.per_pod / scale, g.count,
                         tuple((a, b, lo * scale[b] / scale[a], hi * scale[b] / scale[a]) for a, b, lo, hi in g.ratios),
                         g.hosts, g.uses_capacity, g.min_fit, g.members)
              for g in groups]
    limits_s = {p: ({d: v / scale[d] for d, v in lim.items()}, nodes) for p, (lim, nodes) in pool_limits.items()}
    capacity_s = capacity / scale
    n_cols, n_dims = alloc.shape
    limited = {p for p, (lim, nodes) in pool_limits.items() if lim or nodes is not None}
    # Collapse columns identical for the LP (same groups, same allocatable, same limited pool).
    use = np.zeros(n_cols, dtype=bool)
    for g in groups:
        use |= g.columns
    cols = np.nonzero(use)[0]
    if len(cols):
        # which groups admit each column, as bits (many groups: keep the key short)
        sig = np.packbits(np.stack([g.columns[cols] for g in groups], axis=1), axis=1).astype(np.int64)
        width = sig.shape[1]
        pool_key = np.where(np.isin(pool_idx[cols], list(limited)), pool_idx[cols], -1)[:, None]
        key = np.ascontiguousarray(np.concatenate([sig, alloc[cols], pool_key], axis=1))
        _, first_row, inverse = np.unique(key.view(np.dtype((np.void, key.dtype.itemsize * key.shape[1]))).ravel(),
                                          return_index=True, return_inverse=True)
        uniq = key[first_row]
        inverse = inverse.ravel()
        order = np.lexsort((price[cols], inverse))  # by collapsed column, cheapest first
        first = np.ones(len(order), dtype=bool)
        first[1:] = inverse[order][1:] != inverse[order][:-1]
        rep = cols[order[first]]  # the cheapest column of each collapsed column, in unique order
        best = price[rep]
        keep = _undominated(uniq[:, :width], alloc[rep], best, uniq[:, -1])
        rep, best = rep[keep], best[keep]
    else:
        rep, best = np.zeros(0, dtype=np.int64), np.zeros(0)
    J = len(rep)
    E = existing_free.shape[0]
    col_cap = np.vstack([alloc_s[rep], existing_free.astype(float)]) if E else alloc_s[rep]
    nx = J + E
    cost = np.concatenate([best, np.zeros(E)])
    compat = []
    for g in groups:
        cm = np.zeros(nx, dtype=bool)
        if J:
            cm[:J] = g.columns[rep]
            if g.min_fit is not None:
                cm[:J] &= np.all(alloc[rep] >= g.min_fit, axis=1)
            if g.members is not None and g.per_pod is None and not g.min_nodes:
                cm[:J] &= _fits(g.members, alloc[rep]).any(axis=1)
        for e in g.existing:
            cm[J + e] = True
        compat.append(np.nonzero(cm)[0])
    rows, cidx, vals, rhs = [], [], [], []
    r = 0
    nvar = nx
    usage: dict[tuple[int, int], list[tuple[int, float]]] = {}
    per_node: dict[tuple[object, int], list[int]] = {}  # (host key, column) -> pod variables
    host_limit: dict[object, int] = {}
    for gi, g in enumerate(groups):
        js = compat[gi]
        if g.per_pod is not None:
            if not len(js):
                return 0.0
            y = np.arange(nvar, nvar + len(js))
            nvar += len(js)
            rows += [r] * len(js); cidx += list(y); vals += [-1.0] * len(js); rhs.append(-float(g.count)); r += 1
            for j, yv in zip(js, y):
                fit = min((np.floor(col_cap[j, d] / g.per_pod[d] + 1e-9) for d in range(n_dims) if g.per_pod[d] > 0),
                          default=float(g.count))
                rows += [r, r]; cidx += [int(yv), int(j)]; vals += [1.0, -float(fit)]; rhs.append(0.0); r += 1
                if j < J:  # new nodes only (an existing node may already hold some)
                    for hk, lim in g.hosts:
                        host_limit[hk] = lim
                        per_node.setdefault((hk, int(j)), []).append(int(yv))
                for d in range(n_dims):
                    if g.per_pod[d] > 0 and g.uses_capacity:
                        usage.setdefault((int(j), d), []).append((int(yv), float(g.per_pod[d])))
            continue
        zvars: dict[int, np.ndarray] = {}
        for d in range(n_dims):
            if g.demand[d] <= 0 or g.min_nodes:
                continue
            if not len(js):
                return 0.0  # cannot happen for placed pods; zero is always valid
            z = np.arange(nvar, nvar + len(js))
            nvar += len(js)
            zvars[d] = z
            rows += [r] * len(js); cidx += list(z); vals += [-1.0] * len(js); rhs.append(-float(g.demand[d])); r += 1
            for j, zv in zip(js, z):
                usage.setdefault((int(j), d), []).append((int(zv), 1.0))
        fits_js = None
        if g.members is not None and g.ratios and len(js):
            fits_js = _fits(g.members, alloc[rep[js[js < J]]]) if (js < J).any() else None
        for a, b, lo, hi in g.ratios:
            if a not in zvars or b not in zvars:
                continue
            za, zb = zvars[a], zvars[b]
            n_j = len(za)
            if fits_js is not None and g.members[:, b].min() > 0:
                # per column: the range of a/b over the requests that fit it (existing nodes
                # keep the group's range), in scaled units
                rat = g.members[:, a] / g.members[:, b] * (scale[b] / scale[a])
                lo_j = np.full(n_j, lo)
                hi_j = np.full(n_j, hi)
                new = js < J
                lo_j[new] = np.where(fits_js, rat[None, :], np.inf).min(axis=1)
                hi_j[new] = np.where(fits_js, rat[None, :], -np.inf).max(axis=1)
                lo, hi = lo_j, hi_j
            lo = np.broadcast_to(np.asarray(lo, dtype=float), (n_j,))
            hi = np.broadcast_to(np.asarray(hi, dtype=float), (n_j,))
            # lo * z_b - z_a <= 0 and z_a - hi * z_b <= 0, column by column
            rr = np.arange(r, r + n_j)
            rows += list(rr) * 2; cidx += list(zb) + list(za); vals += list(lo) + [-1.0] * n_j
            rhs += [0.0] * n_j; r += n_j
            rr = np.arange(r, r + n_j)
            rows += list(rr) * 2; cidx += list(za) + list(zb); vals += [1.0] * n_j + list(-hi)
            rhs += [0.0] * n_j; r += n_j
        if g.min_nodes:
            rows += [r] * len(js); cidx += list(js); vals += [-1.0] * len(js); rhs.append(-float(g.min_nodes)); r += 1
    for (hk, j), ys in per_node.items():  # at most s pods of the set per node: sum y <= s * x_j
        rows += [r] * (len(ys) + 1); cidx += ys + [j]; vals += [1.0] * len(ys) + [-float(host_limit[hk])]
        rhs.append(0.0); r += 1
    for (j, d), zs in usage.items():
        rows += [r] * (len(zs) + 1); cidx += [v for v, _ in zs] + [j]; vals += [c for _, c in zs] + [-col_cap[j, d]]
        rhs.append(0.0); r += 1
    for p, (lim, nodes) in limits_s.items():
        js = [j for j in range(J) if pool_idx[rep[j]] == p]
        if not js:
            continue
        for d, remaining in lim.items():
            rows += [r] * len(js); cidx += js; vals += [float(capacity_s[rep[j], d]) for j in js]
            rhs.append(float(max(remaining, 0))); r += 1
        if nodes is not None:
            rows += [r] * len(js); cidx += js; vals += [1.0] * len(js); rhs.append(float(max(nodes, 0))); r += 1
    c = np.concatenate([cost, np.zeros(nvar - nx)])
    A = coo_matrix((vals, (rows, cidx)), shape=(r, nvar)).tocsr()
    bounds = [(0, None)] * J + [(0, 1)] * E + [(0, None)] * (nvar - nx)
    res = linprog(c, A_ub=A, b_ub=np.array(rhs), bounds=bounds, method="highs")
    if res.status != 0:
        return 0.0  # no proof of anything: zero is always a valid bound
    # The dual bound HiGHS proves is the LP optimum; shave float noise so it stays below.
    return max(float(res.fun) * (1 - 1e-9) - 1e-9, 0.0)


def _fits(members: np.ndarray, alloc: np.ndarray) -> np.ndarray:
    """[column, member]: the member's request fits the column's allocatable."""
    return np.all(alloc[:, None, :] >= members[None, :, :], axis=2)


def _undominated(sig: np.ndarray, cap: np.ndarray, price: np.ndarray, pool: np.ndarray) -> np.ndarray:
    """Columns no other column beats: another with the same compatibility (and limited pool)
    that is no dearer and at least as big in every dimension makes a column useless to the LP."""
    keep = np.ones(len(price), dtype=bool)
    key = np.concatenate([sig, pool[:, None]], axis=1)
    _, inverse = np.unique(key, axis=0, return_inverse=True)
    inverse = inverse.ravel()
    for g in np.unique(inverse):
        idx = np.nonzero(inverse == g)[0]
        if len(idx) < 2:
            continue
        c, p = cap[idx], price[idx]
        ge = np.all(c[:, None, :] >= c[None, :, :], axis=2)  # ge[a, b]: a at least as big as b
        cheaper = p[:, None] <= p[None, :]
        strictly = np.any(c[:, None, :] > c[None, :, :], axis=2) | (p[:, None] < p[None, :])
        dom = ge & cheaper & strictly  # dom[a, b]: a dominates b
        keep[idx[np.any(dom, axis=0)]] = False
    return keep
