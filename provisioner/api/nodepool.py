"""NodePool (provisioner.sh/v1): its schema, and conversion between manifest and dataclass."""

from __future__ import annotations

from typing import Any

from provisioner.api import patterns as P
from provisioner.api.schema import (Rule, Schema, arr, enum, int_or_string, integer,
                                    label_key_rules, label_map, obj, string, string_map)
from provisioner.api.types import (API_VERSION, GROUP, NODECLASS_KIND, NODEPOOL_KIND, Budget,
                                   Disruption, NodePool, Requirement, Taint)

OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt")
TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
CONSOLIDATION_POLICIES = ("WhenEmpty", "WhenEmptyOrUnderutilized")
DISRUPTION_REASONS = ("Empty", "Drifted", "Underutilized", "Expired")
DEFAULT_CONSOLIDATE_AFTER = "5m"  # Karpenter: 0s. See docs/api.md.

_DURATION = "a duration such as 30s, 5m or 1h30m"
_DURATION_OR_NEVER = "a duration such as 30s, 5m or 720h, or Never"
_QUANTITY = "a quantity such as 100, 500m, 64Gi"


def _values(v: dict) -> list:
    return v.get("values") or []


def _requirement_rules() -> tuple[Rule, ...]:
    return (
        Rule("self.operator != 'In' || (has(self.values) && self.values.size() > 0)",
             "operator In needs at least one value",
             lambda v: v["operator"] != "In" or len(_values(v)) > 0),
        Rule("!(self.operator in ['Exists', 'DoesNotExist']) || !has(self.values) || self.values.size() == 0",
             "operators Exists and DoesNotExist take no values",
             lambda v: v["operator"] not in ("Exists", "DoesNotExist") or not _values(v)
             or f"operator {v['operator']} takes no values"),
        Rule("!(self.operator in ['Gt', 'Lt']) || (has(self.values) && self.values.size() == 1 "
             "&& self.values[0].matches('^[0-9]+$'))",
             "operators Gt and Lt take exactly one non-negative integer value",
             lambda v: v["operator"] not in ("Gt", "Lt")
             or (len(_values(v)) == 1 and _values(v)[0].isdigit() and _values(v)[0].isascii())
             or f"operator {v['operator']} takes exactly one non-negative integer value"),
        Rule("!(self.operator == 'In' && has(self.minValues)) || "
             "(has(self.values) && self.minValues <= self.values.size())",
             "minValues must not exceed the number of values",
             lambda v: v["operator"] != "In" or v.get("minValues") is None
             or v["minValues"] <= len(_values(v))
             or f"minValues {v['minValues']} exceeds the number of values ({len(_values(v))})"),
    )


def _taint() -> Schema:
    return obj({
        "key": string(P.LABEL_KEY, "a qualified name such as example.com/dedicated", maxLength=P.LABEL_KEY_MAX),
        "value": string(P.TAINT_VALUE, "a taint value (alphanumerics, '-', '_' or '.')", maxLength=63),
        "effect": enum(*TAINT_EFFECTS),
        "timeAdded": string(format="date-time"),
    }, required=("key", "effect"))


def _budget() -> Schema:
    return obj({
        "nodes": string(P.BUDGET_NODES, 'a node count ("5") or a percentage ("10%")', default="10%"),
        "schedule": string(P.CRON, 'a cron schedule ("0 9 * * mon-fri") or a macro such as @daily'),
        "duration": string(P.BUDGET_DURATION, "a duration in whole minutes or hours such as 30m, 8h or 1h30m"),
        "reasons": arr(enum(*DISRUPTION_REASONS), maxItems=len(DISRUPTION_REASONS),
                       **{"x-kubernetes-list-type": "set"}),
    }, required=("nodes",), rules=(
        Rule("has(self.schedule) == has(self.duration)", "schedule and duration must be set together",
             lambda v: ("schedule" in v) == ("duration" in v)),
    ))


def spec_schema() -> Schema:
    requirement = obj({
        "key": string(P.LABEL_KEY, "a qualified name such as kubernetes.io/arch", maxLength=P.LABEL_KEY_MAX,
                      **{"x-kubernetes-validations": list(label_key_rules(var_is_map=False))}),
        "operator": enum(*OPERATORS),
        "values": arr(string(P.LABEL_VALUE, "a label value (at most 63 alphanumerics, '-', '_' or '.')",
                             maxLength=63), maxItems=500),
        "minValues": integer(minimum=1, maximum=50),
    }, required=("key", "operator"), rules=_requirement_rules())
    template_spec = obj({
        "requirements": arr(requirement, maxItems=100),
        "taints": arr(_taint(), maxItems=100),
        "startupTaints": arr(_taint(), maxItems=100),
        "expireAfter": string(P.DURATION_OR_NEVER, _DURATION_OR_NEVER, default="720h"),
        "terminationGracePeriod": string(P.DURATION, _DURATION),
        "nodeClassRef": obj({
            "group": enum(GROUP),
            "kind": enum(NODECLASS_KIND),
            "name": string(P.DNS_LABEL, "a NodeClass name (lower-case DNS label)", maxLength=63),
        }, required=("group", "kind", "name")),
    }, required=("requirements", "nodeClassRef"))
    labels = label_map()
    labels["x-kubernetes-validations"] = labels["x-kubernetes-validations"] + list(label_key_rules(True))
    return obj({
        "template": obj({
            "metadata": obj({"labels": labels, "annotations": string_map(maxProperties=100)}),
            "spec": template_spec,
        }, required=("spec",)),
        "limits": string_map(int_or_string(P.QUANTITY, _QUANTITY)),
        "weight": integer(minimum=1, maximum=100),
        "disruption": obj({
            "consolidationPolicy": enum(*CONSOLIDATION_POLICIES, default="WhenEmptyOrUnderutilized"),
            "consolidateAfter": string(P.DURATION_OR_NEVER, _DURATION_OR_NEVER, default=DEFAULT_CONSOLIDATE_AFTER),
            "budgets": arr(_budget(), maxItems=50, default=[{"nodes": "10%"}]),
        }, default={"consolidationPolicy": "WhenEmptyOrUnderutilized",
                    "consolidateAfter": DEFAULT_CONSOLIDATE_AFTER, "budgets": [{"nodes": "10%"}]}),
    }, required=("template",))


def status_schema() -> Schema:
    condition = obj({
        "type": string(), "status": enum("True", "False", "Unknown"), "reason": string(),
        "message": string(), "lastTransitionTime": string(format="date-time"),
        "observedGeneration": integer(minimum=0),
    }, required=("type", "status"))
    return obj({
        "conditions": arr(condition, **{"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]}),
        "resources": string_map(int_or_string(P.QUANTITY, _QUANTITY)),
        "nodes": integer(minimum=0),
    })


def _taint_from(d: dict) -> Taint:
    return Taint(key=d["key"], value=d.get("value", ""), effect=d["effect"])


def _taint_to(t: Taint) -> dict:
    return {"key": t.key, **({"value": t.value} if t.value else {}), "effect": t.effect}


def from_spec(name: str, spec: dict[str, Any]) -> NodePool:
    """Build the dataclass from a validated, defaulted spec."""
    template = spec["template"]
    tmeta, tspec = template.get("metadata", {}), template["spec"]
    d = spec["disruption"]
    return NodePool(
        name=name,
        weight=spec.get("weight", 0),
        labels=dict(tmeta.get("labels", {})),
        annotations=dict(tmeta.get("annotations", {})),
        requirements=tuple(Requirement(r["key"], r["operator"], tuple(r.get("values") or ()), r.get("minValues"))
                           for r in tspec["requirements"]),
        taints=tuple(_taint_from(t) for t in tspec.get("taints", ())),
        startup_taints=tuple(_taint_from(t) for t in tspec.get("startupTaints", ())),
        limits={k: str(v) for k, v in spec.get("limits", {}).items()},
        node_class_ref=tspec["nodeClassRef"]["name"],
        expire_after=P.parse_duration(tspec["expireAfter"]),
        termination_grace_period=(P.parse_duration(tspec["terminationGracePeriod"])
                                  if "terminationGracePeriod" in tspec else None),
        disruption=Disruption(
            consolidation_policy=d["consolidationPolicy"],
            consolidate_after=P.parse_duration(d["consolidateAfter"]),
            budgets=tuple(Budget(nodes=b["nodes"], schedule=b.get("schedule"),
                                 duration=P.parse_duration(b["duration"]) if "duration" in b else None,
                                 reasons=tuple(b.get("reasons", ())))
                          for b in d["budgets"]),
        ),
    )


def _budget_to(b: Budget) -> dict:
    out: dict[str, Any] = {"nodes": b.nodes}
    if b.schedule is not None:
        out["schedule"] = b.schedule
    if b.duration is not None:
        out["duration"] = P.format_budget_duration(b.duration)
    if b.reasons:
        out["reasons"] = list(b.reasons)
    return out


def _requirement_to(r: Requirement) -> dict:
    out: dict[str, Any] = {"key": r.key, "operator": r.operator}
    if r.values:
        out["values"] = list(r.values)
    if r.min_values is not None:
        out["minValues"] = r.min_values
    return out


def to_manifest(pool: NodePool) -> dict[str, Any]:
    """The provisioner.sh/v1 manifest, with every defaulted field written out."""
    tspec: dict[str, Any] = {
        "nodeClassRef": {"group": GROUP, "kind": NODECLASS_KIND, "name": pool.node_class_ref},
        "requirements": [_requirement_to(r) for r in pool.requirements],
        "expireAfter": P.format_duration(pool.expire_after),
    }
    if pool.taints:
        tspec["taints"] = [_taint_to(t) for t in pool.taints]
    if pool.startup_taints:
        tspec["startupTaints"] = [_taint_to(t) for t in pool.startup_taints]
    if pool.termination_grace_period is not None:
        tspec["terminationGracePeriod"] = P.format_duration(pool.termination_grace_period)
    tmeta = {k: dict(v) for k, v in (("labels", pool.labels), ("annotations", pool.annotations)) if v}
    spec: dict[str, Any] = {"template": {**({"metadata": tmeta} if tmeta else {}), "spec": tspec}}
    if pool.weight:
        spec["weight"] = pool.weight
    if pool.limits:
        spec["limits"] = dict(pool.limits)
    d = pool.disruption
    spec["disruption"] = {
        "consolidationPolicy": d.consolidation_policy,
        "consolidateAfter": P.format_duration(d.consolidate_after),
        "budgets": [_budget_to(b) for b in d.budgets],
    }
    return {"apiVersion": API_VERSION, "kind": NODEPOOL_KIND, "metadata": {"name": pool.name}, "spec": spec}
