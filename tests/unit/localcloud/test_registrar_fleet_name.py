"""The node name comes from the EC2 Fleet's tags when the instance lacks the node-name tag."""

from __future__ import annotations

from provisioner.fleet import ownership
from provisioner.localcloud.node_registrar import NodeRegistrar

from .test_node_registrar import FakeEC2, FakeKube


class FleetEC2(FakeEC2):
    def __init__(self) -> None:
        super().__init__()
        self.describe_calls = 0

    def describe_fleets(self, FleetIds: list) -> dict:  # noqa: N803 - boto3 spelling
        self.describe_calls += 1
        return {"Fleets": [{"FleetId": FleetIds[0], "Tags": [{"Key": ownership.NODE_NAME, "Value": "web-abcde"}]}]}


def test_node_named_after_its_fleet_tag_and_fleet_described_once():
    ec2, kube = FleetEC2(), FakeKube()
    inst = ec2.launch("i-1")
    inst["Tags"].append({"Key": "aws:ec2:fleet-id", "Value": "fleet-1"})
    registrar = NodeRegistrar("c1", ec2, kube, "us-east-1", boot_delay=0)

    assert registrar.sync_once().registered == []  # fleet just seen: wait for a complete snapshot
    assert registrar.sync_once().registered == ["web-abcde"]
    registrar.sync_once()

    assert set(kube.objects) == {"web-abcde"}
    assert kube.objects["web-abcde"]["metadata"]["labels"]["kubernetes.io/hostname"] == "web-abcde"
    assert ec2.describe_calls == 1


def test_instance_tag_wins_over_fleet_tag():
    ec2, kube = FleetEC2(), FakeKube()
    inst = ec2.launch("i-2", name="own-name")
    inst["Tags"].append({"Key": "aws:ec2:fleet-id", "Value": "fleet-2"})
    NodeRegistrar("c1", ec2, kube, "us-east-1", boot_delay=0).sync_once()
    assert set(kube.objects) == {"own-name"} and ec2.describe_calls == 0


class LateFleetEC2(FleetEC2):
    """EC2 shows the instance before its fleet record (eventual consistency)."""

    def __init__(self) -> None:
        super().__init__()
        self.visible = False

    def describe_fleets(self, FleetIds: list) -> dict:  # noqa: N803 - boto3 spelling
        if not self.visible:
            self.describe_calls += 1
            return {"Fleets": []}
        return super().describe_fleets(FleetIds)


def test_node_waits_for_its_fleet_instead_of_taking_a_wrong_name():
    ec2, kube = LateFleetEC2(), FakeKube()
    inst = ec2.launch("i-3")
    inst["Tags"].append({"Key": "aws:ec2:fleet-id", "Value": "fleet-3"})
    registrar = NodeRegistrar("c1", ec2, kube, "us-east-1", boot_delay=0)

    assert registrar.sync_once().registered == []
    ec2.visible = True
    assert registrar.sync_once().registered == []
    assert registrar.sync_once().registered == ["web-abcde"]
