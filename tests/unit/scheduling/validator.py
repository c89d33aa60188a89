"""Independent checks of a Plan against the hard constraints of its input.

Recomputes everything from the catalog and the typed input (not from solver internals):
returns a list of violations, empty when the plan is sound.
"""

from __future__ import annotations

from collections import defaultdict

from provisioner.catalog.allocatable import allocatable, capacity
from provisioner.catalog.labels import node_labels
from provisioner.catalog.resources import Resources, parse_resource
from provisioner.scheduling.columns import pool_infos
from provisioner.scheduling.model import HOSTNAME, untolerated
from provisioner.scheduling.plan import Plan, SchedulingInput
from provisioner.scheduling.requirements import Req, terms_match


def _labels_for(inp: SchedulingInput, plan: Plan):
    pools = {p.name: p for p in inp.nodepools}
    existing = {n.name: n for n in inp.nodes}
    out = {}
    for n in plan.nodes:
        if n.existing:
            out[n.name] = dict(existing[n.name].labels)
        else:
            it = inp.catalog.instance_types[n.instance_type]
            out[n.name] = node_labels(it, n.zone, inp.catalog.region, n.capacity_type, pools[n.nodepool],
                                      hostname=n.name)
    for n in inp.nodes:
        out.setdefault(n.name, dict(n.labels))
    return out


def validate(inp: SchedulingInput, plan: Plan) -> list[str]:
    errors: list[str] = []
    pods = {p.key: p for p in inp.pods}
    pending = {p.key for p in inp.pods if not p.node_name}
    placed = plan.placements
    unsched = {u.pod for u in plan.unschedulable}
    # every pending pod placed xor explained
    for k in pending:
        if (k in placed) == (k in unsched):
            errors.append(f"{k}: placed={k in placed} unschedulable={k in unsched}")
    for u in plan.unschedulable:
        if not u.reason:
            errors.append(f"{u.pod}: empty reason")
    labels = _labels_for(inp, plan)
    where = dict(placed)
    for p in inp.pods:
        if p.node_name and p.node_name in labels:
            where[p.key] = p.node_name
    by_node = defaultdict(list)
    for k, node in where.items():
        by_node[node].append(pods[k])
    pools = {p.name: p for p in inp.nodepools}
    kubelets = {c.name: c.kubelet for c in inp.nodeclasses}
    existing = {n.name: n for n in inp.nodes}
    offer_price = {(o.instance_type, o.zone, o.capacity_type): o.price for o in inp.catalog.offerings}
    for n in plan.nodes:
        if n.existing:
            continue
        if n.instance_type not in n.instance_types:
            errors.append(f"{n.name}: chosen type not in its ranked list")
        if abs(offer_price.get((n.instance_type, n.zone, n.capacity_type), -1) - n.price_per_hour) > 1e-6:
            errors.append(f"{n.name}: price does not match the catalog")
        pool = pools[n.nodepool]
        info = pool_infos([pool], inp.nodeclasses, ("cpu",))[0]
        for r in info.requirements:
            if not r.matches(labels[n.name]):
                errors.append(f"{n.name}: violates NodePool requirement {r.describe()}")
    # per node: resources, taints, selectors, host ports
    for node, plist in by_node.items():
        lbl = labels[node]
        planned = next((n for n in plan.nodes if n.name == node), None)
        if node in existing:
            alloc = existing[node].allocatable
            taints = existing[node].taints
            if existing[node].in_flight:
                taints = ()
        else:
            it = inp.catalog.instance_types[planned.instance_type]
            pool = pools[planned.nodepool]
            alloc = allocatable(it, kubelets.get(pool.node_class_ref))
            info = pool_infos([pool], inp.nodeclasses, ("cpu",))[0]
            alloc = allocatable(it, kubelets.get(pool.node_class_ref), info.root_volume_bytes)
            taints = info.taints
            for ds in inp.daemonsets:
                if not untolerated(info.taints, ds.pod.tolerations) and \
                        all(r.matches(lbl) for r in ds.pod.node_selector) and terms_match(ds.pod.required_terms, lbl):
                    alloc = alloc - ds.pod.requests
        total = Resources()
        for p in plist:
            total = total + p.requests
        over = total.exceeding(alloc)
        if over:
            errors.append(f"{node}: over allocatable in {over}")
        for p in plist:
            if p.node_name:
                continue
            if untolerated(taints, p.tolerations):
                errors.append(f"{p.key} on {node}: untolerated taint")
            if not all(r.matches(lbl) for r in p.node_selector) or not terms_match(p.required_terms, lbl):
                errors.append(f"{p.key} on {node}: node selector/affinity not satisfied")
            if p.volume_zones is not None and lbl.get("topology.kubernetes.io/zone") not in p.volume_zones:
                errors.append(f"{p.key} on {node}: volume zone not satisfied")
        ports = [(hp, p.key) for p in plist for hp in p.host_ports]
        for i, (a, ka) in enumerate(ports):
            for b, kb in ports[i + 1:]:
                if ka != kb and a.conflicts(b):
                    errors.append(f"{node}: host port {a.port} conflict {ka} {kb}")
    # pod (anti-)affinity and spread
    def domain(node, key):
        return node if key == HOSTNAME else labels[node].get(key)

    for k, node in where.items():
        p = pods[k]
        if p.node_name:
            continue
        for t in p.anti_affinity:
            d = domain(node, t.topology_key)
            for k2, n2 in where.items():
                if k2 != k and d is not None and domain(n2, t.topology_key) == d:
                    q = pods[k2]
                    if t.selects(p.namespace, q.namespace, q.label_map):
                        errors.append(f"{k}: anti-affinity violated by {k2} on {t.topology_key}={d}")
                    for t2 in q.anti_affinity:
                        if t2.topology_key == t.topology_key and t2.selects(q.namespace, p.namespace, p.label_map):
                            errors.append(f"{k}: symmetric anti-affinity of {k2} violated")
        for t in p.affinity:
            d = domain(node, t.topology_key)
            if d is None or not any(domain(n2, t.topology_key) == d and t.selects(p.namespace, pods[k2].namespace,
                                                                                 pods[k2].label_map)
                                    for k2, n2 in where.items()):
                errors.append(f"{k}: pod affinity on {t.topology_key} not satisfied")
    spreads = {}
    for k in where:
        p = pods[k]
        for s in p.spread:
            if s.hard:
                spreads[(p.namespace, s)] = p
    for (ns, s), p in spreads.items():
        counts = defaultdict(int)
        for k2, n2 in where.items():
            q = pods[k2]
            if q.namespace == ns and s.selector.matches(q.label_map):
                counts[domain(n2, s.topology_key)] += 1
        if s.topology_key == HOSTNAME:
            bad = {d: c for d, c in counts.items() if c > s.max_skew}
            if bad:
                errors.append(f"hostname spread maxSkew {s.max_skew} exceeded: {bad}")
        elif counts and (s.min_domains is None or len(counts) >= s.min_domains):
            # domains that hold nodes compatible with the pod
            doms = {labels[n].get(s.topology_key) for n in labels
                    if all(r.matches(labels[n]) for r in p.node_selector) and terms_match(p.required_terms, labels[n])}
            doms.discard(None)
            values = [counts.get(d, 0) for d in doms]
            if values and max(values) - min(values) > s.max_skew:
                errors.append(f"spread on {s.topology_key} skew {max(values) - min(values)} > {s.max_skew}: {dict(counts)}")
        elif s.min_domains and len(counts) < s.min_domains:
            if any(c > s.max_skew for c in counts.values()):
                errors.append(f"minDomains spread: a domain exceeds maxSkew with too few domains: {dict(counts)}")
    # limits
    for name, pool in pools.items():
        used = Resources()
        count = 0
        for n in plan.nodes:
            if not n.existing and n.nodepool == name:
                it = inp.catalog.instance_types[n.instance_type]
                used = used + capacity(it, kubelets.get(pool.node_class_ref))
                count += 1
        for n in inp.nodes:
            if n.labels.get("karpenter.sh/nodepool") == name:
                used = used + n.allocatable
                count += 1
        for key, limit in (pool.limits or {}).items():
            if key == "nodes":
                if count > int(limit):
                    errors.append(f"NodePool {name}: {count} nodes > limit {limit}")
            elif used.get(key, 0) > parse_resource(key, limit):
                errors.append(f"NodePool {name}: {key} {used.get(key, 0)} > limit {limit}")
    if plan.lower_bound_per_hour > plan.cost_per_hour + 1e-9:
        errors.append(f"lower bound {plan.lower_bound_per_hour} > cost {plan.cost_per_hour}")
    return errors


__all__ = ["validate", "Req"]
