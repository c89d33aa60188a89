"""The node registration's decisions, with a fake EC2 and a fake Kubernetes (no processes)."""

from __future__ import annotations

import base64

from provisioner.catalog import allocatable
from provisioner.catalog.instancetypes import InstanceType, from_ec2
from provisioner.fleet import ownership, userdata
from provisioner.fleet.userdata import Taint
from provisioner.localcloud.node_registrar import KWOK_ANNOTATION, NodeRegistrar

IT_ITEM = {"InstanceType": "m5.large", "VCpuInfo": {"DefaultVCpus": 2}, "MemoryInfo": {"SizeInMiB": 8192},
           "ProcessorInfo": {"SupportedArchitectures": ["x86_64"]},
           "NetworkInfo": {"MaximumNetworkInterfaces": 3, "Ipv4AddressesPerInterface": 10}}


class FakeEC2:
    def __init__(self) -> None:
        self.instances: list[dict] = []
        self.user_data = base64.b64encode(userdata.render({"team": "a"}, [Taint("gpu", "NoSchedule")]).encode())

    def get_paginator(self, _: str) -> "FakeEC2":
        return self

    def paginate(self, Filters: list) -> list[dict]:  # noqa: N803 - boto3 spelling
        assert Filters == [{"Name": f"tag:{ownership.CLUSTER}", "Values": ["c1"]}]
        return [{"Reservations": [{"Instances": self.instances}]}]

    def describe_instance_types(self, InstanceTypes: list) -> dict:  # noqa: N803
        return {"InstanceTypes": [IT_ITEM]}

    def describe_launch_template_versions(self, LaunchTemplateId: str, Versions: list) -> dict:  # noqa: N803
        return {"LaunchTemplateVersions": [{"LaunchTemplateData": {"UserData": self.user_data.decode()}}]}

    def describe_instance_attribute(self, InstanceId: str, Attribute: str) -> dict:  # noqa: N803
        assert Attribute == "userData"
        return {"UserData": {"Value": base64.b64encode(userdata.render({"via": "attribute"}).encode()).decode()}}

    def launch(self, iid: str, state: str = "running", name: str | None = None) -> dict:
        tags = [{"Key": ownership.CLUSTER, "Value": "c1"}, {"Key": ownership.NODEPOOL, "Value": "pool"},
                {"Key": "aws:ec2launchtemplate:id", "Value": "lt-1"},
                {"Key": "aws:ec2launchtemplate:version", "Value": "1"}]
        if name:
            tags.append({"Key": ownership.NODE_NAME, "Value": name})
        inst = {"InstanceId": iid, "InstanceType": "m5.large", "State": {"Name": state},
                "Placement": {"AvailabilityZone": "us-east-1a"}, "PrivateDnsName": f"ip-{iid}.ec2.internal",
                "PrivateIpAddress": "10.0.0.5", "Tags": tags}
        self.instances.append(inst)
        return inst


class FakeKube:
    def __init__(self) -> None:
        self.objects: dict[str, dict] = {}

    def nodes(self) -> list[dict]:
        return list(self.objects.values())

    def create_node(self, node: dict) -> None:
        self.objects[node["metadata"]["name"]] = node

    def delete_node(self, name: str) -> None:
        self.objects.pop(name, None)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _registrar(boot_delay: float = 5.0) -> tuple[NodeRegistrar, FakeEC2, FakeKube, Clock]:
    ec2, kube, clock = FakeEC2(), FakeKube(), Clock()
    return NodeRegistrar("c1", ec2, kube, "us-east-1", boot_delay, clock=clock), ec2, kube, clock


def test_registers_after_boot_delay_with_tag_name_labels_taints_allocatable() -> None:
    reg, ec2, kube, clock = _registrar()
    ec2.launch("i-1", name="pool-abc")
    assert reg.sync_once().waiting == 1 and kube.objects == {}
    clock.now += 5
    assert reg.sync_once().registered == ["pool-abc"]
    node = kube.objects["pool-abc"]
    assert node["spec"]["providerID"] == "aws:///us-east-1a/i-1"
    assert node["spec"]["taints"] == [{"key": "gpu", "effect": "NoSchedule"}]
    labels = node["metadata"]["labels"]
    assert labels["team"] == "a" and labels["karpenter.sh/nodepool"] == "pool"
    assert labels["provisioner.sh/capacity-type"] == "on-demand" and labels["kubernetes.io/hostname"] == "pool-abc"
    assert node["metadata"]["annotations"][KWOK_ANNOTATION] == "fake"
    it: InstanceType = from_ec2(IT_ITEM)
    assert node["status"]["allocatable"] == allocatable.allocatable(it).to_k8s()


def test_private_dns_name_without_tag_and_no_duplicate() -> None:
    reg, ec2, kube, _ = _registrar(boot_delay=0)
    ec2.launch("i-2")
    assert reg.sync_once().registered == ["ip-i-2.ec2.internal"]
    assert reg.sync_once().registered == []


def test_node_deleted_when_instance_stops_or_terminates_only_ours() -> None:
    reg, ec2, kube, _ = _registrar(boot_delay=0)
    inst = ec2.launch("i-3", name="n3")
    kube.objects["foreign"] = {"metadata": {"name": "foreign", "annotations": {}}}
    reg.sync_once()
    inst["State"]["Name"] = "shutting-down"
    assert reg.sync_once().deleted == ["n3"]
    assert set(kube.objects) == {"foreign"}


def test_pending_instance_waits() -> None:
    reg, ec2, kube, _ = _registrar(boot_delay=0)
    ec2.launch("i-4", state="pending")
    assert reg.sync_once().registered == [] and kube.objects == {}


def test_user_data_from_instance_attribute_without_launch_template() -> None:
    reg, ec2, kube, _ = _registrar(boot_delay=0)
    inst = ec2.launch("i-5", name="n5")
    inst["Tags"] = [t for t in inst["Tags"] if not t["Key"].startswith("aws:")]
    reg.sync_once()
    assert kube.objects["n5"]["metadata"]["labels"]["via"] == "attribute"
    assert kube.objects["n5"]["spec"]["taints"] == []
