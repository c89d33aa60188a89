"""Kubernetes JSON (v1 Pod, v1 Node, apps/v1 DaemonSet, PV/PVC) to the typed model, once."""

from __future__ import annotations

from typing import Any, Mapping

from provisioner.catalog.resources import PODS, Resources, parse_resource
from provisioner.scheduling.model import (
    DaemonSet, HostPort, Node, Pod, PodAffinityTerm, SpreadConstraint, Taint, Toleration,
)
from provisioner.scheduling.requirements import LabelSelector, Req, Term

VolumeZones = Mapping[tuple[str, str], tuple[str, ...]]  # (namespace, claim) -> zones
_ZONE_KEYS = ("topology.kubernetes.io/zone", "failure-domain.beta.kubernetes.io/zone",
              "topology.ebs.csi.aws.com/zone")


def _reqs(items: list[dict] | None) -> tuple[Req, ...]:
    return tuple(Req(e["key"], e["operator"], tuple(str(v) for v in e.get("values") or ()))
                 for e in items or ())


def _term(t: Mapping[str, Any]) -> Term:
    return _reqs(t.get("matchExpressions"))


def label_selector(d: Mapping[str, Any] | None) -> LabelSelector:
    d = d or {}
    return LabelSelector(tuple(sorted((d.get("matchLabels") or {}).items())), _reqs(d.get("matchExpressions")))


def _affinity_term(d: Mapping[str, Any], pod_labels: Mapping[str, str]) -> PodAffinityTerm:
    sel = label_selector(d.get("labelSelector"))
    keys = d.get("matchLabelKeys") or ()
    if keys:
        extra = tuple((k, pod_labels[k]) for k in keys if k in pod_labels)
        sel = LabelSelector(tuple(sorted(set(sel.match_labels) | set(extra))), sel.match_expressions)
    return PodAffinityTerm(sel, d["topologyKey"], tuple(d.get("namespaces") or ()),
                           all_namespaces=d.get("namespaceSelector") == {})


def _sum(lists: list[Mapping[str, Any]]) -> Resources:
    total = Resources()
    for r in lists:
        total = total + Resources({k: parse_resource(k, v) for k, v in (r or {}).items()})
    return total


def _container_requests(c: Mapping[str, Any]) -> Mapping[str, Any]:
    res = c.get("resources") or {}
    # As the API server defaults: requests default to limits when only limits are set.
    return {**(res.get("limits") or {}), **(res.get("requests") or {})}


def effective_requests(spec: Mapping[str, Any]) -> Resources:
    """max(sum of containers + sidecars, each init container + sidecars started before it)
    plus pod overhead, plus one `pods`."""
    containers = _sum([_container_requests(c) for c in spec.get("containers") or ()])
    sidecars = Resources()
    init_peak = Resources()
    for c in spec.get("initContainers") or ():
        req = _sum([_container_requests(c)])
        if c.get("restartPolicy") == "Always":
            sidecars = sidecars + req
            init_peak = init_peak.maximum(sidecars)
        else:
            init_peak = init_peak.maximum(sidecars + req)
    total = (containers + sidecars).maximum(init_peak)
    total = total + _sum([spec.get("overhead") or {}])
    return total + Resources({PODS: 1})


def _tolerations(items: list[dict] | None) -> tuple[Toleration, ...]:
    return tuple(Toleration(t.get("key", "") or "", t.get("operator", "Equal") or "Equal",
                            str(t.get("value", "") or ""), t.get("effect", "") or "") for t in items or ())


def taints(items: list[dict] | None) -> tuple[Taint, ...]:
    return tuple(Taint(t["key"], str(t.get("value", "") or ""), t.get("effect", "NoSchedule")) for t in items or ())


def pod_from_k8s(doc: Mapping[str, Any], volume_zones: VolumeZones | None = None) -> Pod:
    meta = doc.get("metadata") or {}
    spec = doc.get("spec") or {}
    ns = meta.get("namespace") or "default"
    labels = {str(k): str(v) for k, v in (meta.get("labels") or {}).items()}
    aff = spec.get("affinity") or {}
    node_aff = aff.get("nodeAffinity") or {}
    required = node_aff.get("requiredDuringSchedulingIgnoredDuringExecution") or {}
    pod_aff = aff.get("podAffinity") or {}
    anti = aff.get("podAntiAffinity") or {}

    def hard(block: Mapping[str, Any]) -> tuple[PodAffinityTerm, ...]:
        return tuple(_affinity_term(t, labels) for t in block.get("requiredDuringSchedulingIgnoredDuringExecution") or ())

    def soft(block: Mapping[str, Any]) -> tuple[tuple[int, PodAffinityTerm], ...]:
        return tuple((int(t.get("weight", 1)), _affinity_term(t["podAffinityTerm"], labels))
                     for t in block.get("preferredDuringSchedulingIgnoredDuringExecution") or ())

    spreads = []
    for s in spec.get("topologySpreadConstraints") or ():
        sel = label_selector(s.get("labelSelector"))
        keys = s.get("matchLabelKeys") or ()
        if keys:
            extra = tuple((k, labels[k]) for k in keys if k in labels)
            sel = LabelSelector(tuple(sorted(set(sel.match_labels) | set(extra))), sel.match_expressions)
        spreads.append(SpreadConstraint(int(s.get("maxSkew", 1)), s["topologyKey"], sel,
                                        s.get("whenUnsatisfiable", "DoNotSchedule") == "DoNotSchedule",
                                        s.get("minDomains")))
    ports = []
    for c in list(spec.get("containers") or ()) + list(spec.get("initContainers") or ()):
        for p in c.get("ports") or ():
            if p.get("hostPort"):
                ports.append(HostPort(int(p["hostPort"]), p.get("protocol", "TCP") or "TCP", p.get("hostIP", "") or ""))
    zones: set[str] | None = None
    for v in spec.get("volumes") or ():
        claim = (v.get("persistentVolumeClaim") or {}).get("claimName")
        if claim and volume_zones and (ns, claim) in volume_zones:
            z = set(volume_zones[(ns, claim)])
            zones = z if zones is None else zones & z
    node_selector = tuple(Req(k, "In", (str(v),)) for k, v in sorted((spec.get("nodeSelector") or {}).items()))
    return Pod(
        namespace=ns,
        name=meta.get("name") or meta.get("generateName") or "pod",
        requests=effective_requests(spec),
        labels=tuple(sorted(labels.items())),
        node_selector=node_selector,
        required_terms=tuple(_term(t) for t in required.get("nodeSelectorTerms") or ()),
        preferred_terms=tuple((int(t.get("weight", 1)), _term(t.get("preference") or {}))
                              for t in node_aff.get("preferredDuringSchedulingIgnoredDuringExecution") or ()),
        tolerations=_tolerations(spec.get("tolerations")),
        affinity=hard(pod_aff),
        anti_affinity=hard(anti),
        preferred_affinity=soft(pod_aff),
        preferred_anti_affinity=soft(anti),
        spread=tuple(spreads),
        host_ports=tuple(sorted(set(ports), key=lambda p: (p.port, p.protocol, p.ip))),
        volume_zones=tuple(sorted(zones)) if zones is not None else None,
        node_name=spec.get("nodeName") or None,
        uid=meta.get("uid", "") or "",
    )


def node_from_k8s(doc: Mapping[str, Any]) -> Node:
    meta = doc.get("metadata") or {}
    spec = doc.get("spec") or {}
    status = doc.get("status") or {}
    labels = {str(k): str(v) for k, v in (meta.get("labels") or {}).items()}
    labels.setdefault("kubernetes.io/hostname", meta["name"])
    alloc = status.get("allocatable") or status.get("capacity") or {}
    conditions = {c.get("type"): c.get("status") for c in status.get("conditions") or ()}
    node_taints = taints(spec.get("taints"))
    in_flight = conditions.get("Ready") not in (None, "True") or any(
        t.key in ("karpenter.sh/unregistered", "node.kubernetes.io/not-ready") for t in node_taints)
    ann = meta.get("annotations") or {}
    return Node(
        name=meta["name"],
        labels=labels,
        allocatable=Resources.parse(alloc),
        taints=node_taints,
        in_flight=in_flight or ann.get("provisioner.sh/in-flight") == "true",
        unschedulable=bool(spec.get("unschedulable")),
    )


def daemonset_from_k8s(doc: Mapping[str, Any]) -> DaemonSet:
    meta = doc.get("metadata") or {}
    template = (doc.get("spec") or {}).get("template") or {}
    pod_doc = {"metadata": {**(template.get("metadata") or {}), "namespace": meta.get("namespace", "default"),
                            "name": meta.get("name", "ds")}, "spec": template.get("spec") or {}}
    return DaemonSet(meta.get("namespace", "default"), meta.get("name", "ds"), pod_from_k8s(pod_doc))


def volume_zones_from_k8s(docs: list[Mapping[str, Any]]) -> dict[tuple[str, str], tuple[str, ...]]:
    """Zones of bound PersistentVolumeClaims, from PV node affinity (or zone labels)."""
    pv_zones: dict[str, tuple[str, ...]] = {}
    for d in docs:
        if d.get("kind") != "PersistentVolume":
            continue
        meta = d.get("metadata") or {}
        zones: set[str] = set()
        for key in _ZONE_KEYS:
            if key in (meta.get("labels") or {}):
                zones.add(meta["labels"][key])
        req = (((d.get("spec") or {}).get("nodeAffinity") or {}).get("required") or {})
        for t in req.get("nodeSelectorTerms") or ():
            for e in t.get("matchExpressions") or ():
                if e.get("key") in _ZONE_KEYS and e.get("operator") == "In":
                    zones.update(e.get("values") or ())
        if zones:
            pv_zones[meta["name"]] = tuple(sorted(zones))
    out = {}
    for d in docs:
        if d.get("kind") != "PersistentVolumeClaim":
            continue
        meta = d.get("metadata") or {}
        vol = (d.get("spec") or {}).get("volumeName")
        if vol in pv_zones:
            out[(meta.get("namespace") or "default", meta["name"])] = pv_zones[vol]
    return out
