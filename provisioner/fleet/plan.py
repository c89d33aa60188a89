"""From a desired node set to the exact EC2 objects to declare: pure data, no Pulumi.

Launch templates are content-addressed: their name is a hash of everything that goes
into them, so an unchanged NodeClass and NodePool never cause a diff, and a changed one
produces a new template (created before the nodes that use it, deleted after them).
Each node's template is built from the settings it names (`DesiredNode.settings_key`), so
existing nodes keep their templates when a NodeClass changes; only new nodes use the new one.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

import yaml

from provisioner.fleet import ownership, userdata
from provisioner.fleet.desired import BlockDevice, DesiredNode, DesiredNodeSet, MetadataOptions


@dataclass(frozen=True)
class LaunchTemplateSpec:
    key: str  # content hash, 12 hex digits
    name: str
    node_class: str
    node_pool: str
    architecture: str
    image_id: str
    security_group_ids: tuple[str, ...]
    instance_profile: str | None
    user_data: str
    block_devices: tuple[BlockDevice, ...]
    metadata_options: MetadataOptions
    associate_public_ip_address: bool
    tags: dict[str, str]

    @property
    def logical_name(self) -> str:
        return f"lt-{self.key}"


@dataclass(frozen=True)
class Override:
    instance_type: str
    zone: str
    subnet_id: str
    priority: int  # 0 first, as EC2 Fleet's prioritized strategies read it


@dataclass(frozen=True)
class NodeSpec:
    node: DesiredNode
    template: LaunchTemplateSpec
    overrides: tuple[Override, ...]
    tags: dict[str, str]

    @property
    def logical_name(self) -> str:
        return f"node-{self.node.name}"


@dataclass(frozen=True)
class FleetPlan:
    templates: tuple[LaunchTemplateSpec, ...]
    nodes: tuple[NodeSpec, ...]


def plan_fleet(desired: DesiredNodeSet) -> FleetPlan:
    templates: dict[str, LaunchTemplateSpec] = {}
    nodes = []
    for node in desired.nodes:
        template = launch_template_for(desired, node)
        templates.setdefault(template.key, template)
        nodes.append(NodeSpec(node=node, template=template, overrides=overrides_for(desired, node),
                              tags=node_tags(desired, node)))
    return FleetPlan(templates=tuple(sorted(templates.values(), key=lambda t: t.key)), nodes=tuple(nodes))


def launch_template_for(desired: DesiredNodeSet, node: DesiredNode) -> LaunchTemplateSpec:
    nc = desired.settings_of(node)  # the settings the node was launched with, not necessarily the newest
    tags = {
        **nc.tags,
        **ownership.base_tags(desired.cluster),
        ownership.NODEPOOL: node.node_pool,
        ownership.NODECLASS: node.node_class,
    }
    content = {
        "image_id": nc.amis[node.architecture],
        "security_group_ids": sorted(nc.security_group_ids),
        "instance_profile": nc.instance_profile,
        "user_data": userdata.render(node.labels, node.taints, _node_config_spec(nc.user_data)),
        "block_devices": [asdict(b) for b in nc.block_devices],
        "metadata_options": asdict(nc.metadata_options),
        "associate_public_ip_address": nc.associate_public_ip_address,
        "tags": dict(sorted(tags.items())),
    }
    key = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:12]
    return LaunchTemplateSpec(
        key=key, name=f"{desired.cluster}-{node.node_pool}-{key}", node_class=node.node_class,
        node_pool=node.node_pool, architecture=node.architecture, image_id=content["image_id"],
        security_group_ids=tuple(content["security_group_ids"]), instance_profile=nc.instance_profile,
        user_data=content["user_data"], block_devices=nc.block_devices, metadata_options=nc.metadata_options,
        associate_public_ip_address=nc.associate_public_ip_address, tags=content["tags"],
    )


def _node_config_spec(text: str) -> dict:
    """The NodeClass's own user data is a NodeConfig (YAML); its spec is merged into ours."""
    if not text.strip():
        return {}
    doc = yaml.safe_load(text)
    if not isinstance(doc, dict) or not isinstance(doc.get("spec"), dict):
        raise ValueError("nodeClass userData must be a node.eks.aws NodeConfig document with a spec")
    return doc["spec"]


def overrides_for(desired: DesiredNodeSet, node: DesiredNode) -> tuple[Override, ...]:
    """Every (type, zone) pair, cheapest-ranked type first, then zone rank.

    A capacity error on one pair makes EC2 try the next, so one node falls back
    across types and zones within a single CreateFleet call.
    """
    subnets = desired.settings_of(node).subnets
    out = []
    for t_rank, itype in enumerate(node.instance_types):
        for z_rank, zone in enumerate(node.zones):
            out.append(Override(itype, zone, subnets[zone], t_rank * len(node.zones) + z_rank))
    return tuple(out)


def node_tags(desired: DesiredNodeSet, node: DesiredNode) -> dict[str, str]:
    tags = {
        **desired.settings_of(node).tags,
        **ownership.base_tags(desired.cluster),
        ownership.NODEPOOL: node.node_pool,
        ownership.NODECLASS: node.node_class,
        ownership.NODE_NAME: node.name,
        ownership.STATE: node.state,
        "Name": node.name,
    }
    if node.state == "draining" and node.reason:
        tags[ownership.DISRUPTION_REASON] = node.reason
    return dict(sorted(tags.items()))
