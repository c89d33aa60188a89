"""What the stack's state says exists: node name -> what its fleet launched (pure, from an exported deployment)."""

from __future__ import annotations

from provisioner.fleet.desired import DesiredNodeSet
from provisioner.provisioning.planner import Launched

FLEET_TYPE = "aws:ec2/fleet:Fleet"


def stack_nodes(deployment: dict, desired: DesiredNodeSet | None) -> dict[str, Launched | None]:
    """Every node whose fleet is in the state; None when it launched nothing."""
    zones = {n.name: n.zones[0] for n in (desired.nodes if desired else ())}
    out: dict[str, Launched | None] = {}
    for res in deployment.get("resources") or []:
        if res.get("type") != FLEET_TYPE or res.get("delete"):
            continue
        name = res.get("urn", "").rsplit("::", 1)[-1].removeprefix("node-")
        sets = [s for s in (res.get("outputs") or {}).get("fleetInstanceSets") or [] if s.get("instanceIds")]
        if not sets:
            out[name] = None
            continue
        s = sets[0]
        ct = "spot" if s.get("lifecycle") == "spot" else "on-demand"
        out[name] = Launched(s.get("instanceType", ""), ct, zones.get(name, ""))
    return out


def recorded(desired: DesiredNodeSet | None, nodes: dict[str, Launched | None], cluster: str,
             region: str) -> DesiredNodeSet:
    """The desired node set cut to the nodes the state holds (after a failed update the config may list more)."""
    if desired is None:
        return DesiredNodeSet(cluster, region, {}, ())
    return desired.with_nodes([n for n in desired.nodes if n.name in nodes])
