"""A minimal round trip of the stand-in plugin through the real Pulumi engine (Automation API)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from provisioner import toolchain
from tests.polling import wait_for
from provisioner.localcloud.aws_provider import install_plugin_shim

pytestmark = pytest.mark.integration

PLUGIN_MODULE = b"provisioner.localcloud.aws_provider"


def _plugin_pids() -> set[int]:
    pids = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if PLUGIN_MODULE in Path(f"/proc/{entry}/cmdline").read_bytes():
                    pids.add(int(entry))
            except OSError:
                pass
    return pids


@pytest.fixture
def pulumi_stack(ec2, tmp_path):
    """An inline-program stack on a file backend, with the stand-in plugin first on PATH."""
    from pulumi import automation as auto

    tool = toolchain.TOOLS["pulumi"]
    if tool.problem() is not None:
        pytest.skip(f"Pulumi CLI not built ({tool.problem()}); run `provisioner tools --ensure`")
    shim_dir = tmp_path / "plugins"
    install_plugin_shim(shim_dir)
    env = toolchain.pulumi_env()
    env["PATH"] = f"{shim_dir}{os.pathsep}{env['PATH']}"
    (tmp_path / "backend").mkdir()
    (tmp_path / "work").mkdir()
    env.update({
        "PULUMI_BACKEND_URL": f"file://{tmp_path / 'backend'}",
        "PULUMI_CONFIG_PASSPHRASE": "test",
        "PULUMI_HOME": str(tmp_path / "pulumi-home"),
        "PROVISIONER_PROVIDER_LOG": str(tmp_path / "provider.log"),
    })
    program_state: dict = {}

    def program():
        program_state["program"]()

    stack = auto.create_or_select_stack(
        "dev", project_name="localcloud-engine", program=program,
        opts=auto.LocalWorkspaceOptions(
            work_dir=str(tmp_path / "work"), pulumi_home=str(tmp_path / "pulumi-home"), env_vars=env,
            pulumi_command=auto.PulumiCommand(root=str(tool.home)),
        ),
    )
    stack.set_all_config({
        "aws:region": auto.ConfigValue(ec2.region),
        "aws:endpoints": auto.ConfigValue(json.dumps([{"ec2": ec2.endpoint}])),
        "aws:accessKey": auto.ConfigValue("test"),
        "aws:secretKey": auto.ConfigValue("test", secret=True),
        "aws:skipCredentialsValidation": auto.ConfigValue("true"),
        "aws:skipRequestingAccountId": auto.ConfigValue("true"),
    })
    before = _plugin_pids()
    try:
        yield stack, program_state, tmp_path / "provider.log"
    finally:
        stack.destroy()
        stack.workspace.remove_stack("dev")
        # Every plugin the engine started has exited.
        wait_for(lambda: not (_plugin_pids() - before), 15, "every plugin the engine started to exit", 0.1)


def test_launch_template_and_fleet_through_the_engine(pulumi_stack, ec2, seed, live_instances):
    import pulumi
    import pulumi_aws as aws
    from pulumi import automation as auto

    stack, state, provider_log = pulumi_stack
    knobs = {"capacity": 1, "tag": "a"}

    def program():
        template = aws.ec2.LaunchTemplate(
            "nodes", image_id=seed.amis["amd64"], vpc_security_group_ids=list(seed.security_group_ids),
            tag_specifications=[{"resource_type": "instance", "tags": {"provisioner.sh/nodepool": "default"}}],
            tags={"provisioner.sh/cluster": "engine-test"}, update_default_version=True,
        )
        fleet = aws.ec2.Fleet(
            "pool", type="instant", terminate_instances=True,
            launch_template_configs=[{
                "launch_template_specification": {"launch_template_id": template.id,
                                                  "version": template.latest_version.apply(str)},
                "overrides": [
                    {"instance_type": "m6i.large", "subnet_id": seed.subnets["us-east-1a"], "priority": 1},
                    {"instance_type": "m6i.large", "subnet_id": seed.subnets["us-east-1b"], "priority": 2},
                ],
            }],
            target_capacity_specification={"default_target_capacity_type": "spot",
                                           "total_target_capacity": knobs["capacity"]},
            spot_options={"allocation_strategy": "capacity-optimized-prioritized"},
            tags={"provisioner.sh/nodepool": "default", "rev": knobs["tag"]},
        )
        pulumi.export("fleet_id", fleet.id)
        pulumi.export("instance_sets", fleet.fleet_instance_sets)

    state["program"] = program
    ec2.inject_capacity_error("m6i.large", "us-east-1a", "spot")

    assert stack.preview().change_summary == {"create": 3}
    up = stack.up()
    assert up.summary.resource_changes == {"create": 3}
    [instance_set] = up.outputs["instance_sets"].value
    [instance] = live_instances(**{"instance-id": instance_set["instanceIds"][0]})
    assert instance["Placement"]["AvailabilityZone"] == "us-east-1b"  # fell back past the injected ICE

    assert stack.up().summary.resource_changes == {"same": 3}

    knobs["tag"] = "b"
    assert stack.up().summary.resource_changes == {"same": 2, "update": 1}

    knobs["capacity"] = 2
    replaced = stack.up()
    assert replaced.summary.resource_changes == {"same": 2, "replace": 1}
    assert replaced.outputs["fleet_id"].value != up.outputs["fleet_id"].value
    assert len(live_instances()) == 2

    # Instances gone behind Pulumi's back: refresh drops the fleet, the next up recreates it.
    ec2.client("ec2").terminate_instances(InstanceIds=[i["InstanceId"] for i in live_instances()])
    stack.refresh()
    assert stack.preview().change_summary == {"create": 1, "same": 2}

    # No capacity anywhere: the update fails with every override's error and launches nothing.
    ec2.inject_capacity_error("m6i.large", "*", "spot")
    with pytest.raises(auto.CommandError) as failed:
        stack.up()
    assert "creating EC2 Fleet: no capacity: InsufficientInstanceCapacity for m6i.large in us-east-1a (spot)" in \
        str(failed.value)
    assert live_instances() == []

    methods = {json.loads(line).get("method") for line in provider_log.read_text().splitlines()}
    assert {"Configure", "Check", "Diff", "Create", "Update", "Read", "Delete"} <= methods
