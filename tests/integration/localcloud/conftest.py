"""Shared fixtures: one real local EC2 (moto child process) per session, cleaned after every test."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from pulumi.runtime.proto import provider_pb2 as pb

from provisioner.localcloud.aws_provider.server import AwsStandInProvider
from provisioner.localcloud.aws_provider.shared import to_struct
from provisioner.localcloud.ec2 import LocalEC2, LocalEC2Seed


class Aborted(Exception):
    """What a servicer method's context.abort() raises when called directly."""


class FakeContext:
    def abort(self, code, details):
        raise Aborted(details)


@pytest.fixture(scope="session")
def local_ec2(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalEC2]:
    ec2 = LocalEC2(tmp_path_factory.mktemp("local-ec2"))
    ec2.start()
    try:
        yield ec2
    finally:
        ec2.stop()


@pytest.fixture(scope="session")
def seed(local_ec2: LocalEC2) -> LocalEC2Seed:
    return local_ec2.seed()


def _clean(ec2: LocalEC2) -> None:
    client = ec2.client("ec2")
    ec2.clear_capacity_errors()
    fleets = [f["FleetId"] for f in client.describe_fleets()["Fleets"] if not f["FleetState"].startswith("deleted")]
    if fleets:
        client.delete_fleets(FleetIds=fleets, TerminateInstances=True)
    live = [i["InstanceId"] for r in client.describe_instances()["Reservations"] for i in r["Instances"]
            if i["State"]["Name"] not in ("shutting-down", "terminated")]
    if live:
        client.terminate_instances(InstanceIds=live)
    for template in client.describe_launch_templates()["LaunchTemplates"]:
        client.delete_launch_template(LaunchTemplateId=template["LaunchTemplateId"])


@pytest.fixture
def ec2(local_ec2: LocalEC2, seed: LocalEC2Seed) -> Iterator[LocalEC2]:
    """The session's local EC2; every fleet, instance, template and injected error is gone after the test."""
    _clean(local_ec2)
    try:
        yield local_ec2
    finally:
        _clean(local_ec2)


@pytest.fixture
def provider(ec2: LocalEC2, tmp_path: Path) -> AwsStandInProvider:
    """The stand-in provider servicer, configured for the local EC2 as the engine would."""
    servicer = AwsStandInProvider(log_path=str(tmp_path / "provider.log"))
    servicer.Configure(pb.ConfigureRequest(args=to_struct({
        "region": ec2.region,
        "endpoints": json.dumps([{"ec2": ec2.endpoint}]),
        "accessKey": "test", "secretKey": "test",
        "skipCredentialsValidation": "true", "skipRequestingAccountId": "true",
    })), FakeContext())
    return servicer


@pytest.fixture
def live_instances(ec2: LocalEC2):
    """`live_instances(**filters)`: instances that are not shutting down or terminated."""

    def find(**filters: str) -> list[dict]:
        return _live_instances(ec2, **filters)

    return find


def _live_instances(ec2: LocalEC2, **filters: str) -> list[dict]:
    client = ec2.client("ec2")
    api_filters = [{"Name": k, "Values": [v]} for k, v in filters.items()]
    reservations = client.describe_instances(Filters=api_filters)["Reservations"] if api_filters else \
        client.describe_instances()["Reservations"]
    return [i for r in reservations for i in r["Instances"] if i["State"]["Name"] not in ("shutting-down", "terminated")]
