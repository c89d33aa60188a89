"""The simulation behind consolidation (pure): the cluster converted once, then "what if these
nodes were gone" answered by `provisioner.scheduling.simulate` for any set of candidates.

What the simulation sees for a set of removed nodes:
* capacity: every registered node but the removed ones; nodes that are cordoned, tainted
  `provisioner.sh/disrupted`, being deleted or not Ready take no pods (in-flight desired nodes
  are not counted: they are there for pending pods, whose placement is provisioning's job);
* pods: pods bound to the remaining nodes stay where they are (DaemonSet ones included, they
  use room); the workload pods (`termination.pods.is_workload`, not being deleted) of the removed
  nodes become pending; their DaemonSet, mirror and finished pods go with the node;
* new nodes: only offerings cheaper than what the removal must save (price of the removed nodes
  minus the minimum saving) and allowed by the guardrails; none when every removed node is spot
  (no spot-to-spot consolidation, see consolidation). When a moving pod has a spread or affinity over
  a topology other than the hostname, the others stay in the catalog, priced out of reach
  (PRICED_OUT), so that its domains are the ones provisioning counts (over offerings); a plan
  using one is rejected by its price.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, replace

from provisioner.catalog import allocatable as alloc
from provisioner.catalog.catalog import Catalog, Offering
from provisioner.fleet.guardrails import Guardrails
from provisioner.provisioning import planner
from provisioner.scheduling import Plan, SchedulingInput, simulate
from provisioner.scheduling.model import HOSTNAME, Pod
from provisioner.state import view
from provisioner.termination.pods import is_workload

DISRUPTED_TAINT = "provisioner.sh/disrupted"
MIB = 1024 * 1024
PRICED_OUT = 1e6  # added to the price of offerings a replacement may not use


@dataclass(frozen=True)
class Candidate:
    name: str
    pool: str
    instance_type: str
    capacity_type: str
    price: float
    pods: tuple[str, ...]  # workload pods that would move, sorted
    utilization: float  # requested share of allocatable, the larger of CPU and memory
    demand: tuple[int, int]  # CPU millicores, memory bytes of the pods that would move

    @property
    def disruption_cost(self) -> tuple:
        """Cheapest to disrupt first: fewest pods, then least used, then priciest (Karpenter
        orders by the eviction cost of the pods; every pod costs the same here)."""
        return (len(self.pods), round(self.utilization, 6), -self.price, self.name)


def _takes_no_pods(obj: dict, in_flight: bool) -> bool:
    taints = (obj.get("spec") or {}).get("taints") or ()
    return (in_flight or bool((obj.get("spec") or {}).get("unschedulable"))
            or bool(obj["metadata"].get("deletionTimestamp"))
            or any(t.get("key") == DISRUPTED_TAINT for t in taints))


def _zonal(pod: Pod) -> bool:
    """A pod with a spread or (anti-)affinity over a topology other than the hostname."""
    terms = (*pod.spread, *pod.affinity, *pod.anti_affinity, *(t for _, t in pod.preferred_affinity),
             *(t for _, t in pod.preferred_anti_affinity))
    return any(t.topology_key != HOSTNAME for t in terms)


class Cluster:
    """The world converted once for many simulations."""

    def __init__(self, world: planner.World, catalog: Catalog, guardrails: Guardrails) -> None:
        region = world.desired.region
        only_registered = replace(world, desired=replace(world.desired, nodes=()), expired={})
        base, _ = planner.scheduling_input(only_registered, catalog, None, region)
        objs = {n["metadata"]["name"]: n for n in world.nodes}
        self.nodes = tuple(replace(n, unschedulable=True) if _takes_no_pods(objs[n.name], n.in_flight) else n
                           for n in base.nodes)
        self.node_objs = objs
        self.pods = tuple(p for p in base.pods if p.node_name)  # pending pods are provisioning's
        moving = {view.pod_key(p) for p in world.pods
                  if is_workload(p) and not p["metadata"].get("deletionTimestamp")}
        self.moving = moving
        self.base = base
        self.catalog = catalog
        self.prices = planner._prices(catalog)
        allowed = {t for t in catalog.instance_types if guardrails.instance_type_problem(t) is None}
        self._offerings = sorted((o for o in catalog.available_offerings() if o.instance_type in allowed),
                                 key=lambda o: (o.price, o.instance_type, o.zone, o.capacity_type))
        self._offer_prices = [o.price for o in self._offerings]
        self._priced_out = [(o, Offering(o.instance_type, o.zone, o.capacity_type, o.price + PRICED_OUT, o.available))
                            for o in catalog.offerings]
        self.used: dict[str, list[int]] = {n.name: [0, 0] for n in self.nodes}
        self.by_node: dict[str, list] = {n.name: [] for n in self.nodes}
        for p in self.pods:
            u = self.used[p.node_name]
            u[0] += p.requests.get("cpu", 0)
            u[1] += p.requests.get("memory", 0)
            self.by_node[p.node_name].append(p)
        self.free_cpu = sum(max(n.allocatable.get("cpu", 0) - self.used[n.name][0], 0)
                            for n in self.nodes if not n.unschedulable)
        self.free_mem = sum(max(n.allocatable.get("memory", 0) - self.used[n.name][1], 0)
                            for n in self.nodes if not n.unschedulable)
        self._nodes_by_name = {n.name: n for n in self.nodes}
        self._frees = sorted(((n.name, n.allocatable.get("cpu", 0) - self.used[n.name][0],
                               n.allocatable.get("memory", 0) - self.used[n.name][1])
                              for n in self.nodes if not n.unschedulable), key=lambda f: (-f[1], -f[2], f[0]))
        self._pods = {p.key: p for p in self.pods}
        self.zonal = {p.key for p in self.pods if _zonal(p)}
        self._alloc: dict[str, tuple[int, int, int]] = {}

    def candidate(self, name: str) -> Candidate | None:
        node, obj = self._nodes_by_name.get(name), self.node_objs.get(name)
        if node is None:
            return None
        labels = obj["metadata"].get("labels") or {}
        moved = [p for p in self.by_node[name] if p.key in self.moving]
        cpu = sum(p.requests.get("cpu", 0) for p in moved)
        mem = sum(p.requests.get("memory", 0) for p in moved)
        a_cpu, a_mem = node.allocatable.get("cpu", 0), node.allocatable.get("memory", 0)
        used = self.used[name]
        util = max(used[0] / a_cpu if a_cpu else 0.0, used[1] / a_mem if a_mem else 0.0)
        ct = labels.get("provisioner.sh/capacity-type") or labels.get("karpenter.sh/capacity-type") or "on-demand"
        return Candidate(name, view.nodepool_of(obj) or "", labels.get("node.kubernetes.io/instance-type", "?"),
                         ct, planner._node_price(self.prices, obj), tuple(sorted(p.key for p in moved)), util,
                         (cpu, mem))

    def offerings_below(self, limit: float, removed: list[Candidate], hold: tuple[int, int, int] | None = None):
        """Allowed offerings cheaper than `limit`, cheapest first, none when every removed node is
        spot; with `hold`, only those whose allocatable CPU, memory and pods are at least that."""
        if all(c.capacity_type == "spot" for c in removed):
            return []
        out = self._offerings[:bisect.bisect_left(self._offer_prices, limit)]
        if hold is not None:
            out = [o for o in out if all(a >= h for a, h in zip(self._allocatable(o.instance_type), hold))]
        return out

    def _allocatable(self, itype: str) -> tuple[int, int, int]:
        hit = self._alloc.get(itype)
        if hit is None:
            a = alloc.allocatable(self.catalog.instance_types[itype])
            hit = self._alloc[itype] = (a.get("cpu", 0), a.get("memory", 0), a.get("pods", 0))
        return hit

    def demand(self, keys) -> tuple[int, int, int]:
        """CPU, memory and pod count requested by these pods."""
        pods = [self._pods[k] for k in keys]
        return (sum(p.requests.get("cpu", 0) for p in pods), sum(p.requests.get("memory", 0) for p in pods), len(pods))

    def may_fit(self, removed: list[Candidate], limit: float) -> bool:
        """A necessary condition, resources only: the moving pods' CPU and memory fit in the free
        room of the remaining nodes plus the largest new node the saving allows, and each of them
        fits in the free room of one remaining node or in that new node."""
        cpu = sum(c.demand[0] for c in removed)
        mem = sum(c.demand[1] for c in removed)
        free_cpu, free_mem = self.free_cpu, self.free_mem
        for c in removed:
            node = self._nodes_by_name[c.name]
            if not node.unschedulable:
                used = self.used[c.name]
                free_cpu -= max(node.allocatable.get("cpu", 0) - used[0], 0)
                free_mem -= max(node.allocatable.get("memory", 0) - used[1], 0)
        new_cpu = new_mem = 0
        for o in self.offerings_below(limit, removed):
            it = self.catalog.instance_types[o.instance_type]
            new_cpu, new_mem = max(new_cpu, it.vcpu * 1000), max(new_mem, it.memory_mib * MIB)
        if cpu > free_cpu + new_cpu or mem > free_mem + new_mem:
            return False
        gone = {c.name for c in removed}
        sizes = {(p.requests.get("cpu", 0), p.requests.get("memory", 0)) for c in removed for p in self.by_node[c.name]
                 if p.key in self.moving}
        for pc, pm in sizes:
            if pc <= new_cpu and pm <= new_mem:
                continue
            for name, fc, fm in self._frees:  # most free CPU first
                if fc < pc:
                    return False
                if fm >= pm and name not in gone:
                    break
            else:
                return False
        return True

    def simulate(self, removed: list[Candidate], limit: float, hold: tuple[int, int, int] | None = None) -> Plan:
        """Where the removed nodes' workload pods would go; new nodes only from offerings cheaper
        than `limit` (and holding `hold`, see offerings_below)."""
        gone = {c.name for c in removed}
        pods = tuple(p if p.node_name not in gone else replace(p, node_name=None) for p in self.pods
                     if p.node_name not in gone or p.key in self.moving)
        nodes = tuple(n for n in self.nodes if n.name not in gone)
        usable = self.offerings_below(limit, removed, hold)
        if any(p.key in self.zonal for c in removed for p in self.by_node[c.name]):
            # Every offering stays (these pods' topology domains are counted over offerings, as
            # provisioning does); those a replacement may not use are priced out of reach.
            ids = {id(o) for o in usable}
            catalog = replace(self.catalog, offerings=tuple(o if id(o) in ids else out for o, out in self._priced_out))
        else:  # nothing counts domains over offerings: the usable ones are enough (and faster)
            types = self.catalog.instance_types
            catalog = replace(self.catalog, offerings=tuple(usable),
                              instance_types={t: types[t] for t in sorted({o.instance_type for o in usable})})
        inp: SchedulingInput = replace(self.base, pods=pods, nodes=nodes, catalog=catalog, unavailable=None,
                                       compute_bound=False, repack_seconds=0)
        return simulate(inp)
