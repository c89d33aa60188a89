"""LocalEC2: start/stop, attach through the state file, seed."""

from __future__ import annotations

import json
import os
import socket

import pytest

from provisioner.localcloud.ec2 import DEFAULT_REGION, LocalEC2, LocalEC2Error
from provisioner.pids import pid_alive

pytestmark = pytest.mark.integration


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def test_start_stop_leaves_no_process_and_frees_the_port(tmp_path):
    ec2 = LocalEC2(tmp_path)
    info = ec2.start()
    try:
        assert info.endpoint == f"http://127.0.0.1:{info.port}"
        assert ec2.client("ec2").describe_availability_zones()["AvailabilityZones"]
        state = json.loads((tmp_path / "ec2.json").read_text())
        assert state["pid"] == info.pid and state["endpoint"] == info.endpoint
        assert (tmp_path / "ec2.log").exists()
    finally:
        ec2.stop()
    assert not os.path.exists(f"/proc/{info.pid}")
    assert _port_free(info.port)
    assert not (tmp_path / "ec2.json").exists()
    ec2.stop()  # idempotent


def test_context_manager_and_validation_flags(tmp_path):
    with LocalEC2(tmp_path) as ec2:
        pid = ec2.info.pid
        environ = (open(f"/proc/{pid}/environ", "rb").read()).split(b"\0")
        assert b"MOTO_EC2_ENABLE_INSTANCE_TYPE_VALIDATION=true" in environ
        assert b"MOTO_ENABLE_AMI_VALIDATION=true" in environ
        client = ec2.client("ec2")
        seed = ec2.seed()
        with pytest.raises(client.exceptions.ClientError, match="InvalidInstanceType|does not exist"):
            client.run_instances(ImageId=seed.amis["amd64"], MinCount=1, MaxCount=1, InstanceType="m99.huge")
        with pytest.raises(client.exceptions.ClientError, match="InvalidAMIID"):
            client.run_instances(ImageId="ami-00000000000000000", MinCount=1, MaxCount=1, InstanceType="m6i.large")
    assert not os.path.exists(f"/proc/{pid}")


def test_attach_uses_the_state_file_and_can_stop(tmp_path):
    owner = LocalEC2(tmp_path)
    info = owner.start()
    try:
        seed = owner.seed()
        attached = LocalEC2.attach(tmp_path)
        assert attached.endpoint == info.endpoint
        assert attached.seed() == seed  # from the state file, no recomputation
        attached.inject_capacity_error("m6i.large", "us-east-1a", "spot")
        assert len(owner.capacity_errors()) == 1
        attached.stop()
        assert not pid_alive(info.pid)  # still our (owner's) zombie child until it is reaped
        with pytest.raises(LocalEC2Error):
            LocalEC2.attach(tmp_path)
    finally:
        owner.stop()


def test_attach_without_state_fails_clearly(tmp_path):
    with pytest.raises(LocalEC2Error, match="no usable local EC2 state"):
        LocalEC2.attach(tmp_path)


def test_seed_is_idempotent_and_complete(local_ec2, seed):
    assert seed.region == DEFAULT_REGION == "us-east-1"
    assert len(seed.zones) >= 3 and set(seed.subnets) == set(seed.zones)
    assert seed.security_group_ids
    # A fresh computation (not the cached copy) gives the same answer.
    fresh = LocalEC2(local_ec2.state_dir)
    fresh._info = type(local_ec2.info)(**{**local_ec2.info.__dict__, "seed": None})
    assert fresh.seed() == seed
    client = local_ec2.client("ec2")
    images = {i["ImageId"]: i for i in client.describe_images(ImageIds=list(seed.amis.values()))["Images"]}
    assert images[seed.amis["amd64"]]["Architecture"] == "x86_64"
    assert images[seed.amis["arm64"]]["Architecture"] == "arm64"
    subnets = client.describe_subnets(SubnetIds=list(seed.subnets.values()))["Subnets"]
    assert {s["AvailabilityZone"]: s["SubnetId"] for s in subnets} == seed.subnets


def test_seed_registers_an_ami_when_the_region_has_none(tmp_path, monkeypatch):
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")  # the child then has no AMIs at all
    with LocalEC2(tmp_path) as ec2:
        client = ec2.client("ec2")
        assert not client.describe_images(Owners=["amazon"])["Images"]
        seed = ec2.seed()
        images = {i["ImageId"]: i for i in client.describe_images(ImageIds=list(seed.amis.values()))["Images"]}
        assert images[seed.amis["amd64"]]["Architecture"] == "x86_64"
        assert images[seed.amis["arm64"]]["Architecture"] == "arm64"
        assert ec2._ami_for(client, "arm64") == seed.amis["arm64"]  # found again, not registered twice
        assert len(client.describe_images(Owners=["self"])["Images"]) == 2


def test_attach_by_endpoint_never_stops_the_server(local_ec2, seed, tmp_path):
    attached = LocalEC2.attach(tmp_path, endpoint=local_ec2.endpoint)
    assert attached.seed() == seed
    attached.stop()
    assert pid_alive(local_ec2.info.pid)
    assert local_ec2.client("ec2").describe_availability_zones()["AvailabilityZones"]
    assert not (tmp_path / "ec2.json").exists()
