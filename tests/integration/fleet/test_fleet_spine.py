"""The fleet spine end to end: real Pulumi CLI and engine, real policy pack, stand-in provider, moto."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from provisioner.fleet import ownership
from provisioner.fleet.desired import DesiredNode
from provisioner.localcloud.processes import group_alive
from provisioner.stack.operations import FleetStack, PolicyViolationError
from provisioner.stack.recovery import recorded_instance_ids, recover, stack_locks

from tests.polling import wait_for

from .conftest import REPO_ROOT, running_instances, tags_of

pytestmark = pytest.mark.integration


def node_of_instance(ec2_client, instance: dict) -> str:
    fleet_id = tags_of(instance)["aws:ec2:fleet-id"]
    fleet = ec2_client.describe_fleets(FleetIds=[fleet_id])["Fleets"][0]
    return tags_of(fleet)[ownership.NODE_NAME]


def test_apply_three_nodes_creates_exactly_three_instances(fleet, desired_factory, ec2_client, cluster):
    desired = desired_factory(3)
    result = fleet.apply(desired, "scale-up: +3 nodes for the integration test")

    assert sorted(result.changes.nodes("create")) == sorted(n.name for n in desired.nodes)
    instances = running_instances(ec2_client, cluster)
    assert len(instances) == 3
    by_node = {node_of_instance(ec2_client, i): i for i in instances}
    for node in desired.nodes:
        inst = by_node[node.name]
        assert inst["InstanceType"] == node.instance_types[0]
        assert inst["Placement"]["AvailabilityZone"] == node.zones[0]
        assert ("spot" if inst.get("InstanceLifecycle") == "spot" else "on-demand") == node.capacity_type
        tags = tags_of(inst)
        assert tags[ownership.CLUSTER] == cluster
        assert tags[ownership.NODEPOOL] == node.node_pool
        assert tags[ownership.MANAGED_BY] == "provisioner"
        lt_id = tags["aws:ec2launchtemplate:id"]
        data = ec2_client.describe_launch_template_versions(LaunchTemplateId=lt_id)["LaunchTemplateVersions"][0][
            "LaunchTemplateData"]
        assert data["MetadataOptions"]["HttpTokens"] == "required"
        assert data["MetadataOptions"]["HttpPutResponseHopLimit"] == 1
        assert data["BlockDeviceMappings"][0]["Ebs"]["Encrypted"] is True
        assert data["NetworkInterfaces"][0]["AssociatePublicIpAddress"] is False
        assert "--node-labels=workload=general" in base64.b64decode(data["UserData"]).decode()
        spec_tags = {s["ResourceType"]: {t["Key"] for t in s["Tags"]} for s in data["TagSpecifications"]}
        assert set(ownership.REQUIRED_TAG_KEYS) <= spec_tags["volume"]
    # two architectures -> two content-addressed launch templates, shared by nodes of the same content
    templates = ec2_client.describe_launch_templates(
        Filters=[{"Name": f"tag:{ownership.CLUSTER}", "Values": [cluster]}])["LaunchTemplates"]
    assert len(templates) == 2


def test_reapply_is_a_no_op_and_adds_no_history(fleet, desired_factory):
    desired = desired_factory(2)
    fleet.apply(desired, "scale-up: +2 nodes")
    before = fleet.history()

    again = fleet.apply(desired, "should not be recorded")

    assert again.version is None and not again.changes.has_changes
    assert len(fleet.history()) == len(before)


def test_removing_a_node_terminates_exactly_its_instance(fleet, desired_factory, ec2_client, cluster):
    desired = desired_factory(3)
    fleet.apply(desired, "scale-up: +3 nodes")
    instances = {node_of_instance(ec2_client, i): i["InstanceId"] for i in running_instances(ec2_client, cluster)}
    removed = desired.nodes[1]

    result = fleet.apply(desired.with_nodes([n for n in desired.nodes if n is not removed]),
                         f"scale-down: -1 node ({removed.name})")

    assert result.changes.nodes("delete") == [removed.name]
    remaining = {i["InstanceId"] for i in running_instances(ec2_client, cluster)}
    assert remaining == {iid for name, iid in instances.items() if name != removed.name}
    state = ec2_client.describe_instances(InstanceIds=[instances[removed.name]])["Reservations"][0]["Instances"][0]
    assert state["State"]["Name"] in ("shutting-down", "terminated")


def test_history_records_each_update_with_message_and_counts(fleet, desired_factory):
    desired = desired_factory(2)
    fleet.apply(desired, "scale-up: +2 nodes (first)")
    fleet.apply(desired.with_nodes(desired.nodes[:1]), "scale-down: -1 node (second)")

    history = fleet.history()

    assert [h.message for h in history[:2]] == ["scale-down: -1 node (second)", "scale-up: +2 nodes (first)"]
    assert all(h.kind == "update" and h.result == "succeeded" for h in history[:2])
    assert history[1].resource_changes.get("create") == 4  # 2 nodes + 2 launch templates
    assert history[0].resource_changes.get("delete") == 1
    assert history[0].version == history[1].version + 1


def test_history_beyond_the_cli_page_of_ten_keeps_every_update_and_numbers_them(fleet, desired_factory):
    desired = desired_factory(1)
    fleet.apply(desired, "update 1")
    for i in range(2, 12):  # refreshes are history entries too, and cheap
        fleet.refresh()
    last = fleet.apply(desired.with_nodes([]), "update 12")

    history = fleet.history()
    assert len(history) == 12
    assert last.version == 12 and history[0].version == 12 and history[-1].version == 1
    assert history[-1].message == "update 1"
    assert len(fleet.desired_history()) == 12


def test_denied_family_is_rejected_before_anything_is_created(fleet, desired_factory, ec2_client, cluster):
    desired = desired_factory(1)
    bad = DesiredNode(**{**desired.nodes[0].__dict__, "name": f"{cluster}-gpu", "instance_types": ("p3.2xlarge",)})

    with pytest.raises(PolicyViolationError) as err:
        fleet.apply(desired.with_nodes([*desired.nodes, bad]), "scale-up with a denied family")

    message = str(err.value)
    assert "allowed-instance-types" in message and bad.name in message and "p3.2xlarge" in message
    assert running_instances(ec2_client, cluster) == []
    assert fleet.history() == []
    assert fleet.current_desired() is None  # the rejected document never reached the stack config


def test_capacity_error_on_first_type_falls_back_to_next_candidate(fleet, desired_factory, local_ec2, ec2_client,
                                                                   cluster):
    desired = desired_factory(1)
    node = desired.nodes[0]
    local_ec2.inject_capacity_error(node.instance_types[0], node.zones[0], node.capacity_type)
    try:
        fleet.apply(desired, "scale-up: +1 node while the first choice is out of capacity")
    finally:
        local_ec2.clear_capacity_errors()

    (inst,) = running_instances(ec2_client, cluster)
    # next override by priority: the same type in the next zone
    assert (inst["InstanceType"], inst["Placement"]["AvailabilityZone"]) == (node.instance_types[0], node.zones[1])


def test_plain_pulumi_preview_in_repo_root_shows_no_changes(fleet, desired_factory):
    fleet.apply(desired_factory(2), "scale-up: +2 nodes")

    proc = subprocess.run(
        ["pulumi", "preview", "-s", fleet.name, "--expect-no-changes", "--non-interactive", "--color", "never"],
        cwd=REPO_ROOT, env={**os.environ, **fleet.env}, capture_output=True, text=True, timeout=300,
    )

    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "unchanged" in proc.stdout


CRASHING_APPLY = textwrap.dedent("""
    import os, sys
    from provisioner.fleet.desired import loads
    from provisioner.stack.operations import FleetStack
    from provisioner.stack.target import LocalCloud, StackTarget
    endpoint, region, stack, path = sys.argv[1:5]
    target = StackTarget(stack=stack, region=region, local_cloud=LocalCloud(endpoint, region))
    FleetStack(target).apply(loads(open(path).read()), "scale-up: interrupted by a crash")
""")


def orphaned_policy_packs() -> set[int]:
    """This checkout's fleet-guard analyzers whose engine is gone (reparented)."""
    pack = str(REPO_ROOT / "policies" / "fleet-guard" / "__main__.py")
    out = set()
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and pack in (entry / "cmdline").read_bytes().decode(errors="replace"):
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == 1:
                    out.add(int(entry.name))
        except (OSError, ValueError, IndexError):
            continue
    return out


def test_killed_apply_then_recover_and_apply_leaves_no_duplicate_or_orphan(
        fleet, target, desired_factory, local_ec2, ec2_client, cluster, tmp_path):
    before = orphaned_policy_packs()
    desired = desired_factory(6)
    path = tmp_path / "desired.yaml"
    path.write_text(desired.to_yaml())
    proc = subprocess.Popen(
        [sys.executable, "-c", CRASHING_APPLY, local_ec2.endpoint, local_ec2.region, target.stack, str(path)],
        env=os.environ.copy(), start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        def launched() -> bool:
            assert proc.poll() is None, "the apply finished before it could be interrupted"
            return len(running_instances(ec2_client, cluster)) >= 2

        wait_for(launched, 240, "two instances of the interrupted apply", interval=0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        # SIGKILL is delivered, not yet acted on: under load the engine (the lock's holder) can
        # outlive its parent's wait by a moment, and recover() rightly refuses a live holder
        wait_for(lambda: not group_alive(proc.pid), 30, "the killed apply's processes to exit")

    assert stack_locks(fleet), "a killed update leaves its lock behind"
    report = recover(fleet, ec2_client, cluster)
    assert report.cleared_locks
    result = FleetStack(target).apply(desired, "scale-up: after recovery")

    assert result.version is not None
    instances = running_instances(ec2_client, cluster)
    assert len(instances) == len(desired.nodes)
    assert {i["InstanceId"] for i in instances} == recorded_instance_ids(fleet.export())
    assert sorted(node_of_instance(ec2_client, i) for i in instances) == sorted(n.name for n in desired.nodes)
    assert stack_locks(fleet) == []
    # the engine was SIGKILLed: its policy pack must not outlive it
    wait_for(lambda: not (orphaned_policy_packs() - before), 15, "the killed engine's policy pack to exit")
