"""Drift: which of our nodes no longer match their NodePool and NodeClass (pure).

A node is compared with what it was launched with, as the desired node set records it: its
NodeClass settings (`DesiredNodeSet.node_classes[node.settings_key]`, pinned at launch), its
labels and taints. The NodePool and NodeClass of now are the world's. A drifted node is replaced
by the disruption controller (rolling, within budgets); nothing here changes the fleet.

No drift is claimed without facts: a NodeClass that cannot be resolved now, recorded settings
that are missing, or a requirement on a label the node does not carry are not compared.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Callable, Mapping

from provisioner.api.types import NodePool
from provisioner.catalog import labels as L
from provisioner.fleet.desired import DesiredNode, NodeClassSettings
from provisioner.provisioning.planner import Launched, World, _taints
from provisioner.scheduling.columns import pool_infos
from provisioner.scheduling.requirements import Req
from provisioner.state import view
from provisioner.state.kinds import Obj

# NodeClass settings fields, as the desired node set spells them, and how to read each for a node.
_FIELDS: tuple[tuple[str, Callable[[NodeClassSettings], Any]], ...] = (
    ("securityGroups", lambda s: tuple(sorted(s.security_group_ids))),
    ("instanceProfile", lambda s: s.instance_profile),
    ("userData", lambda s: s.user_data),
    ("blockDevices", lambda s: tuple(asdict(b) for b in s.block_devices)),
    ("metadataOptions", lambda s: asdict(s.metadata_options)),
    ("associatePublicIpAddress", lambda s: s.associate_public_ip_address),
    ("tags", lambda s: dict(sorted(s.tags.items()))),
)


def drifted(world: World) -> dict[str, str]:
    """Registered Nodes of ours that are in the desired node set and have drifted -> one-line reason
    (several reasons joined by `; `), in the order of `world.nodes`."""
    desired = {n.name: n for n in world.desired.nodes}
    pools = {p.name: p for p in world.nodepools}
    reqs = {p.name: requirements(p) for p in world.nodepools}
    out: dict[str, str] = {}
    for obj in world.nodes:
        name = obj["metadata"]["name"]
        node = desired.get(name)
        if node is None or not view.is_ours(obj):
            continue
        reasons = node_drift(world, node, obj, pools.get(node.node_pool), reqs.get(node.node_pool))
        if reasons:
            out[name] = "; ".join(reasons)
    return out


def node_drift(world: World, node: DesiredNode, obj: Obj, pool: NodePool | None,
               reqs: tuple[Req, ...] | None = None) -> list[str]:
    """Every way one node differs from its NodePool and NodeClass of now (empty: not drifted)."""
    if pool is None:
        return [f"NodePool {node.node_pool} no longer exists"]
    facts = _facts(obj, world.launched.get(node.name))
    out = []
    if pool.node_class_ref != node.node_class:
        out.append(f"NodePool {pool.name} now uses NodeClass {pool.node_class_ref} (node has {node.node_class})")
    else:
        out += nodeclass_drift(node, world.desired.node_classes.get(node.settings_key),
                               world.settings.get(node.node_class), facts.get(L.ZONE))
    changed = sorted(k for k in set(pool.labels) | set(node.labels) if pool.labels.get(k) != node.labels.get(k))
    if changed:
        out.append(f"NodePool {pool.name} labels changed ({', '.join(changed)})")
    want, have = set(_taints(pool)), set(node.taints)
    if want != have:
        keys = sorted({t.key for t in want ^ have})
        out.append(f"NodePool {pool.name} taints changed ({', '.join(keys)})")
    failed = [r for r in (requirements(pool) if reqs is None else reqs) if r.key in facts and not r.matches(facts)]
    if failed:
        offering = "/".join(facts.get(k, "?") for k in (L.INSTANCE_TYPE, L.ZONE, L.CAPACITY_TYPE))
        out.append(f"NodePool {pool.name} requirements no longer allow {offering} "
                   f"({', '.join(r.describe() for r in failed)})")
    return out


def nodeclass_drift(node: DesiredNode, recorded: NodeClassSettings | None, now: NodeClassSettings | None,
                    zone: str | None = None) -> list[str]:
    """How the settings a node was launched with differ from its NodeClass's settings of now."""
    if recorded is None or now is None:
        return []
    out = []
    cls, arch = node.node_class, node.architecture
    before, after = recorded.amis.get(arch), now.amis.get(arch)
    if before != after:
        out.append(f"AMI of NodeClass {cls} changed ({before or 'none'} -> {after or f'no {arch} AMI'})")
    fields = [f for f, read in _FIELDS if read(recorded) != read(now)]
    zones = (zone,) if zone else node.zones
    if any(recorded.subnets.get(z) != now.subnets.get(z) for z in zones):
        fields.insert(0, "subnets")
    if fields:
        out.append(f"NodeClass {cls} changed ({', '.join(fields)})")
    return out


def requirements(pool: NodePool) -> tuple[Req, ...]:
    """The NodePool's requirements as the scheduling simulation applies them (Karpenter's on-demand
    default when the pool says nothing about capacity type)."""
    return pool_infos([pool], [], ())[0].requirements


def _facts(obj: Obj, launched: Launched | None) -> Mapping[str, str]:
    """The node's labels, completed with what its fleet launched (instance type, zone, capacity type)."""
    facts = dict(obj["metadata"].get("labels") or {})
    if launched is not None:
        for key, value in ((L.INSTANCE_TYPE, launched.instance_type), (L.ZONE, launched.zone)):
            if value:
                facts.setdefault(key, value)
    capacity = next((facts[k] for k in L.CAPACITY_TYPE_KEYS if facts.get(k)),
                    launched.capacity_type if launched else None)
    if capacity:
        for key in L.CAPACITY_TYPE_KEYS:
            facts.setdefault(key, capacity)
    return facts
