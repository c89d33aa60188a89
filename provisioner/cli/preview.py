"""`provisioner preview`: what the provisioning loop would do right now, as a Pulumi diff with reasons
and policy results. Reads the cluster once, changes nothing."""

from __future__ import annotations

import click

from provisioner.cli.output import console, emit_json, output_option, table
from provisioner.cli.run import loop_options


@click.command("preview")
@loop_options
@output_option
def preview_cmd(kubeconfig, cluster, stack, region, local_state_dir, ec2_endpoint, backend_url, output):
    """Plan for the pods pending now and preview the stack update (nothing is applied)."""
    from provisioner.cli.snapshot import one_shot_reconciler
    from provisioner.provisioning.proposals import diff_text

    rec = one_shot_reconciler(kubeconfig, cluster, stack, region, local_state_dir, ec2_endpoint, backend_url)
    fleet = rec.fleet
    from provisioner.provisioning import planner

    world, extra = rec.world(rec.expired(rec.clock()))
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
