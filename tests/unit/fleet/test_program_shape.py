"""The program's shape under pulumi.runtime.set_mocks: resource types, counts and secure inputs.

This is a unit test of the declaration only; the integration tests run the real engine.
"""

import pulumi
import pytest

from provisioner.fleet.validation import parse

from .samples import valid_doc


class Recorder(pulumi.runtime.Mocks):
    def __init__(self):
        self.resources = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        self.resources.append((args.typ, args.name, args.inputs))
        outputs = dict(args.inputs)
        if args.typ == "aws:ec2/launchTemplate:LaunchTemplate":
            outputs["latestVersion"] = 1
        return f"{args.name}-id", outputs

    def call(self, args: pulumi.runtime.MockCallArgs):
        return {}


@pytest.fixture
def recorder():
    rec = Recorder()
    pulumi.runtime.set_mocks(rec, project="provisioner-fleet", stack="unit", preview=False)
    return rec


@pulumi.runtime.test
def test_program_declares_templates_and_instant_fleets(recorder):
    from provisioner.fleet.program import declare

    fleets = declare(parse(valid_doc()))

    def check(_):
        by_type = {}
        for typ, name, inputs in recorder.resources:
            by_type.setdefault(typ, []).append((name, inputs))
        assert len(by_type["aws:ec2/fleet:Fleet"]) == 2
        assert len(by_type["aws:ec2/launchTemplate:LaunchTemplate"]) == 2
        for _, lt in by_type["aws:ec2/launchTemplate:LaunchTemplate"]:
            assert lt["metadataOptions"]["httpTokens"] == "required"
            assert lt["metadataOptions"]["httpPutResponseHopLimit"] == 1
            assert lt["blockDeviceMappings"][0]["ebs"]["encrypted"] == "true"
            assert lt["networkInterfaces"][0]["associatePublicIpAddress"] == "false"
            assert {s["resourceType"] for s in lt["tagSpecifications"]} == {"instance", "volume"}
        name, fleet = sorted(by_type["aws:ec2/fleet:Fleet"])[1]
        assert name == "node-web-1"
        assert fleet["type"] == "instant" and fleet["terminateInstances"] is True
        assert fleet["targetCapacitySpecification"] == {"defaultTargetCapacityType": "spot", "totalTargetCapacity": 1}
        assert fleet["spotOptions"]["allocationStrategy"] == "capacity-optimized-prioritized"
        overrides = fleet["launchTemplateConfigs"][0]["overrides"]
        assert [o["instanceType"] for o in overrides] == ["m6i.large", "m6i.large", "m5.large", "m5.large"]

    return pulumi.Output.all(*[f.id for f in fleets.values()]).apply(check)
