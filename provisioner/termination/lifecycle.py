"""A node's end as stack history: the drain's start is one update (the node marked `draining`, with
the reason and the expected savings), its removal another that names the first; then the Node goes.

    started = start_drain(fleet, desired, "pool-abcde", "Empty", savings=0.096)
    result = drain(kube, "pool-abcde", termination_grace_period=pool.termination_grace_period)
    removed = remove(fleet, started.desired, "pool-abcde")   # finds update #N in the history
    delete_node(kube, "pool-abcde")
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any, Iterable, Protocol, Sequence
from urllib.parse import quote

from provisioner.fleet.desired import DesiredNodeSet

PREFIX = "disruption:"


class Fleet(Protocol):
    def apply(self, desired: DesiredNodeSet, message: str) -> Any: ...
    def history(self, limit: int | None = None) -> list[Any]: ...


# ---- pure ----

def _names(nodes: str | Sequence[str]) -> str:
    return nodes if isinstance(nodes, str) else ", ".join(nodes)


def launch_message(replacements: Sequence[str], nodes: Sequence[str], reason: str, detail: str = "") -> str:
    """e.g. `disruption: launching web-xyz12 to replace web-abcde, web-fghij (Underutilized: ...)`."""
    extra = f": {detail}" if detail else ""
    return f"{PREFIX} launching {_names(replacements)} to replace {_names(nodes)} ({reason}{extra})"


def draining_message(nodes: str | Sequence[str], reason: str, savings_per_hour: float | None,
                     replacements: Sequence[str] = (), launch_version: int | None = None) -> str:
    """`savings_per_hour` None: an involuntary removal (a deleted Node), no savings claimed."""
    more = ""
    if replacements:
        at = f" in update #{launch_version}" if launch_version else ""
        more = f"; replaced by {_names(replacements)} launched{at}"
    saves = f", saves ${savings_per_hour:.2f}/h" if savings_per_hour is not None else ""
    return f"{PREFIX} draining {_names(nodes)} ({reason}{saves}{more})"


def removed_message(nodes: str | Sequence[str], reason: str, drain_version: int | None) -> str:
    after = f" after drain started in update #{drain_version}" if drain_version else ""
    return f"{PREFIX} removed {_names(nodes)} ({reason}){after}"


def mark_draining(desired: DesiredNodeSet, nodes: str | Sequence[str], reason: str) -> DesiredNodeSet:
    """The same set with `nodes` in state `draining` and the disruption reason. KeyError if one is absent."""
    names = {nodes} if isinstance(nodes, str) else set(nodes)
    missing = names - {n.name for n in desired.nodes}
    if missing:
        raise KeyError(f"{', '.join(sorted(missing))} not in the desired node set")
    return desired.with_nodes([replace(n, state="draining", reason=reason) if n.name in names else n
                               for n in desired.nodes])


def without_node(desired: DesiredNodeSet, nodes: str | Sequence[str]) -> DesiredNodeSet:
    names = {nodes} if isinstance(nodes, str) else set(nodes)
    return desired.with_nodes([n for n in desired.nodes if n.name not in names])


_DRAINING = re.compile(rf"^{re.escape(PREFIX)} draining (.+?) \(")


_LAUNCHING = re.compile(rf"^{re.escape(PREFIX)} launching (.+?) to replace ")


def replacements_launched(history: Iterable[Any]) -> dict[str, Any]:
    """Replacement node -> when its launch update ended (`disruption: launching X, Y to replace ...`)."""
    out: dict[str, Any] = {}
    for record in history:
        m = _LAUNCHING.match(record.message or "")
        when = getattr(record, "end_time", None) or getattr(record, "start_time", None)
        if m and when is not None and getattr(record, "result", "succeeded") == "succeeded":
            for name in m.group(1).split(", "):
                out.setdefault(name, when)
    return out


def drain_version_in(history: Iterable[Any], node: str) -> int | None:
    """The newest successful update whose message starts the drain of `node` (history newest first)."""
    for record in history:
        m = _DRAINING.match(record.message or "")
        if getattr(record, "result", "succeeded") == "succeeded" and m and node in m.group(1).split(", "):
            return record.version
    return None


# ---- adapters ----

@dataclass(frozen=True)
class Recorded:
    desired: DesiredNodeSet  # the set now in the stack
    version: int | None  # stack update number (None: nothing changed)
    message: str


def start_drain(fleet: Fleet, desired: DesiredNodeSet, node: str, reason: str, savings: float) -> Recorded:
    """Record the start of the drain: a stack update marking `node` draining (tag provisioner.sh/state)."""
    marked = mark_draining(desired, node, reason)
    message = draining_message(node, reason, savings)
    return Recorded(marked, fleet.apply(marked, message).version, message)


def remove(fleet: Fleet, desired: DesiredNodeSet, node: str, drain_version: int | None = None) -> Recorded:
    """Record the removal: a stack update without `node` (its fleet is deleted, the instance terminated).

    The reason is the one the drain recorded on the node; the drain's update number is read from
    the stack history unless given.
    """
    reason = next((n.reason for n in desired.nodes if n.name == node), "") or "removed"
    if drain_version is None:
        drain_version = drain_version_in(fleet.history(limit=50), node)
    rest = without_node(desired, node)
    message = removed_message(node, reason, drain_version)
    return Recorded(rest, fleet.apply(rest, message).version, message)


def delete_node(kube: Any, node: str) -> bool:
    """Delete the Node object; False if it was already gone."""
    status, _ = kube.request("DELETE", f"/api/v1/nodes/{quote(node)}")
    if status not in (200, 202, 404):
        raise RuntimeError(f"delete node {node}: HTTP {status}")
    return status != 404
