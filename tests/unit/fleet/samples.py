"""A small valid desired node set for unit tests (no cloud needed)."""

from __future__ import annotations

import copy


def valid_doc() -> dict:
    return copy.deepcopy({
        "apiVersion": "provisioner.sh/v1alpha1",
        "kind": "DesiredNodeSet",
        "cluster": "demo",
        "region": "us-east-1",
        "nodeClasses": {
            "default": {
                "amis": {"amd64": "ami-0123456789abcdef0", "arm64": "ami-0fedcba9876543210"},
                "subnets": {"us-east-1a": "subnet-0123456789abcdef0", "us-east-1b": "subnet-0123456789abcdef1"},
                "securityGroupIds": ["sg-0123456789abcdef0"],
                "blockDevices": [{"deviceName": "/dev/xvda", "volumeSizeGiB": 40}],
                "tags": {"team": "platform"},
            },
        },
        "nodes": [
            {"name": "web-1", "nodePool": "default", "nodeClass": "default",
             "instanceTypes": ["m6i.large", "m5.large"], "capacityType": "spot",
             "zones": ["us-east-1a", "us-east-1b"], "labels": {"tier": "web"},
             "taints": [{"key": "dedicated", "value": "web", "effect": "NoSchedule"}],
             "reason": "3 pending pods in web/frontend"},
            {"name": "arm-1", "nodePool": "default", "nodeClass": "default", "architecture": "arm64",
             "instanceTypes": ["m7g.large"], "capacityType": "on-demand", "zones": ["us-east-1b"]},
        ],
    })
