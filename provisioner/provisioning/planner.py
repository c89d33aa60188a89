"""The provisioning decision, a pure function: cluster state + current desired node set ->
the next desired node set, the nominations, the pods nobody can help, and the update message."""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter
from dataclasses import asdict, dataclass, field, replace

from provisioner.api import NodeClass, NodePool
from provisioner.catalog import allocatable as alloc
from provisioner.catalog.catalog import Catalog
from provisioner.catalog.labels import node_labels
from provisioner.catalog.unavailable import UnavailableOfferings
from provisioner.fleet.desired import DesiredNode, DesiredNodeSet, NodeClassSettings, Taint
from provisioner.fleet.guardrails import Guardrails, vcpus
from provisioner.provisioning.naming import new_node_name, workloads_text
from provisioner.scheduling import Plan, PlannedNode, SchedulingInput, simulate
from provisioner.scheduling.convert import daemonset_from_k8s, node_from_k8s, pod_from_k8s, volume_zones_from_k8s
from provisioner.scheduling.model import Node
from provisioner.state import view
from provisioner.state.kinds import Obj

MAX_LAUNCH_TYPES = 10  # ranked alternatives per node handed to EC2 Fleet


@dataclass(frozen=True)
class Launched:
    """What the stack says a node's fleet launched."""

    instance_type: str
    capacity_type: str
    zone: str


@dataclass(frozen=True)
class World:
    pods: tuple[Obj, ...]
    nodes: tuple[Obj, ...]
    nodepools: tuple[NodePool, ...]
    nodeclasses: tuple[NodeClass, ...]
    settings: dict[str, NodeClassSettings]  # resolved NodeClasses by name
    desired: DesiredNodeSet
    launched: dict[str, Launched] = field(default_factory=dict)
    expired: dict[str, str] = field(default_factory=dict)  # desired node -> why it goes
    daemonsets: tuple[Obj, ...] = ()
    pvcs: tuple[Obj, ...] = ()
    pvs: tuple[Obj, ...] = ()


@dataclass(frozen=True)
class Decision:
    desired: DesiredNodeSet
    added: tuple[DesiredNode, ...]
    removed: dict[str, str]
    nominations: dict[str, str]  # pending pod -> node (new or existing)
    unschedulable: dict[str, str]  # pending pod -> reason in words
    plan: Plan | None
    message: str
    cost_delta_per_hour: float
    pending: int

    @property
    def changes(self) -> bool:
        return bool(self.added or self.removed)


# No repack in the controller: kube-scheduler does not follow the plan's grouping of pods (it
# scores LeastAllocated), and a tight repacked fleet stranded pods that needed another
# scale-up. `make demo`: 12 nodes at $1.33/h in 3 updates with a 1 s repack, 11 at $1.18/h in
# 2 without. Repacking pays only once pods are steered to their planned nodes.
REPACK_SECONDS = 0.0


def _taints(pool: NodePool) -> tuple[Taint, ...]:
    return tuple(Taint(t.key, t.effect, t.value) for t in (*pool.taints, *pool.startup_taints))


def predicted_node(node: DesiredNode, got: Launched | None, catalog: Catalog, nodeclass: NodeClass | None,
                   pool: NodePool | None, region: str, price: float) -> Node | None:
    """The Node an in-flight desired node will register as (from what its fleet launched, else its first choice)."""
    itype = got.instance_type if got else node.instance_types[0]
    it = catalog.instance_types.get(itype)
    if it is None:
        return None
    zone = got.zone if got else node.zones[0]
    ct = got.capacity_type if got else node.capacity_type
    labels = {**node.labels, **node_labels(it, zone, region, ct, node.node_pool, hostname=node.name)}
    kubelet = nodeclass.kubelet if nodeclass else None
    from provisioner.scheduling.model import Taint as SimTaint

    return Node(node.name, labels, alloc.allocatable(it, kubelet), tuple(SimTaint(t.key, t.value, t.effect)
                                                                       for t in node.taints),
                in_flight=True, price_per_hour=price)


def _prices(catalog: Catalog) -> dict[tuple[str, str, str], float]:
    return {(o.instance_type, o.zone, o.capacity_type): o.price for o in catalog.offerings}


def _node_price(prices: dict, node_obj: Obj) -> float:
    labels = node_obj["metadata"].get("labels") or {}
    ct = labels.get("provisioner.sh/capacity-type") or labels.get("karpenter.sh/capacity-type") or "on-demand"
    return prices.get((labels.get("node.kubernetes.io/instance-type"), labels.get("topology.kubernetes.io/zone"),
                       ct), 0.0)


def desired_price(prices: dict, node: DesiredNode, got: Launched | None) -> float:
    if got:
        return prices.get((got.instance_type, got.zone, got.capacity_type), 0.0)
    return prices.get((node.instance_types[0], node.zones[0], node.capacity_type), 0.0)


def scheduling_input(world: World, catalog: Catalog, unavailable: UnavailableOfferings | None,
                     region: str) -> tuple[SchedulingInput, list[Obj]]:
    """The simulation's input: every unschedulable pod, the pods bound to nodes, registered nodes and
    in-flight nodes (desired, not yet registered) as capacity."""
    prices = _prices(catalog)
    registered = {n["metadata"]["name"] for n in world.nodes}
    pools = {p.name: p for p in world.nodepools}
    classes = {c.name: c for c in world.nodeclasses}
    nodes: list[Node] = []
    for obj in world.nodes:
        n = node_from_k8s(obj)
        nodes.append(Node(n.name, n.labels, n.allocatable, n.taints, n.in_flight, n.unschedulable,
                          _node_price(prices, obj)))
    for dn in world.desired.nodes:
        if dn.name in registered or dn.name in world.expired:
            continue
        got = world.launched.get(dn.name)
        pool = pools.get(dn.node_pool)
        pn = predicted_node(dn, got, catalog, classes.get(dn.node_class), pool, region,
                            desired_price(prices, dn, got))
        if pn is not None:
            nodes.append(pn)
    pvs = [{**d, "kind": "PersistentVolume"} for d in world.pvs]
    pvcs = [{**d, "kind": "PersistentVolumeClaim"} for d in world.pvcs]
    zones = volume_zones_from_k8s(pvs + pvcs)
    names = {n.name for n in nodes}
    pending = [p for p in world.pods if view.is_unschedulable(p)]
    bound = [p for p in world.pods if view.is_running_or_bound(p) and p["spec"]["nodeName"] in names]
    pods = tuple(pod_from_k8s(p, zones) for p in pending + bound)
    usable_pools = tuple(p for p in world.nodepools if p.node_class_ref in world.settings)
    inp = SchedulingInput(pods=pods, nodepools=usable_pools, catalog=catalog,
                          nodeclasses=tuple(c for c in world.nodeclasses if c.name in world.settings),
                          nodes=tuple(nodes), daemonsets=tuple(daemonset_from_k8s(d) for d in world.daemonsets),
                          unavailable=unavailable, compute_bound=False, repack_seconds=REPACK_SECONDS)
    return inp, pending


def _launch_types(pn: PlannedNode, catalog: Catalog, guardrails: Guardrails) -> tuple[str, ...]:
    arch = catalog.instance_types[pn.instance_type].architecture
    ranked = [pn.instance_type] + [t for t in pn.instance_types if t != pn.instance_type]
    ok = [t for t in ranked if t in catalog.instance_types and catalog.instance_types[t].architecture == arch
          and guardrails.instance_type_problem(t) is None]
    return tuple(ok[:MAX_LAUNCH_TYPES])


def decide(world: World, catalog: Catalog, guardrails: Guardrails, unavailable: UnavailableOfferings | None = None,
           region: str = "us-east-1", rng: random.Random | None = None) -> Decision:
    inp, pending = scheduling_input(world, catalog, unavailable, region)
    pending_by_key = {view.pod_key(p): p for p in pending}
    prices = _prices(catalog)
    plan = simulate(inp) if pending else None
    pools = {p.name: p for p in world.nodepools}
    taken = {n.name for n in world.desired.nodes} | {n["metadata"]["name"] for n in world.nodes}
    kept = [n for n in world.desired.nodes if n.name not in world.expired]
    node_budget = (guardrails.max_nodes - len(kept)) if guardrails.max_nodes is not None else None
    vcpu_budget = (guardrails.max_vcpu - sum(vcpus(n.instance_types[0]) for n in kept)) \
        if guardrails.max_vcpu is not None else None
    added: list[DesiredNode] = []
    renamed: dict[str, str] = {}
    unschedulable = {u.pod: u.reason for u in (plan.unschedulable if plan else ()) if u.pod in pending_by_key}
    added_cost = 0.0
    for pn in (plan.new_nodes if plan else ()):
        pool = pools[pn.nodepool]
        types = _launch_types(pn, catalog, guardrails)
        problem = None
        if not types:
            problem = f"guardrails allow no instance type for it ({guardrails.instance_type_problem(pn.instance_type)})"
        elif node_budget is not None and node_budget <= 0:
            problem = f"the fleet guardrail maxNodes={guardrails.max_nodes} is reached"
        elif vcpu_budget is not None and vcpus(types[0]) > vcpu_budget:
            problem = f"the fleet guardrail maxVcpu={guardrails.max_vcpu} is reached"
        if problem:
            for pod in pn.pods:
                if pod in pending_by_key:
                    unschedulable[pod] = problem
            continue
        name = new_node_name(pool.name, taken, rng)
        renamed[pn.name] = name
        pods = [pending_by_key[p] for p in pn.pods if p in pending_by_key]
        arch = catalog.instance_types[types[0]].architecture
        added.append(DesiredNode(
            name=name, node_pool=pool.name, node_class=pool.node_class_ref, instance_types=types,
            capacity_type=pn.capacity_type, zones=(pn.zone,), architecture=arch, labels=dict(pool.labels),
            taints=_taints(pool), reason=f"{len(pods)} pending pods of {workloads_text(pods)}"))
        added_cost += pn.price_per_hour
        if node_budget is not None:
            node_budget -= 1
        if vcpu_budget is not None:
            vcpu_budget -= vcpus(types[0])
    nominations = {}
    for pod, node in (plan.placements if plan else {}).items():
        if pod in pending_by_key and pod not in unschedulable:
            nominations[pod] = renamed.get(node, node)
    removed = {n: r for n, r in world.expired.items() if any(d.name == n for d in world.desired.nodes)}
    removed_cost = sum(desired_price(prices, d, world.launched.get(d.name)) for d in world.desired.nodes
                       if d.name in removed)
    node_classes, kept, added = pin_settings(world, kept, added)
    desired = DesiredNodeSet(world.desired.cluster, world.desired.region, node_classes, tuple(kept + added))
    delta = added_cost - removed_cost
    new_names = set(renamed.values())
    acted = [pending_by_key[p] for p, n in nominations.items() if n in new_names]
    message = update_message(added, removed, acted, delta, world.launched)
    return Decision(desired, tuple(added), removed, nominations, unschedulable, plan, message, delta, len(pending))


def settings_version(settings: NodeClassSettings) -> str:
    """A short content hash of resolved NodeClass settings (their name left out)."""
    content = json.dumps(asdict(replace(settings, name="")), sort_keys=True, default=str)
    return hashlib.sha256(content.encode()).hexdigest()[:8]


def _same_settings(a: NodeClassSettings, b: NodeClassSettings) -> bool:
    return replace(a, name="") == replace(b, name="")


def pin_settings(world: World, kept: list[DesiredNode], added: list[DesiredNode]
                 ) -> tuple[dict[str, NodeClassSettings], list[DesiredNode], list[DesiredNode]]:
    """The next set's NodeClass settings: every kept node keeps the settings it was launched with (its
    launch template must not change, drift is replaced by the disruption controller), new nodes get
    the NodeClass's current settings, under the NodeClass's name when no kept node holds it with other
    settings, else under `<NodeClass>@<version>`. Keys no node uses are dropped."""
    node_classes: dict[str, NodeClassSettings] = {}
    pinned: list[DesiredNode] = []
    for n in kept:
        recorded = world.desired.node_classes.get(n.settings_key)
        if recorded is None:  # a hand-built set without its settings: the current ones are all we know
            recorded = world.settings.get(n.node_class)
            n = replace(n, settings="")
        if recorded is not None:
            node_classes[n.settings_key] = recorded
        pinned.append(n)
    keys: dict[str, str] = {}  # NodeClass -> key of its current settings
    placed: list[DesiredNode] = []
    for n in added:
        cls = n.node_class
        if cls not in keys:
            current = world.settings[cls]
            same = [k for k, v in node_classes.items() if _owner(k) == cls and _same_settings(v, current)]
            if same:
                keys[cls] = min(same, key=lambda k: (k != cls, k))  # the plain name when it qualifies
            else:
                keys[cls] = cls if cls not in node_classes else f"{cls}@{settings_version(current)}"
                node_classes[keys[cls]] = current if keys[cls] == cls else replace(current, name=keys[cls])
        placed.append(replace(n, settings="" if keys[cls] == cls else keys[cls]))
    return node_classes, pinned, placed


def _owner(settings_key: str) -> str:
    return settings_key.partition("@")[0]


def update_message(added: list[DesiredNode], removed: dict[str, str], pods: list[Obj], delta: float,
                   launched: dict[str, Launched] | None = None) -> str:
    """e.g. `scale-up: +3 nodes (2x m6i.large spot, 1x c7g.xlarge on-demand) for 14 pending pods in web/frontend, +$0.21/h`."""
    parts = []
    if added:
        shapes = Counter(f"{n.instance_types[0]} {n.capacity_type}" for n in added)
        text = ", ".join(f"{c}x {s}" for s, c in sorted(shapes.items(), key=lambda kv: (-kv[1], kv[0])))
        parts.append(f"scale-up: +{len(added)} node{'s' if len(added) != 1 else ''} ({text}) for {len(pods)} "
                     f"pending pod{'s' if len(pods) != 1 else ''} in {workloads_text(pods) or 'the cluster'}")
    if removed:
        reasons = Counter(removed.values())
        text = ", ".join(f"{c}x {r}" for r, c in reasons.most_common())
        parts.append(f"remove: -{len(removed)} node{'s' if len(removed) != 1 else ''} ({text})")
    sign = "+" if delta >= 0 else "-"
    return "; ".join(parts) + f", {sign}${abs(delta):.2f}/h"
