"""Fixtures for fleet integration tests: a real moto, the real Pulumi engine, a fresh stack per test."""

from __future__ import annotations

import uuid
from pathlib import Path

import boto3
import pytest

from provisioner.fleet.samples import sample_desired
from provisioner.localcloud.ec2 import LocalEC2
from provisioner.stack.operations import FleetStack
from provisioner.stack.target import LocalCloud, StackTarget


@pytest.fixture(scope="module")
def local_ec2(tmp_path_factory):
    ec2 = LocalEC2(tmp_path_factory.mktemp("ec2"))
    ec2.start()
    ec2.seed()
    yield ec2
    ec2.stop()


@pytest.fixture
def ec2_client(local_ec2):
    return boto3.client("ec2", region_name=local_ec2.region, endpoint_url=local_ec2.endpoint,
                        aws_access_key_id="local", aws_secret_access_key="local")


@pytest.fixture
def cluster():
    return f"it{uuid.uuid4().hex[:8]}"


@pytest.fixture
def target(local_ec2, tmp_path, monkeypatch, cluster):
    """A fresh stack (unique name, own file backend) on the repo's root project."""
    monkeypatch.setenv("PROVISIONER_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("PULUMI_BACKEND_URL", raising=False)
    t = StackTarget(stack=cluster, region=local_ec2.region,
                    local_cloud=LocalCloud(endpoint=local_ec2.endpoint, region=local_ec2.region))
    yield t
    settings = t.stacks_dir / f"Pulumi.{t.stack}.yaml"
    settings.unlink(missing_ok=True)


@pytest.fixture
def fleet(target):
    return FleetStack(target)


@pytest.fixture
def desired_factory(local_ec2, cluster):
    seed = local_ec2.seed()
    return lambda n: sample_desired(seed, n, cluster)


def running_instances(ec2_client, cluster: str) -> list[dict]:
    pages = ec2_client.get_paginator("describe_instances").paginate(Filters=[
        {"Name": "tag:provisioner.sh/cluster", "Values": [cluster]},
        {"Name": "instance-state-name", "Values": ["pending", "running"]},
    ])
    return [i for p in pages for r in p["Reservations"] for i in r["Instances"]]


def tags_of(resource: dict) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in resource.get("Tags", [])}


REPO_ROOT = Path(__file__).resolve().parents[3]
