"""Structured results of stack operations, built from the engine's event stream."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from provisioner.fleet.desired import DesiredNodeSet

FLEET_TYPE = "aws:ec2/fleet:Fleet"
LT_TYPE = "aws:ec2/launchTemplate:LaunchTemplate"
CHANGING_OPS = ("create", "update", "replace", "delete", "create-replacement", "delete-replaced")


@dataclass(frozen=True)
class ResourceChange:
    op: str
    kind: str  # "node", "launch-template" or "other"
    name: str
    urn: str
    reason: str = ""
    diffs: tuple[str, ...] = ()


@dataclass(frozen=True)
class PolicyViolation:
    policy: str
    pack: str
    level: str
    message: str
    urn: str = ""


@dataclass(frozen=True)
class ChangeSet:
    changes: tuple[ResourceChange, ...] = ()
    violations: tuple[PolicyViolation, ...] = ()
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def has_changes(self) -> bool:
        return any(c.op in CHANGING_OPS for c in self.changes)

    def nodes(self, op: str) -> list[str]:
        return [c.name for c in self.changes if c.kind == "node" and c.op == op]

    def to_dict(self) -> dict[str, Any]:
        return {
            "changes": [c.__dict__ | {"diffs": list(c.diffs)} for c in self.changes if c.op != "same"],
            "violations": [v.__dict__ for v in self.violations],
            "counts": self.counts,
        }


@dataclass(frozen=True)
class UpdateRecord:
    version: int | None
    kind: str
    result: str
    message: str
    start_time: datetime
    end_time: datetime | None
    resource_changes: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version, "kind": self.kind, "result": self.result, "message": self.message,
            "start_time": self.start_time.isoformat(), "end_time": self.end_time.isoformat() if self.end_time else None,
            "resource_changes": self.resource_changes,
        }


class EventCollector:
    """An `on_event` callback that turns engine events into ResourceChanges and PolicyViolations."""

    def __init__(self, desired: DesiredNodeSet | None = None) -> None:
        self.desired = {n.name: n for n in desired.nodes} if desired else {}
        self.changes: dict[str, ResourceChange] = {}
        self.violations: list[PolicyViolation] = []
        self.diagnostics: list[str] = []

    def __call__(self, event: Any) -> None:
        if event.resource_pre_event is not None:
            self._step(event.resource_pre_event.metadata)
        elif event.policy_event is not None:
            p = event.policy_event
            self.violations.append(PolicyViolation(
                policy=p.policy_name, pack=p.policy_pack_name, level=str(p.enforcement_level),
                message=p.message.strip(), urn=p.resource_urn or ""))
        elif event.diagnostic_event is not None and event.diagnostic_event.severity == "error":
            self.diagnostics.append(event.diagnostic_event.message.strip())

    def _step(self, meta: Any) -> None:
        urn = meta.urn
        rtype = meta.type
        logical = urn.rsplit("::", 1)[-1]
        op = str(getattr(meta.op, "value", meta.op))
        if op in ("create-replacement", "delete-replaced"):
            op = "replace"  # one replacement is three engine steps on the same URN
        if rtype == FLEET_TYPE:
            kind, name = "node", logical.removeprefix("node-")
        elif rtype == LT_TYPE:
            kind, name = "launch-template", logical.removeprefix("lt-")
        else:
            kind, name = "other", logical
        diffs = tuple(meta.diffs or ())
        self.changes[urn] = ResourceChange(op=op, kind=kind, name=name, urn=urn,
                                           reason=self._reason(kind, name, op, diffs), diffs=diffs)

    def _reason(self, kind: str, name: str, op: str, diffs: tuple[str, ...]) -> str:
        if kind == "node":
            if op == "create" and name in self.desired:
                return self.desired[name].reason or "in the desired node set"
            if op in ("delete", "delete-replaced") and name not in self.desired:
                return "no longer in the desired node set"
            if op in ("update", "replace"):
                return "changed: " + ", ".join(diffs) if diffs else "changed"
        if kind == "launch-template":
            return {"create": "new launch template content", "delete": "no node uses this content any more"}.get(op, "")
        return ""

    def result(self) -> ChangeSet:
        counts: dict[str, int] = {}
        for c in self.changes.values():
            counts[c.op] = counts.get(c.op, 0) + 1
        return ChangeSet(changes=tuple(self.changes.values()), violations=tuple(self.violations), counts=counts)
