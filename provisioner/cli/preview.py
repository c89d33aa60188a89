"""`provisioner preview`: what the provisioning loop would do right now, as a Pulumi diff with reasons
and policy results. Reads the cluster once, changes nothing."""

from __future__ import annotations

import threading

import click

from provisioner.cli.output import console, emit_json, output_option, table
from provisioner.cli.run import _local_endpoint, loop_options


@click.command("preview")
@loop_options
@output_option
def preview_cmd(kubeconfig, cluster, stack, region, local_state_dir, ec2_endpoint, backend_url, output):
    """Plan for the pods pending now and preview the stack update (nothing is applied)."""
    from provisioner.provisioning.config import LoopConfig
    from provisioner.provisioning.controller import ControllerOptions, ec2_client, fleet_stack
    from provisioner.provisioning.proposals import diff_text
    from provisioner.provisioning.reconciler import Reconciler
    from provisioner.state import kinds
    from provisioner.state.kube import KubeClient
    from provisioner.state.reflector import Reflector
    from provisioner.state.store import Store

    loop = LoopConfig(cluster=cluster, region=region)
    opts = ControllerOptions(loop=loop, stack=stack, kubeconfig=kubeconfig,
                             ec2_endpoint=ec2_endpoint or _local_endpoint(local_state_dir), backend_url=backend_url)
    kube, store = KubeClient(kubeconfig), Store()
    for kind in kinds.ALL:
        try:
            Reflector(kube, kind, store, threading.Event(), sleep=lambda s: None).list()
        except Exception:  # noqa: BLE001 - an optional CRD not installed lists as empty
            store.replace(kind.name, [])
    fleet = fleet_stack(opts)
    rec = Reconciler(loop, store, fleet, ec2_client(region, opts.ec2_endpoint), reporter=None)
    rec.sync_from_stack()
    from provisioner.provisioning import planner

    world, extra = rec._world(rec.expired(rec.clock()))
    guardrails = fleet.guardrails()
    decision = planner.decide(world, rec.catalogs.get(extra["zones"], guardrails), guardrails, rec.unavailable, region)
    changes = fleet.preview(decision.desired) if decision.changes else None
    if output == "json":
        emit_json({"message": decision.message if decision.changes else "", "pending": decision.pending,
                   "added": [n.name for n in decision.added], "removed": decision.removed,
                   "unschedulable": decision.unschedulable, "nominations": decision.nominations,
                   "changes": changes.to_dict() if changes else None,
                   "policies_passed": not changes.violations if changes else True})
        return
    console.print(f"pending pods: {decision.pending}")
    if changes is None:
        console.print("[green]no change to the fleet[/]")
    else:
        console.print(f"[bold]{decision.message}[/]")
        table("Planned stack update", ["op", "kind", "name", "reason"],
              [(c.op, c.kind, c.name, c.reason) for c in changes.changes if c.op != "same"])
        for line in diff_text(changes, fleet.current_desired(), decision.desired).splitlines():
            if line.startswith(("nodes:", "policy", "policies:")):
                console.print(line)
    if decision.unschedulable:
        table("Pods no NodePool can help", ["pod", "reason"], sorted(decision.unschedulable.items()))
