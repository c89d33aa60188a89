"""The simulation's input and output values."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from provisioner.catalog.catalog import Catalog
from provisioner.catalog.unavailable import UnavailableOfferings
from provisioner.scheduling.model import DaemonSet, Node, Pod

MAX_INSTANCE_TYPES = 60


@dataclass(frozen=True)
class SchedulingInput:
    pods: tuple[Pod, ...]  # pending pods, plus pods bound to existing nodes (node_name set)
    nodepools: tuple[Any, ...]  # provisioner.api NodePool
    catalog: Catalog
    nodeclasses: tuple[Any, ...] = ()  # provisioner.api NodeClass
    nodes: tuple[Node, ...] = ()  # existing and in-flight nodes
    daemonsets: tuple[DaemonSet, ...] = ()
    unavailable: UnavailableOfferings | None = None
    max_instance_types: int = MAX_INSTANCE_TYPES
    compute_bound: bool = True
    # time for repacking the new nodes from the configuration LP (scheduling/repack.py); 0: off.
    # Off by default (a pure, fast call); `provisioner simulate` gives it 8 s (within 12 s in all).
    repack_seconds: float = 0.0
    # time for the configuration-LP lower bound (scheduling/configuration_bound.py), taken
    # with the resource LP's when higher; 0: the resource LP alone.
    bound_seconds: float = 0.0
    # > 0: the whole call within about this many seconds: the bound's and the repack's times
    # shrink to what the placement leaves (the placement itself always runs to the end).
    time_limit: float = 0.0


@dataclass(frozen=True)
class PlannedNode:
    name: str
    nodepool: str | None
    existing: bool
    instance_type: str | None
    instance_types: tuple[str, ...]  # compatible types, cheapest first (launch flexibility)
    capacity_type: str | None
    zone: str | None
    price_per_hour: float
    pods: tuple[str, ...]  # "namespace/name" placed on this node by the plan

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "nodepool": self.nodepool, "existing": self.existing,
                "instance_type": self.instance_type, "instance_types": list(self.instance_types),
                "capacity_type": self.capacity_type, "zone": self.zone,
                "price_per_hour": round(self.price_per_hour, 6), "pods": list(self.pods)}


@dataclass(frozen=True)
class Unschedulable:
    pod: str
    reason: str


@dataclass(frozen=True)
class Plan:
    nodes: tuple[PlannedNode, ...]
    unschedulable: tuple[Unschedulable, ...]
    cost_per_hour: float  # new nodes only
    lower_bound_per_hour: float
    solve_seconds: float
    placements: dict[str, str] = field(default_factory=dict)  # pod -> node name

    @property
    def new_nodes(self) -> tuple[PlannedNode, ...]:
        return tuple(n for n in self.nodes if not n.existing)

    @property
    def gap(self) -> float:
        """Relative optimality gap: (cost - lower bound) / cost (0 when nothing is bought)."""
        if self.cost_per_hour <= 0:
            return 0.0
        return max(self.cost_per_hour - self.lower_bound_per_hour, 0.0) / self.cost_per_hour

    def to_json(self) -> dict[str, Any]:
        return {
            "nodes": [n.to_json() for n in self.nodes],
            "unschedulable": [{"pod": u.pod, "reason": u.reason} for u in self.unschedulable],
            "cost_per_hour": round(self.cost_per_hour, 6),
            "lower_bound_per_hour": round(self.lower_bound_per_hour, 6),
            "gap": round(self.gap, 6),
            "solve_seconds": round(self.solve_seconds, 6),
        }
