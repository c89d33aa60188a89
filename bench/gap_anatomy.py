"""Where the allocator's optimality gap comes from: packing or bound.

The plan's gap (cost - lower bound) / cost mixes two things: money the greedy packing leaves
on the table, and weakness of the resource LP that bounds it. This offline analysis puts the
configuration LP (Gilmore-Gomory) between them. A configuration is one node type and how many
pods of each size it holds; the LP covers every size's demand with fractional configurations
at least cost. It ignores zones and hostname rules (a relaxation), so it is a valid lower bound
too, and usually close to the best integral packing. Then

    plan - configuration LP  >=  what better packing could still save (an upper bound on it)
    configuration LP - bound  >=  how much the plan's bound understates (a lower bound on it)

Column generation with exact integer pricing (HiGHS MILP per node type, the fractional
knapsack deciding which node types need it) and Farley's bound at every iteration, so a run
cut short still reports a valid bound. About 10 s per size whatever the pod count (the work
grows with distinct pod sizes, not pods), so it is far too slow for simulate() itself.

    python -m bench.gap_anatomy [--sizes 100,1000,5000] [--kinds 1,4] [--minutes 2]

--kinds 1 is plain pods only; 4 the mix without hostname anti-affinity (the issue's target).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, linprog, milp

from bench.scheduling import BOUND_SECONDS, KINDS, REPACK_SECONDS, make_pods, nodepool
from provisioner.catalog.catalog import load_local_catalog
from provisioner.scheduling import SchedulingInput, simulate
from provisioner.scheduling.columns import Columns, pool_infos
from provisioner.scheduling.knapsack import fractional_upper
from provisioner.scheduling.convert import pod_from_k8s
from provisioner.scheduling.simulate import resource_dims

RESULTS = Path(__file__).parent / "results"


def node_types(catalog, pool, dims) -> tuple[np.ndarray, np.ndarray]:
    """Distinct allocatable vectors of the NodePool's non-exotic offerings, each at its lowest
    price (any zone, any capacity type: the relaxation), dominated ones dropped."""
    cols = Columns(catalog, pool_infos((pool,), (), dims), dims)
    keep = ~cols.exotic
    alloc, price = cols.alloc[keep], cols.price[keep]
    uniq, inv = np.unique(alloc, axis=0, return_inverse=True)
    best = np.full(len(uniq), np.inf)
    np.minimum.at(best, inv.ravel(), price)
    order = np.argsort(best)
    uniq, best = uniq[order], best[order]
    undominated = [j for j in range(len(best)) if not any(np.all(uniq[k] >= uniq[j]) for k in range(j))]
    return uniq[undominated], best[undominated]


def configuration_lp(req, demand, alloc, price, seed, deadline) -> dict:
    fits = np.all(alloc[:, None, :] >= req[None, :, :], axis=2)
    configs, owner = [], []
    for i in range(len(demand)):  # every size alone, on its cheapest node per pod
        per = np.where(fits[:, i], np.min(np.where(req[i] > 0, alloc // np.maximum(req[i], 1), 10**9), axis=1), 0)
        per = np.minimum(per, demand[i])
        j = int(np.argmin(np.where(per > 0, price / np.maximum(per, 1), np.inf)))
        a = np.zeros(len(demand), dtype=np.int64)
        a[i] = per[j]
        configs.append(a)
        owner.append(j)
    for j, a in seed:
        configs.append(a)
        owner.append(j)
    best_bound, value, it = 0.0, float("inf"), 0
    while time.monotonic() < deadline:
        it += 1
        res = linprog(price[owner], A_ub=-np.array(configs, dtype=float).T, b_ub=-demand, bounds=(0, None),
                      method="highs")
        value = float(res.fun)
        pi = np.maximum(-res.ineqlin.marginals, 0.0)
        upper = np.array([fractional_upper(req[fits[j]], pi[fits[j]], alloc[j]) for j in range(len(price))])
        ratio, added = 0.0, 0
        for j in np.argsort(-upper / price):  # exact pricing where the fractional bound allows a better ratio
            if upper[j] / price[j] <= max(ratio, 1.0) + 1e-12:
                break
            idx = np.nonzero(fits[j])[0]
            r = milp(-pi[idx], constraints=LinearConstraint(req[idx].T, -np.inf, alloc[j]),
                     integrality=np.ones(len(idx)), bounds=Bounds(0, demand[idx]), options={"disp": False})
            v = -float(r.fun)
            ratio = max(ratio, v / price[j])
            if v > price[j] * (1 + 1e-9):
                a = np.zeros(len(demand), dtype=np.int64)
                a[idx] = np.round(r.x).astype(np.int64)
                configs.append(a)
                owner.append(int(j))
                added += 1
        best_bound = max(best_bound, float(pi @ demand) / max(ratio, 1.0))
        if not added:
            break
    return {"bound": best_bound, "value": value, "iterations": it, "converged": bool(best_bound >= value * (1 - 1e-6))}


@contextlib.contextmanager
def _quiet_stdout():
    """HiGHS's MIP prints a debug line to the C stdout on some solves, whatever its options."""
    sys.stdout.flush()
    saved = os.dup(1)
    with open(os.devnull, "w") as null:
        os.dup2(null.fileno(), 1)
    try:
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def analyse(n: int, kinds: tuple[str, ...], minutes: float, catalog) -> dict:
    pods = tuple(pod_from_k8s(d) for d in make_pods(n, kinds))
    pool = nodepool()
    inp = SchedulingInput(pods=pods, nodepools=(pool,), catalog=catalog)
    plan = simulate(inp)
    # the optimising mode of bench/scheduling.py (repack and configuration-LP bound)
    repacked = simulate(replace(inp, repack_seconds=REPACK_SECONDS, bound_seconds=BOUND_SECONDS))
    dims = resource_dims(inp)
    alloc, price = node_types(catalog, pool, dims)
    req_of = {p.key: tuple(p.requests.get(d, 0) for d in dims) for p in pods}
    sizes = sorted(set(req_of.values()))
    index = {s: i for i, s in enumerate(sizes)}
    req = np.array(sizes, dtype=np.int64)
    demand = np.bincount([index[r] for r in req_of.values()], minlength=len(sizes)).astype(float)
    seed = []  # the plan's own nodes, as configurations on the cheapest node type holding them
    for node in plan.new_nodes:
        a = np.zeros(len(sizes), dtype=np.int64)
        for key, k in Counter(index[req_of[p]] for p in node.pods).items():
            a[key] = k
        ok = np.nonzero(np.all(alloc >= a @ req, axis=1))[0]
        if len(ok):
            seed.append((int(ok[np.argmin(price[ok])]), a))
    start = time.monotonic()
    with _quiet_stdout():
        cfg = configuration_lp(req, demand, alloc, price, seed, start + minutes * 60)
    cost, bound = plan.cost_per_hour, plan.lower_bound_per_hour
    return {"pods": n, "kinds": list(kinds), "sizes": len(sizes), "node_types": len(price),
            "cost_per_hour": round(cost, 4), "lower_bound_per_hour": round(bound, 4), "gap": round(plan.gap, 4),
            "configuration_lp_bound": round(cfg["bound"], 4), "configuration_lp_value": round(cfg["value"], 4),
            "converged": cfg["converged"], "iterations": cfg["iterations"],
            "seconds": round(time.monotonic() - start, 1),
            "plan_above_configuration_lp": round((cost - cfg["value"]) / cost, 4),
            "repacked_cost_per_hour": round(repacked.cost_per_hour, 4),
            "repacked_lower_bound_per_hour": round(repacked.lower_bound_per_hour, 4),
            "repacked_above_configuration_lp": round((repacked.cost_per_hour - cfg["value"]) / repacked.cost_per_hour, 4),
            "bound_below_configuration_lp": round((cfg["bound"] - bound) / cost, 4)}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="100,1000,5000")
    ap.add_argument("--kinds", default="1,4", help="1: plain pods only; 4: the mix without anti-affinity")
    ap.add_argument("--minutes", type=float, default=2.0, help="column generation budget per size")
    args = ap.parse_args(argv)
    catalog = load_local_catalog("us-east-1")
    rows = []
    for kinds in (int(k) for k in args.kinds.split(",")):
        for n in (int(s) for s in args.sizes.split(",")):
            row = analyse(n, KINDS[:kinds], args.minutes, catalog)
            rows.append(row)
            print(f"{'+'.join(row['kinds']):55s} {n:6d} pods  cost ${row['cost_per_hour']:8.3f}/h  "
                  f"configuration LP ${row['configuration_lp_bound']:8.3f}/h  bound ${row['lower_bound_per_hour']:8.3f}/h  "
                  f"plan above it {row['plan_above_configuration_lp']:6.1%}  bound below it {row['bound_below_configuration_lp']:6.1%}"
                  f"  repacked ${row['repacked_cost_per_hour']:8.3f}/h, {row['repacked_above_configuration_lp']:6.1%} above", flush=True)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "gap-anatomy.json"
    out.write_text(json.dumps({"results": rows}, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
