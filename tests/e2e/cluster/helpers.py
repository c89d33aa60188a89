"""Small helpers for the local-cluster tests: launch owned instances in the local EC2, poll, build objects."""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from provisioner.catalog.instancetypes import InstanceType, from_ec2
from provisioner.catalog.resources import Resources
from provisioner.fleet import ownership, userdata
from provisioner.localcloud.cluster import LocalCluster
from tests.polling import wait_for  # noqa: F401 - re-exported for the cluster tests



@dataclass(frozen=True)
class Launched:
    instance_id: str
    node_name: str
    zone: str


def instance_type(lc: LocalCluster, name: str) -> InstanceType:
    return from_ec2(lc.ec2().client().describe_instance_types(InstanceTypes=[name])["InstanceTypes"][0])


def launch(lc: LocalCluster, nodepool: str, instance_type_name: str = "m5.large", count: int = 1,
           labels: Mapping[str, str] | None = None, taints: Iterable[userdata.Taint] = (), spot: bool = False,
           extra: Mapping[str, Any] | None = None) -> list[Launched]:
    """Run `count` instances through a launch template whose user data carries labels/taints."""
    local_ec2 = lc.ec2()
    ec2, seed = local_ec2.client(), local_ec2.seed()
    it = instance_type(lc, instance_type_name)
    tags = {**ownership.base_tags(lc.cluster), ownership.NODEPOOL: nodepool, ownership.NODECLASS: "default"}
    tag_list = [{"Key": k, "Value": v} for k, v in tags.items()]
    template = ec2.create_launch_template(
        LaunchTemplateName=f"{nodepool}-{uuid.uuid4().hex[:6]}",
        LaunchTemplateData={
            "ImageId": seed.amis[it.architecture],
            "UserData": base64.b64encode(userdata.render(labels or {}, taints, extra).encode()).decode(),
        },
        TagSpecifications=[{"ResourceType": "launch-template", "Tags": tag_list}],
    )["LaunchTemplate"]
    out = []
    for i in range(count):
        zone = seed.zones[i % len(seed.zones)]
        name = f"{nodepool}-{i}-{uuid.uuid4().hex[:4]}"
        kwargs: dict[str, Any] = {}
        if spot:
            kwargs["InstanceMarketOptions"] = {"MarketType": "spot"}
        inst = ec2.run_instances(
            LaunchTemplate={"LaunchTemplateId": template["LaunchTemplateId"], "Version": "$Latest"},
            InstanceType=instance_type_name, SubnetId=seed.subnets[zone], MinCount=1, MaxCount=1,
            TagSpecifications=[{"ResourceType": "instance",
                                "Tags": tag_list + [{"Key": ownership.NODE_NAME, "Value": name}]}],
            **kwargs,
        )["Instances"][0]
        out.append(Launched(inst["InstanceId"], name, zone))
    return out


def ready(node: Mapping[str, Any]) -> bool:
    conditions = (node.get("status") or {}).get("conditions") or []
    taints = (node.get("spec") or {}).get("taints") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions) and not any(
        t["key"].startswith("node.kubernetes.io/") for t in taints)


def wait_nodes_ready(lc: LocalCluster, names: Iterable[str], timeout: float = 60) -> dict[str, dict]:
    kube, wanted = lc.kube(), set(names)

    def probe() -> dict[str, dict] | None:
        nodes = {n["metadata"]["name"]: n for n in kube.nodes() if n["metadata"]["name"] in wanted}
        return nodes if len(nodes) == len(wanted) and all(ready(n) for n in nodes.values()) else None

    return wait_for(probe, timeout, f"nodes {sorted(wanted)} Ready")


def deployment(name: str, replicas: int, nodepool: str, cpu: str = "500m", memory: str = "256Mi",
               tolerations: list[dict] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "nodeSelector": {ownership.NODEPOOL: nodepool},
                    "tolerations": tolerations or [],
                    "terminationGracePeriodSeconds": 0,
                    "containers": [{"name": "app", "image": "registry.k8s.io/pause:3.10",
                                    "resources": {"requests": {"cpu": cpu, "memory": memory}}}],
                },
            },
        },
    }


def pods(lc: LocalCluster, namespace: str, app: str) -> list[dict[str, Any]]:
    return lc.kube().call("GET", f"/api/v1/namespaces/{namespace}/pods", query={"labelSelector": f"app={app}"})["items"]


def pod_ready(pod: Mapping[str, Any]) -> bool:
    status = pod.get("status") or {}
    return status.get("phase") == "Running" and not pod["metadata"].get("deletionTimestamp") and any(
        c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions") or [])


def requests_fit(pods_on_node: list[dict], node: Mapping[str, Any]) -> bool:
    total = Resources()
    for pod in pods_on_node:
        for container in pod["spec"]["containers"]:
            total = total + Resources.parse((container.get("resources") or {}).get("requests") or {})
    allocatable = Resources.parse(node["status"]["allocatable"])
    return total.fits(allocatable) and len(pods_on_node) <= allocatable.get("pods")
