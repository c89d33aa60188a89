"""Consolidation (WhenEmptyOrUnderutilized), a pure decision: which candidate nodes to remove
now, with or without one cheaper replacement, and why.

A set of nodes may go when the scheduling simulation places every workload pod they run on the
other registered nodes (delete) or on those plus ONE new node cheaper than the set by more than
`min_savings_per_hour` (replace). Like Karpenter:
* multi-node first: candidates ordered by disruption cost (fewest pods, least used), at most
  MAX_MULTI of them within the budgets, and a binary search for the longest prefix that can go;
  unless the whole list can go, also a repair from the whole list (not Karpenter's): simulate
  it, drop the nodes whose pods needed new nodes, again (REPAIRS times), so a few unmovable
  pods early in the order do not stop everything after them;
* then single nodes in the same order, skipping those cheaper than the best saving found, until
  SINGLE_LOOKAHEAD more were tried after the first that can go (Karpenter stops at the first);
* then the nodes found able to go one by one, together (with the repair; not Karpenter's);
* no spot-to-spot replacement: a set of spot nodes only is deleted, never replaced (Karpenter's
  default, SpotToSpotConsolidation off: its replacement would be spot whenever the NodePool
  allows spot, a cheaper spot type is likely to be interrupted sooner, and replacing with
  on-demand first would only open a spot -> on-demand -> spot churn);
* the largest saving wins, the multi-node command on a tie; deterministic; when the deadline
  passes the best command found so far is returned.
Deleting a node is always worth it; `min_savings_per_hour` applies to replacements.
See consolidation_sim for what the simulation sees.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

from provisioner.catalog.catalog import Catalog
from provisioner.disruption.consolidation_sim import Candidate, Cluster
from provisioner.fleet.guardrails import Guardrails, vcpus
from provisioner.provisioning import planner

MAX_MULTI = 100  # candidates the multi-node search considers (Karpenter: 100)
SINGLE_LOOKAHEAD = 20  # single nodes tried after the first that can go, for a larger saving
REPAIRS = 4  # multi-node: simulations of the whole list, each without the nodes that blocked the last
REASON = "Underutilized"


@dataclass(frozen=True)
class Replacement:
    node_pool: str
    instance_types: tuple[str, ...]  # ranked, chosen type first (<= 10, same architecture, all cheaper)
    capacity_type: str  # "spot" | "on-demand"
    zone: str
    price_per_hour: float


@dataclass(frozen=True)
class Command:
    reason: str  # "Underutilized"
    nodes: tuple[str, ...]  # registered Node names to remove
    replacement: Replacement | None  # None: delete (their pods fit on the other nodes)
    savings_per_hour: float  # price of the nodes - replacement price
    pods: tuple[str, ...]  # "ns/name" of the workload pods that move
    explanation: str  # one line for Events and stack messages


def consolidate(world: planner.World, catalog: Catalog, candidates: Sequence[str], *,
                max_nodes: Mapping[str, int] | None = None, min_savings_per_hour: float = 0.0,
                guardrails: Guardrails | None = None, deadline_seconds: float = 60.0,
                clock: Callable[[], float] = time.monotonic) -> Command | None:
    """The consolidation command with the largest saving, or None. `candidates` are registered
    node names the caller found eligible; `max_nodes` caps the nodes removed per NodePool."""
    start = clock()
    search = _Search(Cluster(world, catalog, guardrails or Guardrails()), catalog, guardrails or Guardrails(),
                     min_savings_per_hour, lambda: clock() - start >= deadline_seconds)
    found = [c for c in (search.cluster.candidate(n) for n in sorted(set(candidates))) if c is not None]
    limits = dict(max_nodes or {})
    found = sorted((c for c in found if limits.get(c.pool, 1) > 0), key=lambda c: c.disruption_cost)
    best = search.multi(_within(found, limits)[:MAX_MULTI])
    single, movable = search.single(found, best.savings_per_hour if best else None)
    best = _better(single, best)
    if len(movable) >= 2:  # the nodes that could go one by one, together
        best = _better(search.repair(_within(movable, limits)[:MAX_MULTI]), best)
    return best


def _within(cands: list[Candidate], limits: Mapping[str, int]) -> list[Candidate]:
    left = dict(limits)
    out = []
    for c in cands:
        if c.pool in left:
            if left[c.pool] <= 0:
                continue
            left[c.pool] -= 1
        out.append(c)
    return out


class _Search:
    def __init__(self, cluster: Cluster, catalog: Catalog, guardrails: Guardrails, min_savings: float,
                 expired: Callable[[], bool]) -> None:
        self.cluster, self.catalog, self.guardrails = cluster, catalog, guardrails
        self.min_savings, self.expired = min_savings, expired
        self.simulations = 0

    def multi(self, cands: list[Candidate]) -> Command | None:
        """Karpenter's binary search for the longest prefix (>= 2 nodes) that can go, then a
        repair from the whole list: drop the nodes whose pods needed new nodes, a few times."""
        best, lo, hi = None, 2, len(cands)
        while lo <= hi and not self.expired():
            mid = (lo + hi) // 2
            cmd, _ = self.evaluate(cands[:mid])
            if cmd is not None:
                best, lo = _better(cmd, best), mid + 1
            else:
                hi = mid - 1
        if best is not None and len(best.nodes) == len(cands):
            return best
        return _better(self.repair(cands), best)

    def repair(self, cands: list[Candidate]) -> Command | None:
        """Simulate removing them all; if that fails, again without the nodes whose pods needed
        the new nodes, up to REPAIRS times."""
        left = list(cands)
        for _ in range(REPAIRS):
            if len(left) < 2 or self.expired():
                break
            cmd, blocking = self.evaluate(left, prefilter=False)
            if cmd is not None or not blocking:
                return cmd
            left = [c for c in left if c.name not in blocking]
        return None

    def single(self, cands: list[Candidate], to_beat: float | None) -> tuple[Command | None, list[Candidate]]:
        """The best single-node command, and every node found able to go on its own."""
        best, looked, movable = None, 0, []
        for c in cands:
            bar = best.savings_per_hour if best else to_beat
            if bar is not None and c.price <= bar + 1e-9:
                continue  # cannot save more than its price
            if self.expired() or looked >= SINGLE_LOOKAHEAD:
                break
            looked += best is not None
            cmd, _ = self.evaluate([c])
            if cmd is not None:
                movable.append(c)
                if bar is None or cmd.savings_per_hour > bar + 1e-9:
                    best = cmd
        return best, movable

    def evaluate(self, removed: list[Candidate], prefilter: bool = True) -> tuple[Command | None, set[str]]:
        """The command removing exactly these nodes, or None and the nodes whose pods needed
        the new nodes that made it fail (empty when that is not why)."""
        price = sum(c.price for c in removed)
        limit = price - self.min_savings
        if prefilter and not self.cluster.may_fit(removed, limit):
            return None, set()
        self.simulations += 1
        plan = self.cluster.simulate(removed, limit)
        if len(plan.new_nodes) > 1 and not plan.unschedulable:  # once more for one node holding them all
            hold = self.cluster.demand(p for n in plan.new_nodes for p in n.pods)
            if self.cluster.offerings_below(limit, removed, hold):
                self.simulations += 1
                retry = self.cluster.simulate(removed, limit, hold)
                plan = retry if len(retry.new_nodes) == 1 and not retry.unschedulable else plan
        owner = {p: c.name for c in removed for p in c.pods}
        stuck = {u.pod for u in plan.unschedulable} | {p for n in plan.new_nodes for p in n.pods}
        blocking = {owner[p] for p in stuck if p in owner}
        if plan.unschedulable or len(plan.new_nodes) > 1:
            return None, blocking
        pods = tuple(sorted(owner))
        names = tuple(c.name for c in removed)
        if not plan.new_nodes:
            hosts = len({plan.placements[p] for p in pods if p in plan.placements})
            why = f"pods of {_names(names)} fit on {hosts} other node{'s' if hosts != 1 else ''}" if pods \
                else f"no workload pods on {_names(names)}"
            return Command(REASON, names, None, price, pods, why), set()
        pn = plan.new_nodes[0]
        prices = self.cluster.prices
        types = tuple(t for t in planner._launch_types(pn, self.catalog, self.guardrails)
                      if prices.get((t, pn.zone, pn.capacity_type), limit) < limit)
        savings = price - pn.price_per_hour
        if not types or savings <= self.min_savings:
            return None, blocking
        if not self._vcpus_ok(removed, types[0]):
            return None, set()
        shapes = Counter(f"{c.instance_type} {c.capacity_type}" for c in removed)
        old = ", ".join(f"{n}x {s}" for s, n in sorted(shapes.items(), key=lambda kv: (-kv[1], kv[0])))
        replacement = Replacement(pn.nodepool, types, pn.capacity_type, pn.zone, pn.price_per_hour)
        return Command(REASON, names, replacement, savings, pods,
                       f"replace {old} with 1x {types[0]} {pn.capacity_type}"), set()

    def _vcpus_ok(self, removed: list[Candidate], new_type: str) -> bool:
        cap = self.guardrails.max_vcpu
        if cap is None:
            return True
        total = sum(vcpus(n.labels.get("node.kubernetes.io/instance-type", "")) for n in self.cluster.nodes)
        after = total - sum(vcpus(c.instance_type) for c in removed) + vcpus(new_type)
        return after <= max(cap, total)  # never above the cap, and never worse than now


def _better(cmd: Command | None, best: Command | None) -> Command | None:
    """The one saving more; `best` on a tie (found first)."""
    if cmd is None or (best is not None and cmd.savings_per_hour <= best.savings_per_hour + 1e-9):
        return best
    return cmd


def _names(names: tuple[str, ...], shown: int = 3) -> str:
    if len(names) <= shown:
        return ", ".join(names)
    return f"{len(names)} nodes ({', '.join(names[:shown])}, ...)"
