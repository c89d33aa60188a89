"""Which PodDisruptionBudgets stop a pod's eviction now, for explanations (Events, drain results)."""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from provisioner.scheduling.convert import label_selector

Obj = Mapping[str, Any]


def selects(pdb: Obj, pod: Obj) -> bool:
    """Same namespace and the selector matches (policy/v1: `{}` selects every pod, no selector none)."""
    pmeta, dmeta = pod.get("metadata") or {}, pdb.get("metadata") or {}
    if pmeta.get("namespace", "default") != dmeta.get("namespace", "default"):
        return False
    selector = (pdb.get("spec") or {}).get("selector")
    return selector is not None and label_selector(selector).matches(pmeta.get("labels") or {})


def blocking(pod: Obj, pdbs: Iterable[Obj]) -> list[str]:
    """`namespace/name` of each PDB selecting `pod` that allows no disruption now (sorted)."""
    out = []
    for pdb in pdbs:
        if selects(pdb, pod) and int((pdb.get("status") or {}).get("disruptionsAllowed", 0)) <= 0:
            meta = pdb["metadata"]
            out.append(f"{meta.get('namespace', 'default')}/{meta['name']}")
    return sorted(out)
