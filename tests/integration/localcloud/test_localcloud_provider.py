"""The stand-in provider's servicer methods, called with request protobufs, against the local EC2."""

from __future__ import annotations

import base64
import json

import pytest
from pulumi.runtime.proto import provider_pb2 as pb

from provisioner.localcloud.aws_provider.shared import from_struct, to_struct
from conftest import Aborted, FakeContext

pytestmark = pytest.mark.integration

LT_URN = "urn:pulumi:dev::fleet::aws:ec2/launchTemplate:LaunchTemplate::nodes"
FLEET_URN = "urn:pulumi:dev::fleet::aws:ec2/fleet:Fleet::pool"
CTX = FakeContext()


def _lt_props(seed, **over):
    props = {
        "imageId": seed.amis["arm64"],
        "userData": base64.b64encode(b"#!/bin/sh\n").decode(),
        "vpcSecurityGroupIds": list(seed.security_group_ids),
        "blockDeviceMappings": [{"deviceName": "/dev/xvda", "ebs": {
            "volumeSize": 30, "volumeType": "gp3", "encrypted": "true", "deleteOnTermination": "true"}}],
        "metadataOptions": {"httpEndpoint": "enabled", "httpTokens": "required", "httpPutResponseHopLimit": 2},
        "tagSpecifications": [{"resourceType": "instance", "tags": {"provisioner.sh/nodepool": "default"}},
                              {"resourceType": "volume", "tags": {"provisioner.sh/nodepool": "default"}}],
        "tags": {"provisioner.sh/cluster": "test"},
        "updateDefaultVersion": True,
    }
    props.update(over)
    return props


def _check(provider, urn, news, olds=None):
    response = provider.Check(pb.CheckRequest(urn=urn, news=to_struct(news), olds=to_struct(olds or {}),
                                              randomSeed=b"seed"), CTX)
    assert list(response.failures) == []
    return response.inputs


def _create_lt(provider, seed, **over):
    inputs = _check(provider, LT_URN, _lt_props(seed, **over))
    response = provider.Create(pb.CreateRequest(urn=LT_URN, properties=inputs), CTX)
    return inputs, response


def _fleet_props(lt_id, version, overrides, capacity_type="spot", total=1, **over):
    props = {
        "type": "instant",
        "terminateInstances": True,
        "launchTemplateConfigs": [{
            "launchTemplateSpecification": {"launchTemplateId": lt_id, "version": str(version)},
            "overrides": overrides,
        }],
        "targetCapacitySpecification": {"defaultTargetCapacityType": capacity_type, "totalTargetCapacity": total},
        "spotOptions": {"allocationStrategy": "capacity-optimized-prioritized"},
        "onDemandOptions": {"allocationStrategy": "prioritized"},
        "tags": {"provisioner.sh/nodepool": "default"},
    }
    props.update(over)
    return props


def test_launch_template_create_read_update_delete(provider, ec2, seed):
    inputs, created = _create_lt(provider, seed)
    outputs = from_struct(created.properties)
    assert created.id.startswith("lt-")
    assert outputs["name"].startswith("nodes-") and outputs["latestVersion"] == 1 == outputs["defaultVersion"]
    assert outputs["arn"].endswith(f":launch-template/{created.id}")
    assert outputs["tagsAll"] == {"provisioner.sh/cluster": "test"}
    client = ec2.client("ec2")
    data = client.describe_launch_template_versions(LaunchTemplateId=created.id)["LaunchTemplateVersions"][0][
        "LaunchTemplateData"]
    assert data["MetadataOptions"]["HttpTokens"] == "required"
    assert data["BlockDeviceMappings"][0]["Ebs"]["VolumeSize"] == 30

    read = provider.Read(pb.ReadRequest(urn=LT_URN, id=created.id, properties=created.properties, inputs=inputs), CTX)
    assert read.id == created.id
    assert from_struct(read.inputs) == from_struct(inputs)  # nothing drifted
    no_diff = provider.Diff(pb.DiffRequest(urn=LT_URN, id=created.id, olds=read.properties, old_inputs=read.inputs,
                                           news=inputs), CTX)
    assert no_diff.changes == pb.DiffResponse.DIFF_NONE

    news = _check(provider, LT_URN, _lt_props(seed, imageId=seed.amis["amd64"], tags={"team": "a"}),
                  olds=from_struct(inputs))
    diff = provider.Diff(pb.DiffRequest(urn=LT_URN, id=created.id, olds=created.properties, old_inputs=inputs,
                                        news=news), CTX)
    assert sorted(diff.diffs) == ["imageId", "tags"] and list(diff.replaces) == []
    updated = provider.Update(pb.UpdateRequest(urn=LT_URN, id=created.id, olds=created.properties, news=news), CTX)
    out = from_struct(updated.properties)
    assert out["latestVersion"] == 2 == out["defaultVersion"] and out["name"] == outputs["name"]
    template = client.describe_launch_templates(LaunchTemplateIds=[created.id])["LaunchTemplates"][0]
    assert {t["Key"]: t["Value"] for t in template["Tags"]} == {"team": "a"}

    renamed = _check(provider, LT_URN, _lt_props(seed, name="explicit-name"), olds=from_struct(news))
    diff = provider.Diff(pb.DiffRequest(urn=LT_URN, id=created.id, olds=updated.properties, old_inputs=news,
                                        news=renamed), CTX)
    assert "name" in diff.replaces and diff.detailedDiff["name"].kind == pb.PropertyDiff.UPDATE_REPLACE

    provider.Delete(pb.DeleteRequest(urn=LT_URN, id=created.id, properties=updated.properties), CTX)
    gone = provider.Read(pb.ReadRequest(urn=LT_URN, id=created.id, properties=updated.properties, inputs=news), CTX)
    assert gone.id == ""
    provider.Delete(pb.DeleteRequest(urn=LT_URN, id=created.id, properties=updated.properties), CTX)  # idempotent


def test_fleet_create_read_update_delete(provider, ec2, seed, live_instances):
    _, lt = _create_lt(provider, seed)
    ec2.inject_capacity_error("m6g.large", "us-east-1a", "spot")
    inputs = _check(provider, FLEET_URN, _fleet_props(lt.id, 1, [
        {"instanceType": "m6g.large", "subnetId": seed.subnets["us-east-1a"], "priority": 1},
        {"instanceType": "m6g.large", "subnetId": seed.subnets["us-east-1b"], "priority": 2},
    ]))
    created = provider.Create(pb.CreateRequest(urn=FLEET_URN, properties=inputs), CTX)
    outputs = from_struct(created.properties)
    assert created.id.startswith("fleet-") and outputs["fleetState"] == "active"
    [instance_set] = outputs["fleetInstanceSets"]
    assert instance_set["lifecycle"] == "spot" and instance_set["instanceType"] == "m6g.large"
    [instance] = live_instances(**{"instance-id": instance_set["instanceIds"][0]})
    assert instance["Placement"]["AvailabilityZone"] == "us-east-1b"
    assert instance["Architecture"] == "arm64"

    read = provider.Read(pb.ReadRequest(urn=FLEET_URN, id=created.id, properties=created.properties, inputs=inputs), CTX)
    assert read.id == created.id and from_struct(read.inputs) == from_struct(inputs)

    news = _check(provider, FLEET_URN, _fleet_props(lt.id, 1, from_struct(inputs)["launchTemplateConfigs"][0]["overrides"],
                                                     tags={"provisioner.sh/nodepool": "default", "extra": "1"}))
    diff = provider.Diff(pb.DiffRequest(urn=FLEET_URN, id=created.id, olds=created.properties, old_inputs=inputs,
                                        news=news), CTX)
    assert list(diff.diffs) == ["tags"] and list(diff.replaces) == []
    updated = provider.Update(pb.UpdateRequest(urn=FLEET_URN, id=created.id, olds=created.properties, news=news), CTX)
    assert from_struct(updated.properties)["fleetInstanceSets"] == outputs["fleetInstanceSets"]
    fleet = ec2.client("ec2").describe_fleets(FleetIds=[created.id])["Fleets"][0]
    assert {t["Key"]: t["Value"] for t in fleet["Tags"]}["extra"] == "1"

    bigger = _check(provider, FLEET_URN, _fleet_props(lt.id, 1, [{"instanceType": "m6g.large"}], total=2))
    diff = provider.Diff(pb.DiffRequest(urn=FLEET_URN, id=created.id, olds=updated.properties, old_inputs=news,
                                        news=bigger), CTX)
    assert {"launchTemplateConfigs", "targetCapacitySpecification"} <= set(diff.replaces)

    provider.Delete(pb.DeleteRequest(urn=FLEET_URN, id=created.id, properties=updated.properties), CTX)
    assert live_instances(**{"instance-id": instance_set["instanceIds"][0]}) == []
    gone = provider.Read(pb.ReadRequest(urn=FLEET_URN, id=created.id, properties=updated.properties, inputs=news), CTX)
    assert gone.id == ""


def test_fleet_create_fails_with_every_override_error_and_leaves_nothing(provider, ec2, seed, live_instances):
    _, lt = _create_lt(provider, seed)
    ec2.inject_capacity_error("m6g.large", "*", "on-demand")
    inputs = _check(provider, FLEET_URN, _fleet_props(lt.id, 1, [
        {"instanceType": "m6g.large", "subnetId": seed.subnets["us-east-1a"]},
        {"instanceType": "m6g.large", "availabilityZone": "us-east-1c"},
    ], capacity_type="on-demand"))
    with pytest.raises(Aborted) as caught:
        provider.Create(pb.CreateRequest(urn=FLEET_URN, properties=inputs), CTX)
    message = str(caught.value)
    assert message.startswith("creating EC2 Fleet: no capacity: ")
    assert "InsufficientInstanceCapacity for m6g.large in us-east-1a (on-demand)" in message
    assert "InsufficientInstanceCapacity for m6g.large in us-east-1c (on-demand)" in message
    assert live_instances() == []
    fleets = ec2.client("ec2").describe_fleets()["Fleets"]
    assert all(f["FleetState"].startswith("deleted") for f in fleets)


def test_refresh_drops_a_fleet_whose_instances_are_gone(provider, ec2, seed):
    _, lt = _create_lt(provider, seed)
    inputs = _check(provider, FLEET_URN, _fleet_props(lt.id, 1, [{"instanceType": "m6g.large"}],
                                                       capacity_type="on-demand"))
    created = provider.Create(pb.CreateRequest(urn=FLEET_URN, properties=inputs), CTX)
    ids = [i for s in from_struct(created.properties)["fleetInstanceSets"] for i in s["instanceIds"]]
    ec2.client("ec2").terminate_instances(InstanceIds=ids)  # e.g. a spot interruption
    read = provider.Read(pb.ReadRequest(urn=FLEET_URN, id=created.id, properties=created.properties, inputs=inputs), CTX)
    assert read.id == ""
    provider.Delete(pb.DeleteRequest(urn=FLEET_URN, id=created.id, properties=created.properties), CTX)


def test_fleet_check_reports_bad_enum(provider):
    response = provider.Check(pb.CheckRequest(urn=FLEET_URN, news=to_struct(
        _fleet_props("lt-1", 1, [], capacity_type="reserved"))), CTX)
    assert [f.property for f in response.failures] == ["targetCapacitySpecification.defaultTargetCapacityType"]


def test_calls_are_logged_with_timings(provider, seed, tmp_path):
    _create_lt(provider, seed)
    lines = [json.loads(line) for line in (tmp_path / "provider.log").read_text().splitlines()]
    assert [l["method"] for l in lines] == ["Configure", "Check", "Create"]
    assert all(l["ms"] >= 0 and l["total_calls"] >= 1 for l in lines)
    create = lines[-1]
    assert create["ec2_calls"] >= 1 and 0 < create["ec2_ms"] <= create["ms"]
