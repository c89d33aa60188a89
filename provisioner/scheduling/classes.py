"""Equivalence classes of pods and the constraint sets they are placed under.

Pods with identical requests, labels and constraints are interchangeable, so the simulation
places a class's pods in bulk: 5,000 replicas of a Deployment cost about as much as one.
A class is placed under a list of constraint sets: every preference taken as a hard rule
first, then the preferences dropped one at a time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from provisioner.scheduling.model import HOSTNAME, Pod, PodAffinityTerm, SpreadConstraint, ZONE
from provisioner.scheduling.requirements import Req, Term


@dataclass(eq=False)
class PodClass:
    id: int
    rep: Pod
    req: tuple[int, ...]
    pending: list[Pod] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def namespace(self) -> str:
        return self.rep.namespace

    def take(self, k: int) -> list[Pod]:
        taken, self.pending = self.pending[:k], self.pending[k:]
        return taken


@dataclass(frozen=True)
class Spread:
    key: str
    max_skew: int
    min_domains: int | None
    matching: frozenset[int]  # class ids counted


@dataclass(frozen=True)
class Affinity:
    key: str
    matching: frozenset[int]
    self_match: bool
    describe: str


@dataclass(frozen=True)
class Constraints:
    """One constraint set a class is tried under (required rules plus active preferences)."""

    id: int
    reqs: tuple[Req, ...]
    terms: tuple[Term, ...]
    spreads: tuple[Spread, ...]
    affinities: tuple[Affinity, ...]
    forbid: tuple[tuple[str, frozenset[int]], ...]  # topology key -> classes it may not share a domain with
    relaxed: tuple[str, ...] = ()  # what was dropped to get here

    @property
    def primary_spread(self) -> Spread | None:
        return next((s for s in self.spreads if s.key != HOSTNAME), None)

    @property
    def topology_keys(self) -> set[str]:
        return {s.key for s in self.spreads} | {a.key for a in self.affinities} | {k for k, _ in self.forbid}


def build_classes(pods: list[Pod], dims: tuple[str, ...]) -> tuple[list[PodClass], dict[str, int]]:
    """Classes of all pods (pending and bound); returns classes and bound pod -> class id."""
    by_key: dict[tuple, PodClass] = {}
    bound: dict[str, int] = {}
    for p in pods:
        k = p.equivalence_key()
        c = by_key.get(k)
        if c is None:
            c = PodClass(len(by_key), p, tuple(p.requests.get(d, 0) for d in dims), labels=dict(p.labels))
            by_key[k] = c
        if p.node_name:
            bound[p.key] = c.id
        else:
            c.pending.append(p)
    return list(by_key.values()), bound


_MATCH_CACHE: dict = {}


def _matching(term: PodAffinityTerm, owner: PodClass, classes: list[PodClass]) -> frozenset[int]:
    key = (id(classes), term, owner.namespace)
    hit = _MATCH_CACHE.get(key)
    if hit is None:
        hit = frozenset(c.id for c in classes if term.selects(owner.namespace, c.namespace, c.labels))
        _MATCH_CACHE[key] = hit
    return hit


def _spread_matching(s: SpreadConstraint, owner: PodClass, classes: list[PodClass]) -> frozenset[int]:
    key = (id(classes), "spread", s.selector, owner.namespace)
    hit = _MATCH_CACHE.get(key)
    if hit is None:
        hit = frozenset(c.id for c in classes if c.namespace == owner.namespace and s.selector.matches(c.labels))
        _MATCH_CACHE[key] = hit
    return hit


class ConstraintBuilder:
    """Builds each class's constraint sets; anti-affinity and host ports are symmetric."""

    def __init__(self, classes: list[PodClass]) -> None:
        _MATCH_CACHE.clear()
        self.classes = classes
        self._next = 0
        # Symmetric exclusions from other classes' required anti-affinity and host ports.
        self.symmetric: dict[int, dict[str, set[int]]] = {c.id: {} for c in classes}
        with_anti = [c for c in classes if c.rep.anti_affinity]
        for owner in with_anti:
            for term in owner.rep.anti_affinity:
                for cid in _matching(term, owner, classes):
                    self.symmetric[cid].setdefault(term.topology_key, set()).add(owner.id)
                    self.symmetric[owner.id].setdefault(term.topology_key, set()).add(cid)
        with_ports = [c for c in classes if c.rep.host_ports]
        for a in with_ports:
            for b in with_ports:
                if any(pa.conflicts(pb) for pa in a.rep.host_ports for pb in b.rep.host_ports):
                    self.symmetric[a.id].setdefault(HOSTNAME, set()).add(b.id)

    def levels(self, c: PodClass) -> list[Constraints]:
        """Constraint sets from strictest (all preferences) to required-only."""
        pod = c.rep
        prefs: list[tuple[str, object]] = []
        prefs += [("preferred pod anti-affinity", t) for _, t in sorted(pod.preferred_anti_affinity, key=lambda x: x[0])]
        prefs += [("preferred pod affinity", t) for _, t in sorted(pod.preferred_affinity, key=lambda x: x[0])]
        prefs += [("preferred node affinity", t) for _, t in sorted(pod.preferred_terms, key=lambda x: x[0])]
        prefs += [("ScheduleAnyway topology spread", s) for s in pod.spread if not s.hard]
        out = []
        for drop in range(len(prefs) + 1):
            active = prefs[drop:]
            out.append(self._build(c, active, tuple(name for name, _ in prefs[:drop])))
        return out

    def _build(self, c: PodClass, active: list[tuple[str, object]], relaxed: tuple[str, ...]) -> Constraints:
        pod = c.rep
        reqs = tuple(pod.node_selector)
        if pod.volume_zones is not None:
            reqs += (Req(ZONE, "In", pod.volume_zones),)
        terms = pod.required_terms
        pref_terms = [t for name, t in active if name == "preferred node affinity"]
        for pt in pref_terms:
            terms = tuple(t + pt for t in terms) if terms else (pt,)  # type: ignore[operator]
        spreads = [s for s in pod.spread if s.hard] + [t for name, t in active if name.startswith("ScheduleAnyway")]
        spread_objs = tuple(Spread(s.topology_key, s.max_skew, s.min_domains, _spread_matching(s, c, self.classes))
                            for s in spreads)  # type: ignore[union-attr]
        aff_terms = list(pod.affinity) + [t for name, t in active if name == "preferred pod affinity"]
        affinities = tuple(Affinity(t.topology_key, _matching(t, c, self.classes),
                                    t.selects(c.namespace, c.namespace, c.labels), t.selector.describe())
                           for t in aff_terms)  # type: ignore[union-attr]
        forbid: dict[str, set[int]] = {k: set(v) for k, v in self.symmetric[c.id].items()}
        for name, t in active:
            if name == "preferred pod anti-affinity":
                forbid.setdefault(t.topology_key, set()).update(_matching(t, c, self.classes))  # type: ignore[union-attr,arg-type]
        self._next += 1
        return Constraints(self._next, reqs, terms, spread_objs, affinities,
                           tuple((k, frozenset(v)) for k, v in sorted(forbid.items())), relaxed)
