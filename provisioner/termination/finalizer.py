"""The finalizer on our Nodes: a `kubectl delete node` only marks the Node deleted; the disruption
controller then drains it, removes its instance through a stack update, and lifts the finalizer.

The local cloud's node registrar also lifts it when the instance is already gone (nothing is left
for the finalizer to guarantee), so a cluster without a running controller never keeps a Node forever.
"""

from __future__ import annotations

from typing import Any, Callable
from urllib.parse import quote

FINALIZER = "provisioner.sh/termination"


def has(node: dict) -> bool:
    return FINALIZER in ((node.get("metadata") or {}).get("finalizers") or ())


def update_node(kube: Any, name: str, change: Callable[[dict], dict | None], what: str, attempts: int = 10) -> bool:
    """GET the Node, merge-patch what `change(node)` returns (None: nothing to do) with its resourceVersion
    as precondition, retried on conflict. False if the Node is gone."""
    path = f"/api/v1/nodes/{quote(name)}"
    for _ in range(attempts):
        status, node = kube.request("GET", path)
        if status == 404:
            return False
        if status != 200:
            raise RuntimeError(f"get node {name}: HTTP {status}")
        body = change(node)
        if body is None:
            return True
        body.setdefault("metadata", {})["resourceVersion"] = node["metadata"]["resourceVersion"]
        status, _ = kube.request("PATCH", path, body, None, "application/merge-patch+json")
        if status == 200:
            return True
        if status == 404:
            return False
        if status != 409:
            raise RuntimeError(f"{what} node {name}: HTTP {status}")
    raise RuntimeError(f"{what} node {name}: conflict after {attempts} attempts")


def _set(kube: Any, name: str, add: bool) -> bool:
    def change(node: dict) -> dict | None:
        meta = node["metadata"]
        current = list(meta.get("finalizers") or ())
        if (FINALIZER in current) == add or (add and meta.get("deletionTimestamp")):
            return None  # already so; or a Node being deleted, which accepts no new finalizer
        return {"metadata": {"finalizers": current + [FINALIZER] if add
                             else [f for f in current if f != FINALIZER]}}

    return update_node(kube, name, change, "patch finalizers of", attempts=5)


def add(kube: Any, name: str) -> bool:
    return _set(kube, name, True)


def lift(kube: Any, name: str) -> bool:
    return _set(kube, name, False)
