"""The resources the controller watches, and how each is slimmed before it is kept."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

Obj = dict[str, Any]


@dataclass(frozen=True)
class Kind:
    name: str  # short key in the store
    path: str  # cluster-wide list/watch path
    slim: Callable[[Obj], Obj]
    optional: bool = False  # a CRD that may not be installed yet: 404 means "none"


def key_of(obj: Obj) -> str:
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace")
    return f"{ns}/{meta['name']}" if ns else meta["name"]


def _meta(obj: Obj, annotations: bool = True) -> Obj:
    m = obj.get("metadata") or {}
    out = {k: m[k] for k in ("name", "namespace", "uid", "labels", "resourceVersion", "generation",
                             "ownerReferences", "deletionTimestamp", "creationTimestamp", "finalizers") if k in m}
    if annotations and m.get("annotations"):
        out["annotations"] = m["annotations"]
    return out


# Pod annotations the disruption controller reads; the rest (often a large last-applied copy) is dropped.
POD_ANNOTATIONS = ("provisioner.sh/do-not-disrupt", "karpenter.sh/do-not-disrupt", "kubernetes.io/config.mirror")


def _container(c: Obj) -> Obj:
    return {k: c[k] for k in ("name", "resources", "ports", "restartPolicy") if k in c}


def slim_pod(obj: Obj) -> Obj:
    """What scheduling and status reporting read; a 1,000-pod cluster stays a few MB."""
    spec = obj.get("spec") or {}
    keep = {k: spec[k] for k in ("nodeName", "nodeSelector", "affinity", "tolerations", "topologySpreadConstraints",
                                 "volumes", "overhead", "priority", "schedulerName", "priorityClassName",
                                 "terminationGracePeriodSeconds") if k in spec}
    keep["containers"] = [_container(c) for c in spec.get("containers") or ()]
    if spec.get("initContainers"):
        keep["initContainers"] = [_container(c) for c in spec["initContainers"]]
    if keep.get("volumes"):
        keep["volumes"] = [v for v in keep["volumes"] if "persistentVolumeClaim" in v]
    status = obj.get("status") or {}
    meta = _meta(obj, annotations=False)
    notes = {k: v for k, v in ((obj.get("metadata") or {}).get("annotations") or {}).items() if k in POD_ANNOTATIONS}
    if notes:
        meta["annotations"] = notes
    return {"metadata": meta, "spec": keep,
            "status": {k: status[k] for k in ("phase", "conditions", "nominatedNodeName") if k in status}}


def slim_node(obj: Obj) -> Obj:
    status = obj.get("status") or {}
    return {"metadata": _meta(obj), "spec": obj.get("spec") or {},
            "status": {k: status[k] for k in ("capacity", "allocatable", "conditions") if k in status}}


def slim_generic(obj: Obj) -> Obj:
    out = dict(obj)
    meta = dict(out.get("metadata") or {})
    meta.pop("managedFields", None)
    out["metadata"] = meta
    return out


def slim_daemonset(obj: Obj) -> Obj:
    spec = obj.get("spec") or {}
    template = spec.get("template") or {}
    return {"metadata": _meta(obj, annotations=False),
            "spec": {"template": {"metadata": {"labels": (template.get("metadata") or {}).get("labels") or {}},
                                  "spec": slim_pod({"spec": template.get("spec") or {}})["spec"]}}}


PODS = Kind("pods", "/api/v1/pods", slim_pod)
NODES = Kind("nodes", "/api/v1/nodes", slim_node)
NODEPOOLS = Kind("nodepools", "/apis/provisioner.sh/v1/nodepools", slim_generic, optional=True)
NODECLASSES = Kind("nodeclasses", "/apis/provisioner.sh/v1/nodeclasses", slim_generic, optional=True)
DAEMONSETS = Kind("daemonsets", "/apis/apps/v1/daemonsets", slim_daemonset)
PDBS = Kind("pdbs", "/apis/policy/v1/poddisruptionbudgets", slim_generic)
PVCS = Kind("pvcs", "/api/v1/persistentvolumeclaims", slim_generic)
PVS = Kind("pvs", "/api/v1/persistentvolumes", slim_generic)

ALL = (PODS, NODES, NODEPOOLS, NODECLASSES, DAEMONSETS, PDBS, PVCS, PVS)
