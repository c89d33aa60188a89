"""After rounding: empty nodes whose pods fit the room the other nodes leave.

Diving fixes nodes from the LP's columns, which seldom fill their node type, and ends with a
few nodes of a pod or two that no dive put into that room. Each node, dearest per pod first,
gives every pod to another node with room (node types unchanged; the tightest fit first) or
keeps them all. A pod a count row counts stays in its domain; hostname-set caps hold.
"""

from __future__ import annotations

import numba
import numpy as np


def into_slack(p, nodes: list[tuple[int, np.ndarray]]) -> list[tuple[int, np.ndarray]]:
    """The nodes (node type, pods per size) of configurations.Problem p, emptied where they can be."""
    if len(nodes) < 2:
        return list(nodes)
    dom, rows, _, _ = p.rows()
    group = np.full(len(p.demand), -1, dtype=np.int64) if p.group is None else np.asarray(p.group, dtype=np.int64)
    gcap = np.zeros(0, dtype=np.int64) if p.group_cap is None else np.asarray(p.group_cap, dtype=np.int64)
    types = np.array([t for t, _ in nodes], dtype=np.int64)
    held = np.array([a for _, a in nodes], dtype=np.int64)  # (N, I)
    alloc = np.ascontiguousarray(p.alloc[types], dtype=np.int64)
    req = np.ascontiguousarray(p.req, dtype=np.int64)
    in_set = np.zeros((len(types), len(gcap)), dtype=np.int64)
    for g in range(len(gcap)):
        in_set[:, g] = held[:, group == g].sum(axis=1)
    per_pod = p.price[types] / np.maximum(held.sum(axis=1), 1)
    _empty(held, held.any(axis=1), alloc - held @ req, in_set, np.argsort(-per_pod, kind="stable"),
           np.ascontiguousarray(p.compat[types]), req, rows.any(axis=0), np.asarray(dom, dtype=np.int64)[types],
           group, gcap, alloc)
    return [(int(types[k]), held[k]) for k in np.nonzero(held.any(axis=1))[0]]


@numba.njit(cache=True)
def _empty(held, alive, free, in_set, order, compat, req, counted, dom, group, gcap, alloc):  # pragma: no cover - compiled
    n, items = held.shape
    dims = req.shape[1]
    moves_j = np.zeros(0, dtype=np.int64)
    moves_i = np.zeros(0, dtype=np.int64)
    for k in order:
        if not alive[k]:
            continue
        alive[k] = False  # not a host for its own pods
        pods = 0
        for i in range(items):
            pods += held[k, i]
        if len(moves_j) < pods:
            moves_j = np.zeros(pods, dtype=np.int64)
            moves_i = np.zeros(pods, dtype=np.int64)
        m = 0
        ok = True
        for i in range(items):
            for _ in range(held[k, i]):
                best, best_score = -1, np.inf
                for j in range(n):
                    if not alive[j] or not compat[j, i]:
                        continue
                    if counted[i] and dom[j] != dom[k]:
                        continue
                    if group[i] >= 0 and in_set[j, group[i]] >= gcap[group[i]]:
                        continue
                    score = 0.0
                    for d in range(dims):
                        if free[j, d] < req[i, d]:
                            score = np.inf
                            break
                        score += (free[j, d] - req[i, d]) / max(alloc[j, d], 1)
                    if score < best_score:
                        best, best_score = j, score
                if best < 0:
                    ok = False
                    break
                for d in range(dims):
                    free[best, d] -= req[i, d]
                if group[i] >= 0:
                    in_set[best, group[i]] += 1
                moves_j[m], moves_i[m] = best, i
                m += 1
            if not ok:
                break
        if not ok:  # undo
            for x in range(m):
                j, i = moves_j[x], moves_i[x]
                for d in range(dims):
                    free[j, d] += req[i, d]
                if group[i] >= 0:
                    in_set[j, group[i]] -= 1
            alive[k] = True
            continue
        for x in range(m):
            held[moves_j[x], moves_i[x]] += 1
        for i in range(items):
            held[k, i] = 0
