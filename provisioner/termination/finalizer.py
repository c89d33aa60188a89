"""The finalizer on our Nodes: a `kubectl delete node` only marks the Node deleted; the disruption
controller then drains it, removes its instance through a stack update, and lifts the finalizer.

The local cloud's node registrar also lifts it when the instance is already gone (nothing is left
for the finalizer to guarantee), so a cluster without a running controller never keeps a Node forever.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

FINALIZER = "provisioner.sh/termination"


def has(node: dict) -> bool:
    return FINALIZER in ((node.get("metadata") or {}).get("finalizers") or ())


def _set(kube: Any, name: str, add: bool, attempts: int = 5) -> bool:
    """Add or lift the finalizer with a resourceVersion precondition (retried on conflict). False if the Node is gone."""
    path = f"/api/v1/nodes/{quote(name)}"
    for _ in range(attempts):
        status, node = kube.request("GET", path)
        if status == 404:
            return False
        if status != 200:
            raise RuntimeError(f"get node {name}: HTTP {status}")
        meta = node["metadata"]
        current = list(meta.get("finalizers") or ())
        if (FINALIZER in current) == add:
            return True
        if add and meta.get("deletionTimestamp"):
            return True  # a Node being deleted accepts no new finalizer
        wanted = current + [FINALIZER] if add else [f for f in current if f != FINALIZER]
        body = {"metadata": {"finalizers": wanted, "resourceVersion": meta["resourceVersion"]}}
        status, _ = kube.request("PATCH", path, body, content_type="application/merge-patch+json")
        if status == 200:
            return True
        if status == 404:
            return False
        if status != 409:
            raise RuntimeError(f"patch finalizers of node {name}: HTTP {status}")
    raise RuntimeError(f"patch finalizers of node {name}: conflict after {attempts} attempts")


def add(kube: Any, name: str) -> bool:
    return _set(kube, name, True)


def lift(kube: Any, name: str) -> bool:
    return _set(kube, name, False)
