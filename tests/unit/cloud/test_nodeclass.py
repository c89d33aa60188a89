"""NodeClass selectors resolved against an in-process moto EC2."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from provisioner.api import load_yaml
from provisioner.cloud.nodeclass import NodeClassError, resolve

NODECLASS = """
apiVersion: provisioner.sh/v1
kind: NodeClass
metadata: {name: default}
spec:
  amiSelectorTerms: [{alias: al2023@latest}]
  role: provisioner-node
  subnetSelectorTerms: [{tags: {provisioner.sh/discovery: demo}}]
  securityGroupSelectorTerms: [{tags: {provisioner.sh/discovery: demo}}]
  blockDeviceMappings:
    - {deviceName: /dev/xvda, rootVolume: true, ebs: {volumeSize: 30Gi, volumeType: gp3, encrypted: true}}
  kubelet: {maxPods: 58}
  tags: {team: platform}
"""


@pytest.fixture
def ec2():
    with mock_aws():
        yield boto3.client("ec2", region_name="us-east-1")


def _tag_default_vpc(ec2):
    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    subnets = [s["SubnetId"] for s in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]]
    sgs = [g["GroupId"] for g in ec2.describe_security_groups(
        Filters=[{"Name": "vpc-id", "Values": [vpc]}, {"Name": "group-name", "Values": ["default"]}])["SecurityGroups"]]
    ec2.create_tags(Resources=subnets + sgs, Tags=[{"Key": "provisioner.sh/discovery", "Value": "demo"}])
    return subnets, sgs


def test_selectors_resolve_to_ids_per_zone_and_architecture(ec2):
    subnets, sgs = _tag_default_vpc(ec2)
    nc = load_yaml(NODECLASS)[1][0]
    s = resolve(nc, ec2)
    assert set(s.amis) == {"amd64", "arm64"} and all(a.startswith("ami-") for a in s.amis.values())
    assert set(s.subnets.values()) <= set(subnets) and len(s.subnets) >= 3
    assert s.security_group_ids == tuple(sorted(sgs))
    assert s.block_devices[0].volume_size_gib == 30
    assert "maxPods: 58" in s.user_data and s.tags == {"team": "platform"}
    assert s.metadata_options.http_tokens == "required"


def test_nothing_matches_says_which_selector(ec2):
    nc = load_yaml(NODECLASS)[1][0]
    with pytest.raises(NodeClassError, match="subnetSelectorTerms match no subnet"):
        resolve(nc, ec2)
