"""Hand-built cluster states for the planner's unit tests."""

from __future__ import annotations

from pathlib import Path

from provisioner.api import load_yaml
from provisioner.fleet.desired import DesiredNodeSet, NodeClassSettings
from provisioner.provisioning.planner import World

SAMPLES = Path(__file__).resolve().parents[3] / "stacks" / "samples"
ZONES = ("us-east-1a", "us-east-1b", "us-east-1c")
SETTINGS = NodeClassSettings(name="default", amis={"amd64": "ami-1", "arm64": "ami-2"},
                             subnets={z: f"subnet-{z[-1]}" for z in ZONES}, security_group_ids=("sg-1",))


def pools(*names: str):
    out_pools, out_classes = [], []
    for name in names:
        p, c = load_yaml(SAMPLES / f"{name}.yaml")
        out_pools += p
        out_classes += c
    if not out_classes:
        out_classes = load_yaml(SAMPLES / "default.yaml")[1]
    return tuple(out_pools), tuple(out_classes)


def pending_pod(name: str, cpu: str = "1", memory: str = "1Gi", ns: str = "web", deploy: str = "frontend",
                **spec) -> dict:
    return {"metadata": {"name": f"{deploy}-abc12-{name}", "namespace": ns, "uid": f"u-{name}",
                         "labels": {"app": deploy, "pod-template-hash": "abc12"},
                         "ownerReferences": [{"kind": "ReplicaSet", "name": f"{deploy}-abc12", "controller": True}]},
            "spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": cpu, "memory": memory}}}], **spec},
            "status": {"phase": "Pending",
                       "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}]}}


def world(pods, pool_names=("default",), desired=None, nodes=(), launched=None, expired=None) -> World:
    nps, ncs = pools(*pool_names)
    return World(pods=tuple(pods), nodes=tuple(nodes), nodepools=nps, nodeclasses=ncs,
                 settings={"default": SETTINGS},
                 desired=desired or DesiredNodeSet("test", "us-east-1", {}, ()),
                 launched=launched or {}, expired=expired or {})
