"""Injected capacity errors and AWS-like instant fleets in the patched moto."""

from __future__ import annotations

import base64
import json
import urllib.request

import pytest

pytestmark = pytest.mark.integration

USER_DATA = base64.b64encode(b"#!/bin/sh\necho node\n").decode()


@pytest.fixture
def template(ec2, seed):
    client = ec2.client("ec2")
    return client.create_launch_template(
        LaunchTemplateName="capacity-test",
        LaunchTemplateData={
            "ImageId": seed.amis["amd64"],
            "UserData": USER_DATA,
            "SecurityGroupIds": list(seed.security_group_ids),
            "BlockDeviceMappings": [{"DeviceName": "/dev/xvda",
                                     "Ebs": {"VolumeSize": 40, "VolumeType": "gp3", "DeleteOnTermination": True}}],
            "TagSpecifications": [
                {"ResourceType": "instance", "Tags": [{"Key": "provisioner.sh/nodepool", "Value": "default"}]},
                {"ResourceType": "volume", "Tags": [{"Key": "provisioner.sh/nodepool", "Value": "default"}]},
            ],
        },
    )["LaunchTemplate"]


def _fleet(ec2, template, overrides, capacity_type="spot", total=1):
    return ec2.client("ec2").create_fleet(
        Type="instant",
        LaunchTemplateConfigs=[{
            "LaunchTemplateSpecification": {"LaunchTemplateId": template["LaunchTemplateId"], "Version": "$Latest"},
            "Overrides": overrides,
        }],
        TargetCapacitySpecification={"TotalTargetCapacity": total, "DefaultTargetCapacityType": capacity_type},
        SpotOptions={"AllocationStrategy": "capacity-optimized-prioritized"},
        OnDemandOptions={"AllocationStrategy": "prioritized"},
    )


def test_fleet_without_injection_uses_the_highest_priority_override(ec2, seed, template):
    response = _fleet(ec2, template, [
        {"InstanceType": "m6i.large", "SubnetId": seed.subnets["us-east-1b"], "Priority": 2},
        {"InstanceType": "m6i.xlarge", "SubnetId": seed.subnets["us-east-1a"], "Priority": 1},
    ], total=2)
    assert response["Errors"] == []
    [placed] = response["Instances"]
    assert placed["InstanceType"] == "m6i.xlarge" and len(placed["InstanceIds"]) == 2
    assert placed["LaunchTemplateAndOverrides"]["Overrides"]["SubnetId"] == seed.subnets["us-east-1a"]


def test_fleet_falls_back_past_injected_override_with_aws_errors(ec2, seed, template, live_instances):
    ec2.inject_capacity_error("m6i.large", "us-east-1a", "spot")
    response = _fleet(ec2, template, [
        {"InstanceType": "m6i.large", "SubnetId": seed.subnets["us-east-1a"], "Priority": 1},
        {"InstanceType": "m6i.large", "SubnetId": seed.subnets["us-east-1b"], "Priority": 2},
    ])
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
    [error] = response["Errors"]
    assert error["ErrorCode"] == "InsufficientInstanceCapacity"
    assert error["Lifecycle"] == "spot"
    assert "m6i.large" in error["ErrorMessage"] and "us-east-1a" in error["ErrorMessage"]
    assert error["LaunchTemplateAndOverrides"]["LaunchTemplateSpecification"]["LaunchTemplateId"] == \
        template["LaunchTemplateId"]
    assert error["LaunchTemplateAndOverrides"]["Overrides"]["SubnetId"] == seed.subnets["us-east-1a"]
    [placed] = response["Instances"]
    assert placed["Lifecycle"] == "spot"
    described = ec2.client("ec2").describe_fleets(FleetIds=[response["FleetId"]])["Fleets"][0]
    assert [(i["Lifecycle"], i["InstanceIds"]) for i in described["Instances"]] == [("spot", placed["InstanceIds"])]
    [instance] = live_instances(**{"instance-id": placed["InstanceIds"][0]})
    assert instance["Placement"]["AvailabilityZone"] == "us-east-1b"
    assert instance.get("InstanceLifecycle") == "spot"


def test_fleet_with_every_override_unavailable_launches_nothing(ec2, seed, template, live_instances):
    ec2.inject_capacity_error("m6i.large", "*", "on-demand", error_code="UnfulfillableCapacity")
    ec2.inject_capacity_error("c6i.large", "us-east-1c", "on-demand")
    response = _fleet(ec2, template, [
        {"InstanceType": "m6i.large", "SubnetId": seed.subnets["us-east-1a"]},
        {"InstanceType": "c6i.large", "SubnetId": seed.subnets["us-east-1c"]},
    ], capacity_type="on-demand")
    assert response.get("Instances", []) == []
    assert [(e["ErrorCode"], e["Lifecycle"]) for e in response["Errors"]] == [
        ("UnfulfillableCapacity", "on-demand"), ("InsufficientInstanceCapacity", "on-demand")]
    assert live_instances() == []


def test_spot_injection_does_not_affect_on_demand(ec2, seed, template):
    ec2.inject_capacity_error("m6i.large", "us-east-1a", "spot")
    response = _fleet(ec2, template, [{"InstanceType": "m6i.large", "SubnetId": seed.subnets["us-east-1a"]}],
                      capacity_type="on-demand")
    assert response["Errors"] == [] and response["Instances"][0]["Lifecycle"] == "on-demand"


def test_fleet_instances_look_like_aws(ec2, seed, template, live_instances):
    response = _fleet(ec2, template, [{"InstanceType": "m6i.large", "SubnetId": seed.subnets["us-east-1a"]}],
                      capacity_type="on-demand")
    fleet_id = response["FleetId"]
    instance_id = response["Instances"][0]["InstanceIds"][0]
    client = ec2.client("ec2")
    [instance] = live_instances(**{"instance-id": instance_id})
    tags = {t["Key"]: t["Value"] for t in instance["Tags"]}
    assert tags["provisioner.sh/nodepool"] == "default"
    assert tags["aws:ec2:fleet-id"] == fleet_id
    assert tags["aws:ec2launchtemplate:id"] == template["LaunchTemplateId"]
    assert [g["GroupId"] for g in instance["SecurityGroups"]] == list(seed.security_group_ids)
    user_data = client.describe_instance_attribute(InstanceId=instance_id, Attribute="userData")["UserData"]["Value"]
    assert base64.b64decode(user_data) == b"#!/bin/sh\necho node\n"
    [volume] = client.describe_volumes(Filters=[{"Name": "attachment.instance-id", "Values": [instance_id]}])["Volumes"]
    assert (volume["Size"], volume["VolumeType"]) == (40, "gp3")
    assert {t["Key"]: t["Value"] for t in volume["Tags"]}["provisioner.sh/nodepool"] == "default"
    assert [i["InstanceId"] for i in client.describe_fleet_instances(FleetId=fleet_id)["ActiveInstances"]] == \
        [instance_id]
    client.delete_fleets(FleetIds=[fleet_id], TerminateInstances=True)
    assert live_instances(**{"instance-id": instance_id}) == []


def test_weighted_capacity_counts_units(ec2, seed, template):
    response = _fleet(ec2, template, [
        {"InstanceType": "m6i.2xlarge", "SubnetId": seed.subnets["us-east-1a"], "WeightedCapacity": 4.0},
    ], capacity_type="on-demand", total=6)
    assert len(response["Instances"][0]["InstanceIds"]) == 2


def test_run_instances_raises_injected_ice(ec2, seed):
    ec2.inject_capacity_error("m6i.large", "us-east-1a", "spot")
    client = ec2.client("ec2")
    kwargs = dict(ImageId=seed.amis["amd64"], MinCount=1, MaxCount=1, InstanceType="m6i.large",
                  SubnetId=seed.subnets["us-east-1a"])
    with pytest.raises(client.exceptions.ClientError) as caught:
        client.run_instances(**kwargs, InstanceMarketOptions={"MarketType": "spot"})
    assert caught.value.response["Error"]["Code"] == "InsufficientInstanceCapacity"
    assert "us-east-1a" in caught.value.response["Error"]["Message"]
    # On-demand in the same zone and spot elsewhere still launch.
    ok = client.run_instances(**kwargs)["Instances"]
    assert ok[0]["Placement"]["AvailabilityZone"] == "us-east-1a"
    ec2.clear_capacity_errors()
    assert ec2.capacity_errors() == []
    assert client.run_instances(**kwargs, InstanceMarketOptions={"MarketType": "spot"})["Instances"]


def test_control_api_over_http(ec2):
    url = ec2.endpoint + "/_provisioner/capacity"
    body = json.dumps({"instance_type": "c7g.large", "zone": "us-east-1d", "capacity_type": "spot",
                       "error_code": "InsufficientInstanceCapacity"}).encode()
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert json.loads(response.read())["errors"][0]["instance_type"] == "c7g.large"
    with urllib.request.urlopen(url, timeout=10) as response:
        assert len(json.loads(response.read())["errors"]) == 1
    with urllib.request.urlopen(urllib.request.Request(url, method="DELETE"), timeout=10) as response:
        assert json.loads(response.read()) == {"errors": []}
