"""Typed inputs of the scheduling simulation: pods, existing nodes, DaemonSets."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from provisioner.catalog.resources import Resources
from provisioner.scheduling.requirements import LabelSelector, Req, Term

HOSTNAME = "kubernetes.io/hostname"
ZONE = "topology.kubernetes.io/zone"


@dataclass(frozen=True, slots=True)
class Taint:
    key: str
    value: str = ""
    effect: str = "NoSchedule"


@dataclass(frozen=True, slots=True)
class Toleration:
    key: str = ""
    operator: str = "Equal"  # Equal | Exists
    value: str = ""
    effect: str = ""  # empty: every effect

    def tolerates(self, taint: Taint) -> bool:
        if self.effect and self.effect != taint.effect:
            return False
        if not self.key:
            return self.operator == "Exists"
        if self.key != taint.key:
            return False
        return self.operator == "Exists" or self.value == taint.value


def untolerated(taints: tuple[Taint, ...], tolerations: tuple[Toleration, ...]) -> list[Taint]:
    """Hard taints (NoSchedule, NoExecute) no toleration covers."""
    return [t for t in taints if t.effect in ("NoSchedule", "NoExecute")
            and not any(tol.tolerates(t) for tol in tolerations)]


@dataclass(frozen=True, slots=True)
class PodAffinityTerm:
    selector: LabelSelector
    topology_key: str
    namespaces: tuple[str, ...] = ()  # empty: the pod's own namespace
    all_namespaces: bool = False  # namespaceSelector: {}

    def selects(self, own_namespace: str, namespace: str, labels: Mapping[str, str]) -> bool:
        if not self.all_namespaces:
            allowed = self.namespaces or (own_namespace,)
            if namespace not in allowed:
                return False
        return self.selector.matches(labels)


@dataclass(frozen=True, slots=True)
class SpreadConstraint:
    max_skew: int
    topology_key: str
    selector: LabelSelector
    hard: bool = True  # DoNotSchedule; False is ScheduleAnyway
    min_domains: int | None = None


@dataclass(frozen=True, slots=True)
class HostPort:
    port: int
    protocol: str = "TCP"
    ip: str = ""

    def conflicts(self, other: "HostPort") -> bool:
        if self.port != other.port or self.protocol != other.protocol:
            return False
        wildcard = ("", "0.0.0.0", "::")
        return self.ip in wildcard or other.ip in wildcard or self.ip == other.ip


@dataclass(frozen=True)
class Pod:
    namespace: str
    name: str
    requests: Resources = field(default_factory=Resources)
    labels: tuple[tuple[str, str], ...] = ()
    node_selector: tuple[Req, ...] = ()
    required_terms: tuple[Term, ...] = ()  # required node affinity: OR of terms
    preferred_terms: tuple[tuple[int, Term], ...] = ()  # (weight, term)
    tolerations: tuple[Toleration, ...] = ()
    affinity: tuple[PodAffinityTerm, ...] = ()
    anti_affinity: tuple[PodAffinityTerm, ...] = ()
    preferred_affinity: tuple[tuple[int, PodAffinityTerm], ...] = ()
    preferred_anti_affinity: tuple[tuple[int, PodAffinityTerm], ...] = ()
    spread: tuple[SpreadConstraint, ...] = ()
    host_ports: tuple[HostPort, ...] = ()
    volume_zones: tuple[str, ...] | None = None  # zones allowed by bound volumes
    node_name: str | None = None  # bound pods (already running, or nominated)
    uid: str = ""

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def label_map(self) -> dict[str, str]:
        return dict(self.labels)

    def equivalence_key(self) -> tuple:
        """Everything that affects scheduling; pods with equal keys are interchangeable."""
        return (self.namespace, self.requests, self.labels, self.node_selector, self.required_terms,
                self.preferred_terms, self.tolerations, self.affinity, self.anti_affinity,
                self.preferred_affinity, self.preferred_anti_affinity, self.spread, self.host_ports,
                self.volume_zones)


@dataclass(frozen=True)
class Node:
    """A node that exists (or is being launched: in_flight) before this simulation."""

    name: str
    labels: Mapping[str, str]
    allocatable: Resources
    taints: tuple[Taint, ...] = ()
    in_flight: bool = False
    unschedulable: bool = False
    price_per_hour: float = 0.0

    def __hash__(self) -> int:
        return hash(self.name)


@dataclass(frozen=True)
class DaemonSet:
    namespace: str
    name: str
    pod: Pod  # the pod template as a pod (requests, selectors, tolerations)
