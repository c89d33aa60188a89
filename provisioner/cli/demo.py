"""`provisioner demo`: the fleet spine on the local defaults, start to finish.

Starts a private local EC2, applies a sample desired node set (scale-up), changes it
(one node replaced by a bigger one, one removed), shows the fleet's audit log, and stops
everything it started.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import replace
from pathlib import Path

import click

from provisioner.cli.output import console, emit_json, err_console, fail, output_option, table


@click.command("demo")
@click.option("--nodes", type=int, default=4, show_default=True, help="Nodes in the sample scale-up.")
@output_option
def demo_cmd(nodes: int, output: str) -> None:
    """Run the fleet spine end to end on a private local EC2 and print the stack history."""
    from provisioner.fleet.samples import sample_desired
    from provisioner.localcloud.ec2 import LocalEC2
    from provisioner.stack.operations import FleetStack, StackOperationError
    from provisioner.stack.target import LocalCloud, StackTarget

    say = (lambda msg: None) if output == "json" else (lambda msg: console.print(msg))
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="provisioner-demo-") as tmp:
        stack = f"demo-{int(time.time())}"
        target = None
        try:
            with LocalEC2(Path(tmp) / "ec2") as ec2:
                seed = ec2.seed()
                say(f"[bold]local EC2[/] on {ec2.endpoint} ({seed.region}, {len(seed.zones)} zones)")
                target = StackTarget(stack=stack, region=seed.region,
                                     local_cloud=LocalCloud(endpoint=ec2.endpoint, region=seed.region))
                fleet = FleetStack(target, log=lambda m: err_console.print(m))
                desired = sample_desired(seed, nodes, cluster="demo")
                steps = []

                up = fleet.apply(desired, _message("scale-up", desired.nodes, "sample workload"))
                steps.append(up)
                say(f"update #{up.version}: +{len(up.changes.nodes('create'))} nodes in {up.seconds:.1f}s")

                bigger = replace(desired.nodes[0], instance_types=("m6i.xlarge", "m5.xlarge"),
                                 reason="replaced by a larger type for a memory-heavy workload")
                changed = desired.with_nodes([bigger, *desired.nodes[1:-1]])
                down = fleet.apply(changed, f"change: {bigger.name} to m6i.xlarge, "
                                            f"scale-down: -1 node ({desired.nodes[-1].name}, empty)")
                steps.append(down)
                say(f"update #{down.version}: {down.changes.counts} in {down.seconds:.1f}s")

                policy_blocked = _try_denied(fleet, changed)
                say(f"policy check: a GPU node was rejected before launch: [red]{policy_blocked}[/]")

                history = fleet.history()
                instances = _running(ec2.client("ec2"))
        except StackOperationError as err:
            fail(str(err))
        finally:
            if target is not None:
                (target.stacks_dir / f"Pulumi.{stack}.yaml").unlink(missing_ok=True)

    summary = {
        "stack": stack, "stack_updates": len(history), "nodes": len(instances),
        "instances": sorted(f"{i['InstanceType']}/{i['Placement']['AvailabilityZone']}" for i in instances),
        "policy_rejections": 1 if policy_blocked else 0, "seconds": round(time.monotonic() - started, 1),
    }
    if output == "json":
        emit_json(summary)
        return
    table(f"Stack history ({stack})", ["#", "result", "changes", "message"], [
        (h.version, h.result, " ".join(f"{k}={v}" for k, v in sorted(h.resource_changes.items()) if k != "same"),
         h.message) for h in history])
    console.print(f"running instances: {', '.join(summary['instances'])}")
    console.print(f"[green]demo finished in {summary['seconds']}s[/]")


def _message(kind: str, nodes, why: str) -> str:
    counts: dict[str, int] = {}
    for n in nodes:
        key = f"{n.instance_types[0]} {n.capacity_type}"
        counts[key] = counts.get(key, 0) + 1
    shapes = ", ".join(f"{c}x {k}" for k, c in sorted(counts.items()))
    return f"{kind}: +{len(nodes)} nodes ({shapes}) for {why}"


def _try_denied(fleet, desired) -> str:
    from provisioner.stack.operations import PolicyViolationError

    gpu = replace(desired.nodes[0], name="demo-gpu", instance_types=("p3.2xlarge",), reason="forced GPU node")
    try:
        fleet.apply(desired.with_nodes([*desired.nodes, gpu]), "scale-up: +1 GPU node (should be rejected)")
    except PolicyViolationError as err:
        return str(err).splitlines()[-1].strip()
    return ""


def _running(ec2) -> list[dict]:
    found = ec2.describe_instances(Filters=[{"Name": "tag:provisioner.sh/cluster", "Values": ["demo"]},
                                            {"Name": "instance-state-name", "Values": ["pending", "running"]}])
    return [i for r in found["Reservations"] for i in r["Instances"]]
