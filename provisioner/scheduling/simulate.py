"""The public entry point: simulate(SchedulingInput) -> Plan, a pure function."""

from __future__ import annotations

import time

import numpy as np

from provisioner.scheduling.bound_groups import plan_lower_bound
from provisioner.scheduling.classes import ConstraintBuilder, build_classes
from provisioner.scheduling.columns import BASE_DIMS, Columns, pool_infos
from provisioner.scheduling.nodes import SimNode, pool_label
from provisioner.scheduling.plan import Plan, PlannedNode, SchedulingInput, Unschedulable
from provisioner.scheduling.reasons import explain
from provisioner.scheduling.merge import merge_nodes
from provisioner.scheduling.solver import Solver


def resource_dims(inp: SchedulingInput) -> tuple[str, ...]:
    extra = set()
    for p in inp.pods:
        extra.update(p.requests)
    for ds in inp.daemonsets:
        extra.update(ds.pod.requests)
    return BASE_DIMS + tuple(sorted(extra - set(BASE_DIMS)))


def simulate(inp: SchedulingInput) -> Plan:
    """Place pending pods on existing, in-flight and new nodes; price the new nodes and bound
    the cost of any plan placing the same pods. Does not mutate its input."""
    return simulate_with_raw_bound(inp)[0]


def simulate_with_raw_bound(inp: SchedulingInput) -> tuple[Plan, float]:
    """simulate(), plus the lower bound before it is clipped to the plan's cost (tests check
    that the LP itself never exceeds the cost of the feasible plan it is given)."""
    start = time.perf_counter()
    dims = resource_dims(inp)
    pools = pool_infos(inp.nodepools, inp.nodeclasses, dims)
    cols = Columns(inp.catalog, pools, dims, inp.daemonsets, inp.unavailable)
    pods = list(inp.pods)
    node_names = {n.name for n in inp.nodes}
    # Pods bound to a node we don't know about are not ours to place or count.
    pods = [p for p in pods if not p.node_name or p.node_name in node_names]
    classes, bound_ids = build_classes(pods, dims)
    bound = _bound_map(pods, bound_ids)
    originally = {c.id: len(c.pending) for c in classes}
    builder = ConstraintBuilder(classes)
    solver = Solver(cols, classes, tuple(inp.nodes), bound, builder)
    pod_class = {p.key: c.id for c in classes for p in c.pending}
    solver.run()
    merge_nodes(solver)
    bound_seconds, repack_seconds = _budgets(inp, start, len(pods))
    bound_value, shapes = 0.0, []
    if inp.compute_bound and bound_seconds > 0:
        # imported here: numba and HiGHS cost ~0.5 s at import, which callers that never ask
        # for it (the controller, consolidation what-ifs) should not pay. First, as its
        # configurations give the repack a head start (repacking places the same pods).
        from provisioner.scheduling.configuration_bound import configuration_bound
        bound_value, shapes = configuration_bound(solver, classes, originally, bound_seconds)
    if inp.time_limit > 0:  # the bound may have used less than its share
        repack_seconds = _budgets(inp, start, len(pods))[1]
    if repack_seconds > 0:
        from provisioner.scheduling.repack import repack_nodes
        if repack_nodes(solver, pod_class, repack_seconds, shapes):
            merge_nodes(solver)  # the rounding leaves some nodes part empty
    nodes, cost = _finalize(solver, inp.max_instance_types)
    unschedulable = []
    for cid, cons in solver.unplaced.items():
        c = classes[cid]
        reason = explain(solver, c, cons)
        unschedulable += [Unschedulable(p.key, reason) for p in c.pending]
    raw_bound = max(plan_lower_bound(solver, classes, originally), bound_value) if inp.compute_bound else 0.0
    bound_value = min(raw_bound, cost)  # never claim more than what was shown feasible
    placements = {p: n.name for n in nodes for p in n.pods}
    return Plan(tuple(nodes), tuple(sorted(unschedulable, key=lambda u: u.pod)), cost, bound_value,
                time.perf_counter() - start, placements), raw_bound


# what the steps after the repack's column generation take (building its LP, handing pods
# out, merging, pricing the nodes, the resource LP's bound) and its last dives past their
# clock, measured on the bench: 0.6 s at 1,000 pods, 2.1-2.8 s at 20,000
AFTER_SECONDS, AFTER_PER_POD = 0.5, 100e-6


def _left(inp: SchedulingInput, start: float, pods: int) -> float:
    """Seconds of the time limit left for the bound and the repack."""
    return inp.time_limit - (time.perf_counter() - start) - AFTER_SECONDS - AFTER_PER_POD * pods


def _budgets(inp: SchedulingInput, start: float, pods: int) -> tuple[float, float]:
    """(bound seconds, repack seconds): as asked, or within the time limit: the bound first
    (the gap is measured against it, and its configurations seed the repack), with at most
    half of what is left; the repack gets what the bound leaves (simulate looks again)."""
    if inp.time_limit <= 0:
        return inp.bound_seconds, inp.repack_seconds
    left = max(_left(inp, start, pods), 0.0)
    return min(inp.bound_seconds, left / 2), min(inp.repack_seconds, left)


def _bound_map(pods, bound_ids):
    names = {p.key: p.node_name for p in pods if p.node_name}
    return {k: (cid, names[k]) for k, cid in bound_ids.items()}


def _finalize(solver: Solver, max_types: int) -> tuple[list[PlannedNode], float]:
    cols = solver.cols
    out: list[PlannedNode] = []
    total = 0.0
    for n in solver.nodes:
        if not n.placed:
            continue
        pods = tuple(p.key for p in n.placed)
        if n.existing:
            out.append(PlannedNode(n.name, pool_label(n), True, n.node.labels.get("node.kubernetes.io/instance-type"),
                                   (), n.node.labels.get("karpenter.sh/capacity-type"),
                                   n.node.labels.get("topology.kubernetes.io/zone"), n.node.price_per_hour, pods))
            continue
        col, ranked = _choose(solver, n, max_types)
        price = float(cols.price[col])
        total += price
        out.append(PlannedNode(n.name, n.pool.name, False, cols.type_name(col), ranked, cols.cts[cols.ct_idx[col]],
                               cols.zones[cols.zone_idx[col]], price, pods))
    return out, total


def _choose(solver: Solver, n: SimNode, max_types: int) -> tuple[int, tuple[str, ...]]:
    """The cheapest compatible offering that holds what the node got, and the ranked list."""
    cols = solver.cols
    used = np.array(n.used, dtype=np.int64)
    cand = _holding(solver, n, n.cand[n.mask], used, max_types if not n.pool.min_values else None)
    if not len(cand):
        cand = np.array([n.col])
    col = int(cand[0])  # candidates are kept cheapest first
    if cols.price[n.col] <= cols.price[col] and n.col in cand:
        col = n.col
    moved = _cheaper_elsewhere(solver, n, used, float(cols.price[col]))
    if moved is not None:  # same NodePool, another zone or capacity type: rank that group
        group = solver._groups[(n.pool.index, int(cols.zone_idx[moved]), int(cols.ct_idx[moved]))]
        ok = np.ones(len(group), dtype=bool)
        for c, cons in n.cons.values():
            ok &= solver.cons_mask(c, cons)[group]
        cand = _holding(solver, n, group[ok], used)
        col = int(cand[0]) if len(cand) and cols.price[cand[0]] <= cols.price[moved] else moved
    order = cand
    need = n.pool.min_values  # NodePool minValues: keep enough distinct values in the list
    if not need:  # each type appears once per (NodePool, zone, capacity type)
        return col, tuple(cols.types[t].name for t in cols.type_idx[order[:max_types]])
    seen: list[str] = []
    names: set[int] = set()
    values: dict[str, set] = {k: set() for k in need}
    for j in order:  # cheapest first; the first occurrence of each type
        t = int(cols.type_idx[j])
        if t in names:
            continue
        short = [k for k in need if len(values[k]) < need[k]]
        if len(seen) >= max_types and not short:
            break
        new_value = any(cols.label_value(int(j), k) not in values[k] for k in short)
        if len(seen) >= max_types and not new_value:
            continue
        names.add(t)
        seen.append(cols.types[t].name)
        for k in need:
            values[k].add(cols.label_value(int(j), k))
    return col, tuple(seen)


CHUNK = 128


def _holding(solver: Solver, n: SimNode, cand: np.ndarray, used: np.ndarray, enough: int | None = None) -> np.ndarray:
    """The candidates that hold what the node got (and stay within its NodePool's limits),
    in their order; with `enough`, only the first that many are needed (scanned by chunks)."""
    if enough is not None and len(cand) > 4 * CHUNK:
        out, start = [], 0
        while start < len(cand) and sum(len(o) for o in out) < enough:
            out.append(_holding(solver, n, cand[start:start + CHUNK], used))
            start += CHUNK
        return np.concatenate(out) if out else cand[:0]
    cols = solver.cols
    ok = np.all(cols.alloc[cand] >= used, axis=1)
    for d in n.pool.limits:
        ok &= cols.capacity[cand, d] <= cols.capacity[n.col, d]
    return cand[ok]


def _cheaper_elsewhere(solver: Solver, n: SimNode, used: np.ndarray, price: float) -> int | None:
    """For a node none of whose pods cares about its zone, capacity type or any other
    non-hostname label (no such spread, affinity or anti-affinity, and counted by none), the
    cheapest offering of the same NodePool in any zone and capacity type that every pod on it
    accepts and that holds them, if cheaper than `price`. Moving such a node changes no domain
    any rule counts; its hostname stays its own."""
    sensitive = solver.zone_sensitive()
    if any(cid in sensitive for cid in n.counts):
        return None
    idx, prices = solver.pool_by_price(n.pool.index)
    idx = idx[: int(np.searchsorted(prices, price, side="left"))]
    if not len(idx):
        return None
    ok = np.all(solver.cols.alloc[idx] >= used, axis=1)
    for c, cons in n.cons.values():
        if not ok.any():
            return None
        ok &= solver.cons_mask(c, cons)[idx]
    for d in n.pool.limits:
        ok &= solver.cols.capacity[idx, d] <= solver.cols.capacity[n.col, d]
    hit = np.nonzero(ok)[0]
    return int(idx[hit[0]]) if len(hit) else None
