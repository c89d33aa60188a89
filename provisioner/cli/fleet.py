"""`provisioner fleet ...`: preview, apply and audit the fleet stack directly from a desired node set."""

from __future__ import annotations

import shlex
from contextlib import nullcontext

import click

from provisioner import paths
from provisioner.cli.output import console, emit_json, err_console, fail, output_option, table

stack_option = click.option("--stack", "-s", default="local", show_default=True, help="Pulumi stack name.")
backend_option = click.option("--backend-url", envvar="PULUMI_BACKEND_URL", default=None,
                              help="Pulumi backend (file://DIR, s3://BUCKET/PREFIX, ...). "
                                   "Default: a file backend under the provisioner home.")
cloud_option = click.option("--local-cloud", type=click.Choice(["auto", "on", "off"]), default="auto",
                            show_default=True,
                            help="Use the local EC2 started by `provisioner local up` (auto: when it is running).")
region_option = click.option("--region", default=None, help="AWS region (default: the desired node set's).")


def _target(stack: str, backend_url: str | None, local_cloud: str, region: str | None):
    from provisioner.localcloud.ec2 import LocalEC2, LocalEC2Error
    from provisioner.stack.target import LocalCloud, StackTarget

    cloud = None
    if local_cloud != "off":
        try:
            ec2 = LocalEC2.attach(paths.local_state_dir())
            cloud = LocalCloud(endpoint=ec2.endpoint, region=ec2.region)
        except (LocalEC2Error, FileNotFoundError, OSError) as err:
            if local_cloud == "on":
                fail(f"no local EC2 is running ({err}); start it with `provisioner local up`")
    region = region or (cloud.region if cloud else "us-east-1")
    return StackTarget(stack=stack, region=region, backend_url=backend_url, local_cloud=cloud)


def _open(stack, backend_url, local_cloud, region):
    from provisioner.stack.operations import FleetStack
    from provisioner.toolchain import ToolchainError

    try:
        return FleetStack(_target(stack, backend_url, local_cloud, region), log=lambda m: err_console.print(m))
    except ToolchainError as err:
        fail(str(err))


def _load_desired(path: str):
    from provisioner.fleet.desired import load
    from provisioner.fleet.validation import DesiredNodeSetError

    try:
        return load(path)
    except DesiredNodeSetError as err:
        fail(f"{path}: {err}")
    except FileNotFoundError:
        fail(f"{path}: no such file")


def _print_changes(changes, title: str) -> None:
    rows = [(c.op, c.kind, c.name, c.reason) for c in changes.changes if c.op != "same"]
    if rows:
        table(title, ["op", "kind", "name", "reason"], rows)
    else:
        console.print(f"[green]{title}: no changes[/]")
    for v in changes.violations:
        colour = "red" if v.level == "mandatory" else "yellow"
        console.print(f"[{colour}]{v.level} policy violation[/] [{v.pack}/{v.policy}] {v.message}")


@click.group("fleet")
def fleet_group() -> None:
    """Preview, apply and audit fleet stack updates from a desired node set."""


@fleet_group.command("preview")
@click.option("--desired", "desired_path", required=True, type=click.Path(dir_okay=False),
              help="Desired node set (YAML or JSON).")
@stack_option
@backend_option
@cloud_option
@region_option
@output_option
def preview_cmd(desired_path, stack, backend_url, local_cloud, region, output):
    """Show what applying a desired node set would change, with policy results. Changes nothing."""
    from provisioner.stack.operations import PolicyViolationError, StackOperationError

    desired = _load_desired(desired_path)
    fleet = _open(stack, backend_url, local_cloud, region or desired.region)
    try:
        changes = fleet.preview(desired)
    except PolicyViolationError as err:
        if output == "json":
            emit_json({"error": str(err), **err.changes.to_dict()})
        _print_changes(err.changes, "Preview") if output != "json" else None
        fail(str(err))
    except StackOperationError as err:
        fail(str(err))
    if output == "json":
        emit_json(changes.to_dict())
    else:
        _print_changes(changes, f"Preview of stack {stack}")


@fleet_group.command("apply")
@click.option("--desired", "desired_path", required=True, type=click.Path(dir_okay=False),
              help="Desired node set (YAML or JSON).")
@click.option("--message", "-m", required=True, help="Message recorded in the stack history.")
@stack_option
@backend_option
@cloud_option
@region_option
@output_option
def apply_cmd(desired_path, message, stack, backend_url, local_cloud, region, output):
    """Apply a desired node set as one recorded, policy-checked stack update."""
    from provisioner.stack.operations import PolicyViolationError, StackOperationError

    desired = _load_desired(desired_path)
    fleet = _open(stack, backend_url, local_cloud, region or desired.region)
    try:
        with console.status(f"updating stack {stack}") if output != "json" else nullcontext():
            result = fleet.apply(desired, message)
    except PolicyViolationError as err:
        if output == "json":
            emit_json({"error": str(err), **err.changes.to_dict()})
        fail(f"{err}\nNothing was changed.")
    except StackOperationError as err:
        fail(str(err))
    if output == "json":
        emit_json(result.to_dict())
        return
    if result.version is None:
        console.print(f"[green]stack {stack} already matches the desired node set: nothing to do[/]")
        return
    _print_changes(result.changes, f"Update #{result.version} of stack {stack} ({result.seconds:.1f}s)")


@fleet_group.command("history")
@click.option("--limit", type=int, default=None, help="Only the newest N updates.")
@stack_option
@backend_option
@cloud_option
@output_option
def history_cmd(limit, stack, backend_url, local_cloud, output):
    """The fleet's audit log: every stack update with its message and resource changes."""
    fleet = _open(stack, backend_url, local_cloud, None)
    records = fleet.history(limit)
    if output == "json":
        emit_json([r.to_dict() for r in records])
        return
    table(f"History of stack {stack}", ["#", "kind", "result", "started", "changes", "message"], [
        (r.version, r.kind, r.result, r.start_time.strftime("%Y-%m-%d %H:%M:%S"),
         " ".join(f"{k}={v}" for k, v in sorted(r.resource_changes.items()) if k != "same"), r.message)
        for r in records
    ])


@fleet_group.command("recover")
@click.option("--cluster", required=True, help="Cluster name (ownership tag) to scan for orphan instances.")
@click.option("--assume-abandoned", is_flag=True,
              help="Clear the stack lock even if its holder may be alive (only as the elected leader).")
@stack_option
@backend_option
@cloud_option
@output_option
def recover_cmd(cluster, assume_abandoned, stack, backend_url, local_cloud, output):
    """Clear a stale lock, finish an interrupted update and terminate orphan instances."""
    from provisioner.stack.recovery import StackBusyError, recover

    fleet = _open(stack, backend_url, local_cloud, None)
    try:
        report = recover(fleet, _ec2_client(fleet), cluster, assume_abandoned=assume_abandoned)
    except StackBusyError as err:
        fail(str(err))
    if output == "json":
        emit_json(report.to_dict())
    elif not report.anything:
        console.print("[green]nothing to recover[/]")
    else:
        for key, items in report.to_dict().items():
            for item in items:
                console.print(f"{key.replace('_', ' ')}: {item}")


@fleet_group.command("env")
@stack_option
@backend_option
@cloud_option
def env_cmd(stack, backend_url, local_cloud):
    """Print shell exports so that plain `pulumi preview -s STACK` works on the fleet project.

    Usage: eval "$(provisioner fleet env)"; pulumi preview -s local
    """
    fleet = _open(stack, backend_url, local_cloud, None)
    keep = ("PATH", "PULUMI_BACKEND_URL", "PULUMI_CONFIG_PASSPHRASE_FILE", "PULUMI_HOME", "PULUMI_SKIP_UPDATE_CHECK",
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION", "PULUMI_PYTHON_CMD", "PROVISIONER_PYTHON",
            "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "AWS_DEFAULT_REGION")
    for key in keep:
        if key in fleet.env:
            click.echo(f"export {key}={shlex.quote(fleet.env[key])}")
    click.echo(f"cd {shlex.quote(str(paths.REPO_ROOT))}")


@fleet_group.command("sample")
@click.option("--nodes", type=int, default=3, show_default=True)
@click.option("--cluster", default="local", show_default=True)
def sample_cmd(nodes, cluster):
    """Print a sample desired node set for the running local EC2 (real AMI and subnet ids)."""
    from provisioner.fleet.samples import sample_desired
    from provisioner.localcloud.ec2 import LocalEC2

    ec2 = LocalEC2.attach(paths.local_state_dir())
    click.echo(sample_desired(ec2.seed(), nodes, cluster).to_yaml())


def _ec2_client(fleet):
    import boto3

    cloud = fleet.target.local_cloud
    if cloud:
        return boto3.client("ec2", region_name=cloud.region, endpoint_url=cloud.endpoint,
                            aws_access_key_id="local", aws_secret_access_key="local")
    return boto3.client("ec2", region_name=fleet.target.region)


@fleet_group.command("policy-config")
@stack_option
def policy_config_cmd(stack):
    """Print the fleet-guard policy config for STACK (for `pulumi preview --policy-pack-config`)."""
    import json

    from provisioner.fleet.guardrails import for_stack

    click.echo(json.dumps(for_stack(paths.REPO_ROOT / "stacks", stack).policy_config(), indent=2))
