"""The same stack operations on an S3 backend (moto's S3 on 127.0.0.1), as production would use."""

from __future__ import annotations

import uuid

import boto3
import pytest

from provisioner.stack.operations import FleetStack
from provisioner.stack.target import LocalCloud, StackTarget

pytestmark = pytest.mark.integration


def test_apply_and_history_on_an_s3_backend(local_ec2, desired_factory, tmp_path, monkeypatch, cluster):
    monkeypatch.setenv("PROVISIONER_HOME", str(tmp_path / "home"))
    s3 = boto3.client("s3", endpoint_url=local_ec2.endpoint, region_name="us-east-1",
                      aws_access_key_id="local", aws_secret_access_key="local")
    bucket = f"fleet-state-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    host = local_ec2.endpoint.removeprefix("http://")
    target = StackTarget(
        stack=cluster, region=local_ec2.region,
        backend_url=f"s3://{bucket}/prod?endpoint={host}&disableSSL=true&s3ForcePathStyle=true&region=us-east-1",
        local_cloud=LocalCloud(endpoint=local_ec2.endpoint, region=local_ec2.region),
    )
    try:
        fleet = FleetStack(target)
        result = fleet.apply(desired_factory(2), "scale-up: +2 nodes on an S3 backend")

        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
        assert f"prod/.pulumi/stacks/provisioner-fleet/{cluster}.json" in keys
        assert result.version == 1
        assert [h.message for h in fleet.history()] == ["scale-up: +2 nodes on an S3 backend"]
    finally:
        (target.stacks_dir / f"Pulumi.{target.stack}.yaml").unlink(missing_ok=True)
