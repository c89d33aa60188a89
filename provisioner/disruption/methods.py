"""One disruption decision pass, a pure function: which nodes go next, for which reason, with which
replacements, and what is blocked (and by what).

Methods are tried in Karpenter's order, one at a time: Empty, Expired, Drifted, Underutilized.
Every method respects do-not-disrupt (node or pod) and the NodePool's budgets; consolidation
(Underutilized) also waits until the cluster is settled (no pending pod, no node in flight) and
skips nodes protected by the churn guard.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Mapping, Sequence

from provisioner.api.types import NodePool
from provisioner.catalog.catalog import Catalog
from provisioner.catalog.unavailable import UnavailableOfferings
from provisioner.disruption import budgets, emptiness
from provisioner.fleet.desired import DesiredNode, NodeClassSettings
from provisioner.fleet.guardrails import Guardrails
from provisioner.provisioning import planner
from provisioner.state import view
from provisioner.termination.pods import blocked_by_do_not_disrupt, is_workload

Obj = Mapping[str, Any]
METHODS = ("Empty", "Expired", "Drifted", "Underutilized")


@dataclass(frozen=True)
class Action:
    """What one pass decided: remove `nodes` (after launching `replacements`, Ready first)."""

    method: str  # Empty | Expired | Drifted | Underutilized (Deleted: a `kubectl delete node`)
    nodes: tuple[str, ...]
    replacements: tuple[DesiredNode, ...] = ()
    savings_per_hour: float = 0.0
    detail: str = ""  # one line: why these nodes
    settings: Mapping[str, NodeClassSettings] = field(default_factory=dict)  # NodeClasses now, for replacements


@dataclass(frozen=True)
class Blocked:
    node: str | None
    pool: str | None
    reason: str  # DoNotDisrupt | Budget | NoReplacement | NotSettled
    message: str


@dataclass(frozen=True)
class PassInput:
    world: planner.World
    catalog: Catalog
    now: datetime  # wall clock: budgets' schedules, node ages, emptiness
    empty_since: Mapping[str, datetime] = field(default_factory=dict)
    stable_since: Mapping[str, datetime] = field(default_factory=dict)  # last change of a node's workload pods
    guarded: Mapping[str, str] = field(default_factory=dict)  # node -> why the churn guard protects it
    disrupting: frozenset[str] = frozenset()  # nodes in a running command or draining
    settled: bool = True
    guardrails: Guardrails = field(default_factory=Guardrails)
    unavailable: UnavailableOfferings | None = None
    region: str = "us-east-1"
    min_savings_per_hour: float = 0.0
    consolidation_deadline_seconds: float = 60.0


@dataclass
class PassResult:
    action: Action | None
    blocked: list[Blocked] = field(default_factory=list)
    notes: dict[str, str] = field(default_factory=dict)  # node -> what the pass thinks of it (explain)


def decide(inp: PassInput) -> PassResult:
    ctx = _Context(inp)
    result = PassResult(None, ctx.blocked, ctx.notes)
    for method, find in (("Empty", ctx.empty), ("Expired", ctx.expired), ("Drifted", ctx.drifted),
                         ("Underutilized", ctx.underutilized)):
        action = find()
        if action is not None:
            result.action = replace(action, settings=dict(inp.world.settings)) if action.replacements else action
            for n in action.nodes:
                ctx.notes[n] = f"{method}: being disrupted now ({action.detail})"
            break
    return result


class _Context:
    def __init__(self, inp: PassInput) -> None:
        self.inp = inp
        w = inp.world
        self.pools: dict[str, NodePool] = {p.name: p for p in w.nodepools}
        self.desired = {n.name: n for n in w.desired.nodes}
        self.pods_on: dict[str, list[Obj]] = {}
        for p in w.pods:
            node = (p.get("spec") or {}).get("nodeName")
            if node:
                self.pods_on.setdefault(node, []).append(p)
        self.prices = planner._prices(inp.catalog)
        self.blocked: list[Blocked] = []
        self.notes: dict[str, str] = {}
        self.nodes: dict[str, Obj] = {}  # disruptable now: ours, Ready, active, not blocked
        for obj in w.nodes:
            name = obj["metadata"]["name"]
            d = self.desired.get(name)
            if not view.is_ours(obj) or d is None or view.nodepool_of(obj) not in self.pools:
                continue
            if name in inp.disrupting or d.state != "active" or obj["metadata"].get("deletionTimestamp"):
                self.notes[name] = "being disrupted"
                continue
            if not view.is_ready(obj):
                self.notes[name] = "not Ready: not a disruption candidate"
                continue
            blocker = blocked_by_do_not_disrupt(obj, self.pods_on.get(name, ()))
            if blocker:
                self.blocked.append(Blocked(name, d.node_pool, "DoNotDisrupt",
                                            f"voluntary disruption of {name} is blocked: {blocker}"))
                self.notes[name] = f"kept: {blocker}"
                continue
            self.nodes[name] = obj
        self.pool_total: dict[str, int] = {}
        self.pool_disrupting: dict[str, int] = {}
        for d in w.desired.nodes:
            self.pool_total[d.node_pool] = self.pool_total.get(d.node_pool, 0) + 1
            if d.state == "draining" or d.name in inp.disrupting:
                self.pool_disrupting[d.node_pool] = self.pool_disrupting.get(d.node_pool, 0) + 1

    # ---- shared ----

    def price(self, name: str) -> float:
        return planner._node_price(self.prices, self.nodes.get(name) or {"metadata": {"labels": {}}})

    def pool_of(self, name: str) -> str:
        return self.desired[name].node_pool

    def allowance(self, method: str) -> dict[str, budgets.Allowance]:
        return {name: budgets.allowed(pool.disruption.budgets, method, self.pool_total.get(name, 0),
                                      self.pool_disrupting.get(name, 0), self.inp.now)
                for name, pool in self.pools.items()}

    def within_budget(self, method: str, names: Sequence[str]) -> list[str]:
        allow = self.allowance(method)
        taken, held = budgets.within(list(names), self.pool_of, {p: a.nodes for p, a in allow.items()})
        for name in held:
            pool = self.pool_of(name)
            why = allow[pool].describe(self.pools[pool].disruption.budgets)
            self.blocked.append(Blocked(name, pool, "Budget",
                                        f"{method} disruption of {name} waits: NodePool {pool} {why}"))
            self.notes[name] = f"{method}, waiting for the budget of NodePool {pool} ({why})"
        return taken

    def workload(self, name: str) -> list[Obj]:
        return [p for p in self.pods_on.get(name, ()) if is_workload(p) and not p["metadata"].get("deletionTimestamp")]

    # ---- methods ----

    def empty(self) -> Action | None:
        due = emptiness.due(self.nodes.values(), self.inp.empty_since, self.pools, self.inp.now)
        for e in due:
            self.notes[e.name] = f"Empty for {_age(e.empty_for.total_seconds())}"
        names = self.within_budget("Empty", [e.name for e in due])
        if not names:
            return None
        return Action("Empty", tuple(names), (), sum(self.price(n) for n in names),
                      f"no workload pods for at least consolidateAfter ({len(names)} node{'s' * (len(names) > 1)})")

    def expired(self) -> Action | None:
        from provisioner.disruption.expiration import expired

        return self.replace_each("Expired", expired(self.nodes.values(), self.pools, self.inp.now))

    def drifted(self) -> Action | None:
        from provisioner.disruption.drift import drifted

        return self.replace_each("Drifted", {k: v for k, v in drifted(self.inp.world).items() if k in self.nodes})

    def replace_each(self, method: str, why: Mapping[str, str]) -> Action | None:
        """Expired and Drifted nodes are replaced (by whatever their pods need) in a rolling way:
        as many at once as the budgets allow."""
        for name, text in why.items():
            self.notes[name] = f"{method}: {text}"
        names = self.within_budget(method, [n for n in why if n in self.nodes])
        if not names:
            return None
        added, unschedulable = replacements_for(self.inp, names)
        if unschedulable:
            pod, reason = next(iter(unschedulable.items()))
            for n in names:
                self.blocked.append(Blocked(n, self.pool_of(n), "NoReplacement",
                                            f"{method} node {n} kept: no replacement for pod {pod}: {reason}"))
            return None
        cost = sum(planner.desired_price(self.prices, a, None) for a in added)
        detail = "; ".join(f"{n}: {why[n]}" for n in names)
        return Action(method, tuple(names), tuple(added), sum(self.price(n) for n in names) - cost, detail)

    def underutilized(self) -> Action | None:
        from provisioner.disruption.consolidation import consolidate

        if not self.inp.settled:
            return None
        candidates = []
        for name, obj in self.nodes.items():
            pool = self.pools[self.pool_of(name)]
            after = pool.disruption.consolidate_after
            if pool.disruption.consolidation_policy != "WhenEmptyOrUnderutilized" or after is None:
                continue
            if name in self.inp.guarded:
                self.notes[name] = f"protected from consolidation: {self.inp.guarded[name]}"
                continue
            since = self.inp.stable_since.get(name)
            if since is None or self.inp.now - since < after:
                self.notes.setdefault(name, f"pods changed less than consolidateAfter ({after}) ago")
                continue
            candidates.append(name)
        allowances = self.allowance("Underutilized")
        already = {b.node for b in self.blocked}
        for name in [c for c in candidates if allowances[self.pool_of(c)].nodes <= 0]:
            candidates.remove(name)
            if name in already:  # an earlier method already said which budget holds it
                continue
            pool = self.pool_of(name)
            why = allowances[pool].describe(self.pools[pool].disruption.budgets)
            self.blocked.append(Blocked(name, pool, "Budget",
                                        f"Underutilized disruption of {name} waits: NodePool {pool} {why}"))
            self.notes[name] = f"Underutilized, waiting for the budget of NodePool {pool} ({why})"
        if not candidates:
            return None
        allow = {p: a.nodes for p, a in allowances.items()}
        command = consolidate(self.inp.world, self.inp.catalog, candidates, max_nodes=allow,
                              min_savings_per_hour=self.inp.min_savings_per_hour, guardrails=self.inp.guardrails,
                              deadline_seconds=self.inp.consolidation_deadline_seconds)
        for name in candidates:
            self.notes.setdefault(name, "consolidation: no cheaper arrangement without it was found")
        if command is None:
            return None
        added: tuple[DesiredNode, ...] = ()
        if command.replacement is not None:
            added = (replacement_node(command.replacement, self.pools[command.replacement.node_pool],
                                      self.inp.catalog, set(self.desired) | {n["metadata"]["name"]
                                                                            for n in self.inp.world.nodes},
                                      len(command.pods)),)
        return Action("Underutilized", tuple(command.nodes), added, command.savings_per_hour, command.explanation)


def replacement_node(rep: Any, pool: NodePool, catalog: Catalog, taken: set[str], pods: int) -> DesiredNode:
    """The desired node for a consolidation's replacement (shaped like the planner's new nodes)."""
    from provisioner.provisioning.naming import new_node_name

    arch = catalog.instance_types[rep.instance_types[0]].architecture
    return DesiredNode(name=new_node_name(pool.name, taken), node_pool=pool.name, node_class=pool.node_class_ref,
                       instance_types=tuple(rep.instance_types), capacity_type=rep.capacity_type, zones=(rep.zone,),
                       architecture=arch, labels=dict(pool.labels), taints=planner._taints(pool),
                       reason=f"replacement for {pods} pods (consolidation)")


def replacements_for(inp: PassInput, names: Sequence[str]) -> tuple[tuple[DesiredNode, ...], dict[str, str]]:
    """New nodes for the workload pods of `names` if those nodes were gone (none when the pods fit
    on the other nodes), and the pods no node could take."""
    gone = set(names)
    world = inp.world
    moved = []
    for p in world.pods:
        if (p.get("spec") or {}).get("nodeName") in gone and is_workload(p) and not p["metadata"].get("deletionTimestamp"):
            moved.append(_as_pending(p))
    others = [p for p in world.pods if (p.get("spec") or {}).get("nodeName") not in gone
              and not view.is_unschedulable(p)]  # pending pods are the provisioner's business
    shadow = replace(world, pods=tuple(others + moved), nodes=tuple(n for n in world.nodes
                                                                      if n["metadata"]["name"] not in gone),
                     expired={**world.expired, **{n: "being replaced" for n in gone}})
    if not moved:
        return (), {}
    decision = planner.decide(shadow, inp.catalog, inp.guardrails, inp.unavailable, inp.region)
    return decision.added, decision.unschedulable


def _as_pending(pod: Obj) -> Obj:
    spec = {k: v for k, v in pod["spec"].items() if k != "nodeName"}
    status = {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}]}
    return {**pod, "spec": spec, "status": status}


def _age(seconds: float) -> str:
    minutes = int(seconds // 60)
    return f"{minutes // 60}h{minutes % 60}m" if minutes >= 60 else f"{minutes}m{int(seconds % 60)}s"


def workload_sets(nodes: Sequence[Obj], pods: Sequence[Obj]) -> dict[str, frozenset[str]]:
    """Each node's workload pods (keys): their change restarts the consolidateAfter clock."""
    out: dict[str, set[str]] = {n["metadata"]["name"]: set() for n in nodes}
    for p in pods:
        node = (p.get("spec") or {}).get("nodeName")
        if node in out and is_workload(p) and not p["metadata"].get("deletionTimestamp"):
            out[node].add(view.pod_key(p))
    return {k: frozenset(v) for k, v in out.items()}


def track_stable(previous: Mapping[str, tuple[frozenset[str], datetime]], sets: Mapping[str, frozenset[str]],
                 now: datetime) -> dict[str, tuple[frozenset[str], datetime]]:
    """Per node (its workload pod set, since when it has been that set)."""
    out = {}
    for name, pods in sets.items():
        prev = previous.get(name)
        out[name] = prev if prev is not None and prev[0] == pods else (pods, now)
    return out

