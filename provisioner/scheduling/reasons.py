"""Why a pod could not be placed: a precise, human reason."""

from __future__ import annotations

import numpy as np

from provisioner.catalog.resources import format_resource
from provisioner.scheduling.classes import Constraints, PodClass
from provisioner.scheduling.model import HOSTNAME, untolerated
from provisioner.scheduling.requirements import terms_match


def _requests(c: PodClass, dims: tuple[str, ...]) -> str:
    return ", ".join(f"{d}={format_resource(d, v)}" for d, v in zip(dims, c.req) if v and d != "pods")


def _constraint_text(cons: Constraints) -> str:
    parts = [r.describe() for r in cons.reqs]
    if cons.terms:
        parts.append(" or ".join("(" + ", ".join(r.describe() for r in t) + ")" for t in cons.terms))
    return "; ".join(parts)


def explain(solver, c: PodClass, cons: Constraints) -> str:
    cols = solver.cols
    dims = solver.dims
    reasons: list[str] = []
    if not solver.pools:
        reasons.append("no NodePool")
    req_mask = cols.terms_mask(cons.reqs, cons.terms)
    kfit = solver.kfit(c.req)
    for p in solver.pools:
        pm = solver._pool_mask[p.index]
        bad = untolerated(p.taints, c.rep.tolerations)
        if bad:
            t = bad[0]
            reasons.append(f"NodePool {p.name}: taint {t.key}={t.value}:{t.effect} not tolerated")
            continue
        m = pm & req_mask
        if not m.any():
            what = _constraint_text(cons)
            reasons.append(f"NodePool {p.name}: no offered instance type matches {what or 'its requirements'}"
                           if what else f"NodePool {p.name}: no instance type is offered")
            continue
        fits = m & (kfit >= 1)
        if not fits.any():
            i = np.nonzero(m)[0]
            best = i[np.argmax(cols.alloc[i, 0])]
            reasons.append(f"NodePool {p.name}: requests {_requests(c, dims)} exceed the allocatable of every "
                           f"compatible instance type (largest: {cols.type_name(best)} with "
                           + ", ".join(f"{d}={format_resource(d, int(v))}" for d, v in zip(dims, cols.alloc[best])
                                       if d != "pods") + ")")
            continue
        if p.node_limit is not None and solver.pool_nodes[p.index] >= p.node_limit:
            reasons.append(f"NodePool {p.name}: limit nodes={p.node_limit} reached")
            continue
        over = []
        for d, limit in p.limits.items():
            remaining = limit - solver.pool_used[p.index][d]
            if not (fits & (cols.capacity[:, d] <= remaining)).any():
                over.append(f"{dims[d]} {format_resource(dims[d], int(solver.pool_used[p.index][d]))} of "
                            f"{format_resource(dims[d], limit)} used")
        if over:
            reasons.append(f"NodePool {p.name}: limits exhausted ({'; '.join(over)})")
            continue
        topo = _topology_reason(solver, c, cons)
        reasons.append(f"NodePool {p.name}: {topo}" if topo else f"NodePool {p.name}: no offering left for it")
    existing = [n for n in solver.nodes if n.existing]
    if existing:
        counts = {"tainted": 0, "affinity": 0, "resources": 0, "topology": 0}
        for n in existing:
            if n.node.unschedulable or untolerated(n.taints, c.rep.tolerations):
                counts["tainted"] += 1
            elif not (all(r.matches(n.node.labels) for r in cons.reqs) and terms_match(cons.terms, n.node.labels)):
                counts["affinity"] += 1
            elif n.fit(c.req) <= 0:
                counts["resources"] += 1
            else:
                counts["topology"] += 1
        detail = ", ".join(f"{v} {k}" for k, v in counts.items() if v)
        reasons.append(f"{len(existing)} existing node(s) rejected it ({detail})")
    return "; ".join(reasons) or "no node can hold it"


def _topology_reason(solver, c: PodClass, cons: Constraints) -> str:
    out = []
    for a in cons.affinities:
        if not solver.domains.total(a.matching) and not a.self_match:
            out.append(f"required pod affinity ({a.describe}, {a.key}): no matching pod exists")
        else:
            out.append(f"required pod affinity ({a.describe}, {a.key}): the domain(s) holding matching pods are full")
    for key, ids in cons.forbid:
        if c.id in ids and key == HOSTNAME:
            out.append("required pod anti-affinity/host ports allow one such pod per node")
        elif any(i in ids for i in solver.domains.totals if solver.domains.totals[i]):
            out.append(f"required pod anti-affinity on {key} excludes the domains that could hold it")
    for s in cons.spreads:
        out.append(f"topology spread on {s.key} (maxSkew {s.max_skew}) cannot be satisfied")
    return "; ".join(out)
