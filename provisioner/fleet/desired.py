"""The desired node set: the plain, versioned document listing every node that must exist.

It is the only input of the fleet program. The planner writes it, operators read and
review it, the stack records it in config. Everything in it is resolved (AMI ids, subnet
ids), so the program needs no cloud lookups and stays a pure function of this document.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

API_VERSION = "provisioner.sh/v1alpha1"
KIND = "DesiredNodeSet"
CAPACITY_TYPES = ("spot", "on-demand")
ARCHITECTURES = ("amd64", "arm64")
TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
NODE_STATES = ("active", "draining")


@dataclass(frozen=True)
class Taint:
    key: str
    effect: str
    value: str = ""

    def to_k8s(self) -> dict[str, str]:
        out = {"key": self.key, "effect": self.effect}
        if self.value:
            out["value"] = self.value
        return out


@dataclass(frozen=True)
class BlockDevice:
    device_name: str = "/dev/xvda"
    volume_size_gib: int = 20
    volume_type: str = "gp3"
    encrypted: bool = True
    delete_on_termination: bool = True
    iops: int | None = None
    throughput: int | None = None
    kms_key_id: str | None = None


@dataclass(frozen=True)
class MetadataOptions:
    http_tokens: str = "required"
    http_put_response_hop_limit: int = 1
    http_endpoint: str = "enabled"


@dataclass(frozen=True)
class NodeClassSettings:
    """A NodeClass with every selector resolved to concrete ids."""

    name: str
    amis: dict[str, str]  # architecture -> AMI id
    subnets: dict[str, str]  # zone -> subnet id
    security_group_ids: tuple[str, ...] = ()
    instance_profile: str | None = None
    user_data: str = ""
    block_devices: tuple[BlockDevice, ...] = (BlockDevice(),)
    metadata_options: MetadataOptions = MetadataOptions()
    associate_public_ip_address: bool = False
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class DesiredNode:
    name: str
    node_pool: str
    node_class: str
    instance_types: tuple[str, ...]  # ranked: EC2 tries them in this order
    capacity_type: str
    zones: tuple[str, ...]  # ranked
    architecture: str = "amd64"
    labels: dict[str, str] = field(default_factory=dict)
    taints: tuple[Taint, ...] = ()
    reason: str = ""
    state: str = "active"
    # The key in `DesiredNodeSet.node_classes` of the settings this node was launched with; "" means
    # the key is the NodeClass name. A node stays pinned to its settings when its NodeClass changes:
    # drift is a rolling replacement by the disruption controller, never a change of its launch template.
    settings: str = ""

    @property
    def settings_key(self) -> str:
        return self.settings or self.node_class


@dataclass(frozen=True)
class DesiredNodeSet:
    cluster: str
    region: str
    # settings key -> resolved settings. A key is a NodeClass name, or `<NodeClass>@<content hash>` for
    # newer settings of a NodeClass while older nodes still use earlier ones (see DesiredNode.settings).
    node_classes: dict[str, NodeClassSettings]
    nodes: tuple[DesiredNode, ...] = ()

    def node(self, name: str) -> DesiredNode:
        return next(n for n in self.nodes if n.name == name)

    def settings_of(self, node: DesiredNode) -> NodeClassSettings:
        """The NodeClass settings `node` was launched with."""
        return self.node_classes[node.settings_key]

    def with_nodes(self, nodes: tuple[DesiredNode, ...] | list[DesiredNode]) -> "DesiredNodeSet":
        return DesiredNodeSet(self.cluster, self.region, self.node_classes, tuple(nodes))

    # ---- serialisation (camelCase on the wire, like Kubernetes) ----

    def to_dict(self) -> dict[str, Any]:
        return {
            "apiVersion": API_VERSION,
            "kind": KIND,
            "cluster": self.cluster,
            "region": self.region,
            "nodeClasses": {name: _node_class_to_dict(nc) for name, nc in sorted(self.node_classes.items())},
            "nodes": [_node_to_dict(n) for n in self.nodes],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)


def load(path: str | Path) -> DesiredNodeSet:
    """Read a desired node set from a YAML or JSON file."""
    from provisioner.fleet.validation import parse

    text = Path(path).read_text()
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        from provisioner.fleet.validation import DesiredNodeSetError

        raise DesiredNodeSetError([f"{path}: not valid YAML/JSON: {err}"]) from err
    return parse(data)


def loads(text: str) -> DesiredNodeSet:
    from provisioner.fleet.validation import parse

    return parse(yaml.safe_load(text))


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


def _node_class_to_dict(nc: NodeClassSettings) -> dict[str, Any]:
    return _drop_none({
        "amis": dict(sorted(nc.amis.items())),
        "subnets": dict(sorted(nc.subnets.items())),
        "securityGroupIds": list(nc.security_group_ids),
        "instanceProfile": nc.instance_profile,
        "userData": nc.user_data or None,
        "blockDevices": [
            _drop_none({
                "deviceName": b.device_name, "volumeSizeGiB": b.volume_size_gib, "volumeType": b.volume_type,
                "encrypted": b.encrypted, "deleteOnTermination": b.delete_on_termination, "iops": b.iops,
                "throughput": b.throughput, "kmsKeyId": b.kms_key_id,
            })
            for b in nc.block_devices
        ],
        "metadataOptions": {
            "httpTokens": nc.metadata_options.http_tokens,
            "httpPutResponseHopLimit": nc.metadata_options.http_put_response_hop_limit,
            "httpEndpoint": nc.metadata_options.http_endpoint,
        },
        "associatePublicIpAddress": nc.associate_public_ip_address,
        "tags": dict(sorted(nc.tags.items())),
    })


def _node_to_dict(n: DesiredNode) -> dict[str, Any]:
    out = {
        "name": n.name,
        "nodePool": n.node_pool,
        "nodeClass": n.node_class,
        "instanceTypes": list(n.instance_types),
        "capacityType": n.capacity_type,
        "zones": list(n.zones),
        "architecture": n.architecture,
        "labels": dict(sorted(n.labels.items())),
        "taints": [{"key": t.key, "value": t.value, "effect": t.effect} for t in n.taints],
        "reason": n.reason,
        "state": n.state,
    }
    if n.settings and n.settings != n.node_class:
        out["settings"] = n.settings
    return out
