"""`provisioner explain node NAME`: why a node exists, what would happen to it next and why.
Reads the cluster and the stack once, changes nothing."""

from __future__ import annotations

from datetime import datetime, timezone

import click

from provisioner.cli.output import emit_json, fail, output_option
from provisioner.cli.run import loop_options


@click.group("explain")
def explain_group() -> None:
    """Explain the provisioner's view of an object."""


@explain_group.command("node")
@click.argument("name")
@loop_options
@click.option("--history-limit", type=int, default=None,
              help="Read only this many of the newest stack updates (default: all).")
@click.option("--min-savings", type=float, default=0.0, show_default=True,
              help="As `provisioner run --min-savings`: the consolidation threshold in $/h.")
@click.option("--churn-guard", type=float, default=600.0, show_default=True,
              help="As `provisioner run --churn-guard`: seconds a replacement is not consolidated again.")
@output_option
def explain_node_cmd(name, kubeconfig, cluster, stack, region, local_state_dir, ec2_endpoint, backend_url,
                     history_limit, min_savings, churn_guard, output):
    """Why node NAME exists (its NodePool, the stack update that launched it, later updates naming it)
    and what the disruption pass would do with it if the cluster stayed as it is now."""
    from provisioner.disruption.explain import UnknownNode, explain
    from provisioner.cli.snapshot import one_shot_reconciler

    rec = one_shot_reconciler(kubeconfig, cluster, stack, region, local_state_dir, ec2_endpoint, backend_url)
    fleet = rec.fleet
    world, extra = rec.world({})
    guardrails = fleet.guardrails()
    catalog = rec.catalogs.get(extra["zones"], guardrails)
    history = fleet.desired_history(limit=history_limit)
    try:
        ex = explain(name, world, catalog, history, datetime.now(timezone.utc), guardrails=guardrails,
                     min_savings_per_hour=min_savings, churn_guard_seconds=churn_guard)
    except UnknownNode as err:
        fail(f"{err} (cluster {cluster}, stack {stack})")
        return
    if output == "json":
        emit_json(ex.to_dict())
        return
    click.echo(ex.to_text())
