"""Each fleet-guard policy's validate function, called directly (no engine)."""

import importlib.util
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

PACK = Path(__file__).resolve().parents[3] / "policies" / "fleet-guard"
sys.path.insert(0, str(PACK))
fleet_guard = importlib.import_module("fleet_guard")


@dataclass
class Args:
    resource_type: str
    props: dict
    name: str = "res"
    config: dict = field(default_factory=dict)
    resources: list = field(default_factory=list)

    def get_config(self):
        return self.config


def violations(fn, args) -> list[str]:
    out = []
    fn(args, lambda msg, urn=None: out.append(msg))
    return out


REQUIRED = {"provisioner.sh/cluster": "c", "provisioner.sh/nodepool": "p", "provisioner.sh/managed-by": "provisioner"}


def fleet(types, node="web-1", tags=None):
    return Args(fleet_guard.FLEET, {
        "tags": {**REQUIRED, "provisioner.sh/node-name": node, **(tags or {})},
        "launchTemplateConfigs": [{"overrides": [{"instanceType": t} for t in types]}],
    })


def template(**over):
    props = {
        "name": "lt-1", "tags": dict(REQUIRED),
        "metadataOptions": {"httpTokens": "required", "httpPutResponseHopLimit": 1},
        "blockDeviceMappings": [{"deviceName": "/dev/xvda", "ebs": {"encrypted": "true"}}],
        "networkInterfaces": [{"deviceIndex": 0, "associatePublicIpAddress": "false"}],
        "tagSpecifications": [{"resourceType": "instance", "tags": dict(REQUIRED)},
                              {"resourceType": "volume", "tags": dict(REQUIRED)}],
    }
    props.update(over)
    return Args(fleet_guard.LAUNCH_TEMPLATE, props)


def test_denied_family_names_node_type_and_rule():
    args = fleet(["m6i.large", "p4d.24xlarge"])
    args.config = {"deniedFamilies": ["p4d"]}
    (msg,) = violations(fleet_guard.check_instance_types, args)
    assert 'node "web-1"' in msg and "p4d.24xlarge" in msg and "deniedFamilies" in msg


def test_allowed_categories_exclude_everything_else():
    args = fleet(["m6i.large", "c7g.large"])
    args.config = {"allowedCategories": ["m"]}
    (msg,) = violations(fleet_guard.check_instance_types, args)
    assert "c7g.large" in msg


def test_allowed_types_pass():
    args = fleet(["m6i.large"])
    args.config = {"allowedFamilies": ["m6i", "m5"]}
    assert violations(fleet_guard.check_instance_types, args) == []


def test_imdsv2_and_hop_limit():
    assert violations(fleet_guard.check_imdsv2, template()) == []
    bad = template(metadataOptions={"httpTokens": "optional", "httpPutResponseHopLimit": 2})
    msgs = violations(fleet_guard.check_imdsv2, bad)
    assert len(msgs) == 2 and "httpTokens" in msgs[0] and "hop" in msgs[1].lower()
    allowed = template(metadataOptions={"httpTokens": "required", "httpPutResponseHopLimit": 2})
    allowed.config = {"maxHopLimit": 2.0}  # numbers arrive as floats through protobuf
    assert violations(fleet_guard.check_imdsv2, allowed) == []


def test_unencrypted_volume():
    bad = template(blockDeviceMappings=[{"deviceName": "/dev/xvda", "ebs": {"encrypted": "false"}}])
    (msg,) = violations(fleet_guard.check_encrypted_volumes, bad)
    assert "/dev/xvda" in msg and "not encrypted" in msg


def test_public_ip_only_when_allowed():
    bad = template(networkInterfaces=[{"deviceIndex": 0, "associatePublicIpAddress": "true"}])
    assert violations(fleet_guard.check_public_ip, bad)
    bad.config = {"allowPublicIp": True}
    assert violations(fleet_guard.check_public_ip, bad) == []


def test_missing_ownership_tags_on_volume_spec():
    bad = template(tagSpecifications=[{"resourceType": "instance", "tags": dict(REQUIRED)}])
    (msg,) = violations(fleet_guard.check_ownership_tags, bad)
    assert "tagSpecifications[volume]" in msg


@pytest.mark.parametrize("limit,expect", [(2, 1), (3, 0)])
def test_max_nodes(limit, expect):
    args = Args("", {}, config={"maxNodes": limit}, resources=[fleet(["m6i.large"]) for _ in range(3)])
    assert len(violations(fleet_guard.check_max_nodes, args)) == expect


def test_max_vcpu_counts_largest_candidate():
    # m6i.large = 2 vCPU, m6i.2xlarge = 8 vCPU: two nodes could reach 16
    nodes = [fleet(["m6i.large", "m6i.2xlarge"]), fleet(["m6i.large", "m6i.2xlarge"], node="web-2")]
    args = Args("", {}, config={"maxVcpu": 10}, resources=nodes)
    (msg,) = violations(fleet_guard.check_max_vcpu, args)
    assert "16 vCPUs" in msg
