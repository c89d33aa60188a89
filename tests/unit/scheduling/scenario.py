"""Load a scheduling scenario (YAML fixture) and check its expectations."""

from __future__ import annotations

import copy
from functools import lru_cache
from pathlib import Path

import yaml

from provisioner.catalog.catalog import is_exotic, load_local_catalog
from provisioner.catalog.labels import node_labels
from provisioner.catalog.unavailable import UnavailableOfferings
from provisioner.scheduling import simulate
from provisioner.scheduling.inputs import input_from_documents
from provisioner.scheduling.plan import Plan, SchedulingInput

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "scheduling"

DEFAULT_POOL = {
    "apiVersion": "karpenter.sh/v1", "kind": "NodePool", "metadata": {"name": "default"},
    "spec": {"template": {"spec": {
        "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "default"},
        "requirements": [{"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["spot", "on-demand"]}]}}},
}


@lru_cache(maxsize=1)
def catalog():
    return load_local_catalog("us-east-1")


def expand_pods(items: list[dict]) -> list[dict]:
    out = []
    for item in items:
        item = copy.deepcopy(item)
        n = item.pop("replicas", None)
        item.setdefault("apiVersion", "v1")
        item.setdefault("kind", "Pod")
        if n is None:
            out.append(item)
            continue
        base = item["metadata"]["name"]
        for i in range(n):
            pod = copy.deepcopy(item)
            pod["metadata"]["name"] = f"{base}-{i}"
            out.append(pod)
    return out


def load(path: Path) -> tuple[dict, SchedulingInput]:
    doc = yaml.safe_load(path.read_text())
    inp = input_from_documents(doc.get("nodepools") or [DEFAULT_POOL], expand_pods(doc.get("pods") or []),
                               doc.get("nodeclasses") or [], doc.get("nodes") or [], doc.get("daemonsets") or [],
                               catalog=catalog())
    if doc.get("unavailable"):
        cache = UnavailableOfferings()
        for t, z, ct in doc["unavailable"]:
            cache.mark(t, z, ct)
        inp = SchedulingInput(**{**inp.__dict__, "unavailable": cache})
    return doc, inp


def run(path: Path) -> tuple[dict, SchedulingInput, Plan]:
    doc, inp = load(path)
    return doc, inp, simulate(inp)


def check(doc: dict, inp: SchedulingInput, plan: Plan) -> list[str]:
    exp = doc.get("expect") or {}
    errs: list[str] = []
    new = plan.new_nodes
    pods = {p.key: p for p in inp.pods}
    labels = {n.name: node_labels(catalog().instance_types[n.instance_type], n.zone, "us-east-1", n.capacity_type,
                                  next(p for p in inp.nodepools if p.name == n.nodepool), hostname=n.name)
              for n in new}
    for n in inp.nodes:
        labels[n.name] = dict(n.labels)

    def want(cond: bool, msg: str) -> None:
        if not cond:
            errs.append(msg)

    if "scheduled" in exp:
        want(len(plan.placements) == exp["scheduled"], f"scheduled {len(plan.placements)} != {exp['scheduled']}")
    if "unschedulable" in exp:
        want(len(plan.unschedulable) == exp["unschedulable"],
             f"unschedulable {len(plan.unschedulable)} != {exp['unschedulable']}: {plan.unschedulable[:2]}")
    if "reason" in exp:
        for u in plan.unschedulable:
            want(exp["reason"] in u.reason, f"{u.pod}: reason {u.reason!r} lacks {exp['reason']!r}")
    if "new_nodes" in exp:
        want(len(new) == exp["new_nodes"], f"new nodes {len(new)} != {exp['new_nodes']}")
    if "max_new_nodes" in exp:
        want(len(new) <= exp["max_new_nodes"], f"new nodes {len(new)} > {exp['max_new_nodes']}")
    for k, v in (exp.get("labels") or {}).items():
        for n in new:
            want(labels[n.name].get(k) == str(v), f"{n.name}: {k}={labels[n.name].get(k)} != {v}")
    for k, vs in (exp.get("labels_in") or {}).items():
        for n in new:
            want(labels[n.name].get(k) in [str(v) for v in vs], f"{n.name}: {k}={labels[n.name].get(k)} not in {vs}")
    for d in exp.get("distinct") or []:
        doms = set()
        for pk, node in plan.placements.items():
            if all(pods[pk].label_map.get(a) == b for a, b in d["selector"].items()):
                doms.add(node if d["key"] == "kubernetes.io/hostname" else labels[node].get(d["key"]))
        want(len(doms) == d["count"], f"distinct {d['key']} for {d['selector']}: {len(doms)} != {d['count']}")
    if "nodepool" in exp:
        for n in new:
            want(n.nodepool == exp["nodepool"], f"{n.name} from {n.nodepool} not {exp['nodepool']}")
    if exp.get("no_exotic"):
        for n in new:
            want(not is_exotic(catalog().instance_types[n.instance_type]), f"{n.name}: exotic {n.instance_type}")
    for prefix, node in (exp.get("pods_on") or {}).items():
        for pk, where in plan.placements.items():
            if pk.split("/", 1)[1].startswith(prefix):
                want(where == node, f"{pk} on {where}, expected {node}")
    if "min_scheduled" in exp:
        want(len(plan.placements) >= exp["min_scheduled"], f"scheduled {len(plan.placements)} < {exp['min_scheduled']}")
    node_pool = {n.name: n.nodepool for n in plan.nodes}
    for prefix, pool in (exp.get("pods_pool") or {}).items():
        for pk, where in plan.placements.items():
            if pk.split("/", 1)[1].startswith(prefix):
                want(node_pool[where] == pool, f"{pk} on pool {node_pool[where]}, expected {pool}")
    if "min_families" in exp:
        for n in new:
            fams = {catalog().instance_types[t].family for t in n.instance_types}
            want(len(fams) >= exp["min_families"], f"{n.name}: {len(fams)} families in its list")
    if "max_pods_per_node" in exp:
        for n in plan.nodes:
            want(len(n.pods) <= exp["max_pods_per_node"], f"{n.name} has {len(n.pods)} pods")
    return errs
