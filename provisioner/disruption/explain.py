"""`provisioner explain node NAME`, the pure part: why a node exists, what would happen to it next
and why.

Everything comes from what the caller passes in: the world the planner and the disruption pass decide
from, the catalog (prices), the stack history (each update with the desired node set it applied) and
the wall clock. What comes "next" is a what-if: `methods.decide` run on the state of now as if it had
persisted, i.e. empty nodes empty for their NodePool's consolidateAfter and every node's pods unchanged
for long enough. The real controller only acts once that much time has really passed, and anything
that changes in between (a pod created, deleted, a budget window opening) changes the answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Mapping, Sequence

from provisioner.api.patterns import format_duration
from provisioner.api.types import NodePool
from provisioner.disruption import methods
from provisioner.disruption.expiration import created_at
from provisioner.fleet.desired import DesiredNode, DesiredNodeSet
from provisioner.fleet.guardrails import Guardrails
from provisioner.provisioning import planner
from provisioner.state import view
from provisioner.termination.pods import is_workload

Obj = Mapping[str, Any]
WHAT_IF = ("a what-if of the current state: the disruption pass run as if the cluster stayed as it is now "
           "(empty nodes empty for their consolidateAfter, pods unchanged for long enough); any change in "
           "between changes the answer")
LAUNCH_PREFIX = "disruption: launching "


class UnknownNode(LookupError):
    """Neither a Node of the cluster nor a node of the desired node set."""


@dataclass(frozen=True)
class UpdateRef:
    """A stack update, as explain cites it."""

    version: int | None
    message: str
    time: datetime | None = None
    result: str = "succeeded"

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "message": self.message,
                "time": self.time.isoformat() if self.time else None, "result": self.result}

    def text(self) -> str:
        when = f" at {self.time:%Y-%m-%d %H:%M:%S} UTC" if self.time else ""
        failed = f" [{self.result}]" if self.result != "succeeded" else ""
        return f"update #{self.version}{when}: {self.message}{failed}"


@dataclass(frozen=True)
class Next:
    """What the disruption pass would do with the node.

    kind: disrupt (it is in the pass's action), blocked (do-not-disrupt, budget, no replacement),
    waits (another command goes first, or the cluster is not settled), draining (already on its way
    out), kept (nothing to do: needed, or the NodePool does not consolidate it), unmanaged (not ours)."""

    kind: str
    summary: str
    method: str | None = None
    nodes: tuple[str, ...] = ()  # every node of the action (a consolidation may take several)
    replacements: tuple[dict[str, Any], ...] = ()
    savings_per_hour: float | None = None
    blocked: tuple[dict[str, str], ...] = ()
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "summary": self.summary, "method": self.method, "nodes": list(self.nodes),
                "replacements": [dict(r) for r in self.replacements],
                "savings_per_hour": None if self.savings_per_hour is None else round(self.savings_per_hour, 4),
                "blocked": [dict(b) for b in self.blocked], "note": self.note}


@dataclass
class Explanation:
    node: str
    managed: bool  # in the stack's desired node set
    registered: bool  # a Node object exists
    nodepool: str | None = None
    instance_type: str | None = None
    capacity_type: str | None = None
    zone: str | None = None
    price_per_hour: float | None = None
    state: str | None = None  # active | draining (desired node set)
    ready: bool = False
    created: datetime | None = None
    age_seconds: float | None = None
    expires: str | None = None
    pods: list[str] = field(default_factory=list)  # workload pods
    other_pods: list[str] = field(default_factory=list)  # DaemonSet, mirror, finished
    reason: str = ""  # the desired node's reason
    launched_in: UpdateRef | None = None
    mentions: list[UpdateRef] = field(default_factory=list)
    next: Next | None = None
    what_if: str = WHAT_IF
    now: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "node": self.node, "managed": self.managed, "registered": self.registered, "nodepool": self.nodepool,
            "instance_type": self.instance_type, "capacity_type": self.capacity_type, "zone": self.zone,
            "price_per_hour": None if self.price_per_hour is None else round(self.price_per_hour, 4),
            "state": self.state, "ready": self.ready,
            "created": self.created.isoformat() if self.created else None,
            "age_seconds": None if self.age_seconds is None else int(self.age_seconds),
            "age": _duration(self.age_seconds) if self.age_seconds is not None else None,
            "expires": self.expires, "pods": list(self.pods), "other_pods": list(self.other_pods),
            "reason": self.reason,
            "launched_in": self.launched_in.to_dict() if self.launched_in else None,
            "mentions": [m.to_dict() for m in self.mentions],
            "next": self.next.to_dict() if self.next else None,
            "what_if": self.what_if, "now": self.now.isoformat() if self.now else None,
        }

    def to_text(self) -> str:
        lines = [f"Node {self.node}"]
        if not self.managed:
            lines.append("  not in the stack: the provisioner did not launch it (or no longer manages it) "
                         "and never disrupts it")
        price = f"${self.price_per_hour:.4f}/h" if self.price_per_hour is not None else "price unknown"
        lines.append(f"  NodePool {self.nodepool or '-'}, {self.instance_type or '?'} {self.capacity_type or '?'} "
                     f"in {self.zone or '?'}, {price}")
        status = []
        if self.managed:
            status.append(f"state {self.state}")
        status.append("Ready" if self.ready else ("not Ready" if self.registered else "not registered yet"))
        if self.age_seconds is not None:
            status.append(f"age {_duration(self.age_seconds)}")
        if self.expires:
            status.append(self.expires)
        lines.append("  " + ", ".join(status))
        shown = ", ".join(self.pods[:10]) + (f" and {len(self.pods) - 10} more" if len(self.pods) > 10 else "")
        lines.append(f"  workload pods ({len(self.pods)}): {shown or 'none'}"
                     + (f" (+{len(self.other_pods)} DaemonSet/mirror/finished)" if self.other_pods else ""))
        if self.managed or self.launched_in or self.mentions:
            lines.append("")
            lines.append("Why it exists")
            if self.reason:
                lines.append(f"  {self.reason}")
            lines.append(f"  launched in {self.launched_in.text()}" if self.launched_in
                         else "  no stack update in the history contains it")
            for m in self.mentions:
                lines.append(f"  then {m.text()}")
        if self.next is not None:
            lines.append("")
            lines.append("What would happen next")
            lines.append(f"  {self.next.summary}")
            for b in self.next.blocked[1:]:  # the first one is the summary
                lines.append(f"  also {b['reason']}: {b['message']}")
            if self.next.kind in ("kept", "waits") and self.next.note and self.next.note not in self.next.summary:
                lines.append(f"  ({self.next.note})")
            if self.next.kind not in ("unmanaged", "draining"):
                lines.append(f"  This is {self.what_if}.")
        return "\n".join(lines)


def explain(node: str, world: planner.World, catalog: Any,
            history: Sequence[tuple[Any, DesiredNodeSet | None]], now: datetime,
            guardrails: Guardrails | None = None, min_savings_per_hour: float = 0.0,
            churn_guard_seconds: float = 600.0) -> Explanation:
    """Explain `node`. `history` is the stack's history, newest first: (UpdateRecord, the desired node
    set it applied or None). Raises UnknownNode when neither the cluster nor the stack knows it."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    obj = next((n for n in world.nodes if n["metadata"]["name"] == node), None)
    desired = next((n for n in world.desired.nodes if n.name == node), None)
    if obj is None and desired is None:
        raise UnknownNode(f"node {node} not found: no Node of that name in the cluster and none in the stack's "
                          "desired node set")
    ex = Explanation(node=node, managed=desired is not None, registered=obj is not None, now=now)
    _identity(ex, obj, desired, world, catalog, now)
    _history(ex, history)
    ex.next = _next(ex, obj, desired, world, catalog, now, guardrails, min_savings_per_hour, churn_guard_seconds)
    return ex


# ---- identity ---------------------------------------------------------------------------------------

def _identity(ex: Explanation, obj: Obj | None, desired: DesiredNode | None, world: planner.World, catalog: Any,
              now: datetime) -> None:
    prices = planner._prices(catalog)
    if obj is not None:
        labels = obj["metadata"].get("labels") or {}
        ex.nodepool = view.nodepool_of(obj)
        ex.instance_type = labels.get("node.kubernetes.io/instance-type")
        ex.zone = labels.get("topology.kubernetes.io/zone")
        ex.capacity_type = labels.get("provisioner.sh/capacity-type") or labels.get("karpenter.sh/capacity-type")
        ex.ready = view.is_ready(obj)
        ex.created = created_at(obj)
        if ex.instance_type and ex.zone:
            ex.price_per_hour = planner._node_price(prices, obj)
    if desired is not None:
        got = world.launched.get(desired.name)
        ex.nodepool = ex.nodepool or desired.node_pool
        ex.instance_type = ex.instance_type or (got.instance_type if got else "|".join(desired.instance_types))
        ex.zone = ex.zone or (got.zone if got else "|".join(desired.zones))
        ex.capacity_type = ex.capacity_type or (got.capacity_type if got else desired.capacity_type)
        if ex.price_per_hour is None:
            ex.price_per_hour = planner.desired_price(prices, desired, got)
        ex.state = desired.state
        ex.reason = desired.reason
    if ex.created is not None:
        ex.age_seconds = max(0.0, (now - ex.created).total_seconds())
        pool = _pools(world).get(ex.nodepool or "")
        if pool is not None and ex.managed:
            if pool.expire_after is None:
                ex.expires = "never expires (expireAfter Never)"
            else:
                left = ex.created + pool.expire_after - now
                ex.expires = (f"expires in {_duration(left.total_seconds())} (expireAfter "
                              f"{format_duration(pool.expire_after)})" if left > timedelta(0)
                              else f"expired (expireAfter {format_duration(pool.expire_after)})")
    for p in world.pods:
        if (p.get("spec") or {}).get("nodeName") != ex.node:
            continue
        if is_workload(p) and not p["metadata"].get("deletionTimestamp"):
            ex.pods.append(view.pod_key(p))
        else:
            ex.other_pods.append(view.pod_key(p))
    ex.pods.sort()
    ex.other_pods.sort()


# ---- history --------------------------------------------------------------------------------------

def _ref(rec: Any) -> UpdateRef:
    at = getattr(rec, "start_time", None)
    if isinstance(at, datetime) and at.tzinfo is None:
        at = at.replace(tzinfo=timezone.utc)  # the Pulumi CLI's history times are UTC
    return UpdateRef(getattr(rec, "version", None), getattr(rec, "message", "") or "", at,
                     getattr(rec, "result", "succeeded") or "")


def _history(ex: Explanation, history: Sequence[tuple[Any, DesiredNodeSet | None]]) -> None:
    """The update that launched the node: the oldest succeeded update of the newest run of updates
    whose desired node set contains it; then the later updates that name it in their message."""
    launched = None
    for rec, desired in history:  # newest first
        if getattr(rec, "kind", "update") != "update" or getattr(rec, "result", "succeeded") != "succeeded" \
                or desired is None:
            continue
        if any(n.name == ex.node for n in desired.nodes):
            launched = rec
        elif launched is not None:
            break  # before this update the node did not exist (an older one of the same name is another node)
    if launched is not None:
        ex.launched_in = _ref(launched)
    named = re.compile(rf"(?<![\w.-]){re.escape(ex.node)}(?![\w-])")
    after = ex.launched_in.version if ex.launched_in and ex.launched_in.version is not None else None
    for rec, _ in reversed(history):  # oldest first
        version = getattr(rec, "version", None)
        if launched is not None and (rec is launched or (after is not None and version is not None
                                                          and version <= after)):
            continue
        if named.search(getattr(rec, "message", "") or ""):
            ex.mentions.append(_ref(rec))


# ---- next ---------------------------------------------------------------------------------------------

def _pools(world: planner.World) -> dict[str, NodePool]:
    return {p.name: p for p in world.nodepools}


def what_if_input(world: planner.World, catalog: Any, now: datetime, guardrails: Guardrails | None = None,
                  min_savings_per_hour: float = 0.0, guarded: Mapping[str, str] | None = None) -> methods.PassInput:
    """The pass input of "the current state persists": every empty node empty for its NodePool's
    consolidateAfter, every node's pods unchanged for as long, settled when no pod is pending and every
    desired node is registered (as the controller decides)."""
    pools = _pools(world)
    counts: dict[str, int] = {n["metadata"]["name"]: 0 for n in world.nodes}
    for p in world.pods:
        on = (p.get("spec") or {}).get("nodeName")
        if on in counts and is_workload(p) and not p["metadata"].get("deletionTimestamp"):
            counts[on] += 1
    empty_since: dict[str, datetime] = {}
    stable_since: dict[str, datetime] = {}
    for n in world.nodes:
        name = n["metadata"]["name"]
        pool = pools.get(view.nodepool_of(n) or "")
        after = pool.disruption.consolidate_after if pool is not None else None
        since = now - (after if after is not None else timedelta(0))
        stable_since[name] = since
        if counts.get(name) == 0:
            empty_since[name] = since
    registered = set(counts)
    settled = (not any(view.is_unschedulable(p) for p in world.pods)
               and all(d.name in registered for d in world.desired.nodes))
    return methods.PassInput(world=world, catalog=catalog, now=now, empty_since=empty_since,
                             stable_since=stable_since, guarded=dict(guarded or {}), settled=settled,
                             guardrails=guardrails or Guardrails(), region=world.desired.region or "us-east-1",
                             min_savings_per_hour=min_savings_per_hour)


def _churn_guarded(ex: Explanation, now: datetime, seconds: float) -> dict[str, str]:
    """The controller's churn guard lives in its memory; a replacement launched less than the guard's
    time ago (its launch update says `disruption: launching`) is treated as protected."""
    ref = ex.launched_in
    if ref is None or ref.time is None or not ref.message.startswith(LAUNCH_PREFIX):
        return {}
    at = ref.time
    if now - at >= timedelta(seconds=seconds):
        return {}
    return {ex.node: f"launched as a replacement in update #{ref.version} at {at:%H:%M:%S} "
                     f"(churn guard {_duration(seconds)})"}


def _next(ex: Explanation, obj: Obj | None, desired: DesiredNode | None, world: planner.World, catalog: Any,
          now: datetime, guardrails: Guardrails | None, min_savings: float, churn_guard_seconds: float) -> Next:
    name = ex.node
    if desired is None:
        return Next("unmanaged", f"nothing: {name} is not in the stack's desired node set, so the provisioner "
                                 "never disrupts it")
    if desired.state == "draining":
        drain = next((m for m in reversed(ex.mentions) if m.message.startswith("disruption: draining ")), None)
        since = f" since update #{drain.version}" if drain else ""
        return Next("draining", f"being drained{since} ({desired.reason or 'disruption'}): its pods are evicted, "
                                "then an update removes it from the stack and its instance is terminated",
                    method=desired.reason or None)
    if obj is None:
        return Next("waits", f"{name} is launching: not registered as a Node yet; nothing is disrupted before it "
                             "is Ready")
    if obj["metadata"].get("deletionTimestamp"):
        return Next("draining", f"{name} was deleted: it is drained, then removed from the stack through an update",
                    method="Deleted")
    inp = what_if_input(world, catalog, now, guardrails, min_savings, _churn_guarded(ex, now, churn_guard_seconds))
    result = methods.decide(inp)
    action = result.action
    note = result.notes.get(name)
    if action is not None and name in action.nodes:
        # a replacement's name is drawn when the controller launches it: only its shape is told
        reps = tuple({"nodepool": r.node_pool, "instance_types": list(r.instance_types),
                      "capacity_type": r.capacity_type, "zones": list(r.zones)} for r in action.replacements)
        how = "removed"
        if reps:
            how = "replaced by " + ", ".join(f"a new {r['instance_types'][0]} {r['capacity_type']} node"
                                             for r in reps)
        others = [n for n in action.nodes if n != name]
        together = f" together with {', '.join(others)}" if others else ""
        return Next("disrupt", f"{action.method}: would be {how}{together}, saves ${action.savings_per_hour:.2f}/h "
                               f"({action.detail})", method=action.method, nodes=action.nodes, replacements=reps,
                    savings_per_hour=action.savings_per_hour, note=note)
    mine = tuple({"reason": b.reason, "message": b.message} for b in result.blocked if b.node == name)
    if mine:
        first = mine[0]
        if first["reason"] == "DoNotDisrupt":
            summary = f"{note or 'kept'} (voluntary disruption is blocked)"
        elif first["reason"] == "Budget":
            summary = f"waits for the budget: {first['message']}"
        elif first["reason"] == "NoReplacement":
            summary = f"kept, no replacement: {first['message']}"
        else:
            summary = f"blocked: {first['message']}"
        return Next("blocked", summary, method=_method_of(note), blocked=mine, note=note)
    if note and not note.startswith("consolidation: no cheaper"):
        kind = "kept" if note.startswith(("kept", "protected", "not Ready")) else "waits"
        return Next(kind, note, method=_method_of(note), note=note)
    if action is not None:
        return Next("waits", f"first {action.method} of {', '.join(action.nodes)} (one disruption runs at a time); "
                             f"{name} is looked at again once that is done", method=None, nodes=action.nodes,
                    note=note)
    pool = _pools(world).get(desired.node_pool)
    if pool is not None:
        d = pool.disruption
        if d.consolidate_after is None:
            return Next("kept", f"kept: NodePool {pool.name} has consolidateAfter Never (neither emptiness nor "
                                "consolidation removes its nodes; expiration and drift replace them)", note=note)
        if ex.pods and d.consolidation_policy != "WhenEmptyOrUnderutilized":
            return Next("kept", f"kept: NodePool {pool.name} consolidates only empty nodes (consolidationPolicy "
                                f"{d.consolidation_policy}) and {name} runs {len(ex.pods)} pods", note=note)
        if ex.pods and not inp.settled:
            return Next("waits", "consolidation waits until the cluster is settled (pods pending or nodes "
                                 "launching)", note=note)
    return Next("kept", "kept: needed (its pods fit nowhere cheaper)", note=note)


def _method_of(note: str | None) -> str | None:
    if not note:
        return None
    head = note.split(":", 1)[0].split(",", 1)[0].split(" ", 1)[0]
    return head if head in methods.METHODS else None


def _duration(seconds: float) -> str:
    s = int(max(0.0, seconds))
    days, rest = divmod(s, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours}h"
    if hours:
        return f"{hours}h{minutes}m"
    return f"{minutes}m{secs}s"
