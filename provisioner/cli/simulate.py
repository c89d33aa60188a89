"""`provisioner simulate`: where pending pods would go, which nodes would be bought, at what cost."""

from __future__ import annotations

import dataclasses

import click

from provisioner.cli.output import console, emit_json, fail, output_option, table


@click.command("simulate")
@click.option("--nodepools", "nodepools_file", required=True, type=click.Path(exists=True, dir_okay=False),
              help="NodePools (provisioner.sh/v1 or karpenter.sh/v1), and optionally NodeClasses.")
@click.option("--pods", "pods_file", required=True, type=click.Path(exists=True, dir_okay=False),
              help="v1 Pods (pending, or bound to --nodes via spec.nodeName); PV/PVC docs give volume zones.")
@click.option("--nodeclasses", "nodeclasses_file", type=click.Path(exists=True, dir_okay=False),
              help="NodeClasses (provisioner.sh/v1 or karpenter.k8s.aws/v1 EC2NodeClass).")
@click.option("--nodes", "nodes_file", type=click.Path(exists=True, dir_okay=False), help="Existing v1 Nodes.")
@click.option("--daemonsets", "daemonsets_file", type=click.Path(exists=True, dir_okay=False),
              help="apps/v1 DaemonSets: their pods' requests are overhead on every new node they would run on.")
@click.option("--region", default="us-east-1", show_default=True, help="Region of the offline catalog and prices.")
@click.option("--repack-seconds", default=8.0, show_default=True, type=click.FloatRange(min=0),
              help="Time to repack the new nodes from the configuration LP when cheaper (0: greedy placement only).")
@click.option("--bound-seconds", default=3.5, show_default=True, type=click.FloatRange(min=0),
              help="Time for the configuration-LP lower bound, kept when above the resource LP's (0: resource LP only).")
@click.option("--time-limit", default=12.0, show_default=True, type=click.FloatRange(min=0),
              help="Finish within about this many seconds: the bound's and the repack's times shrink to what the "
                   "placement leaves (0: no limit).")
@output_option
def simulate_cmd(nodepools_file, pods_file, nodeclasses_file, nodes_file, daemonsets_file, region, repack_seconds,
                 bound_seconds, time_limit, output):
    """Simulate scheduling PODS onto existing nodes and new nodes from NODEPOOLS (offline catalog)."""
    from provisioner.api import ValidationError
    from provisioner.scheduling import simulate
    from provisioner.scheduling.inputs import input_from_documents, read_documents

    try:
        inp = input_from_documents(read_documents(nodepools_file), read_documents(pods_file),
                                   read_documents(nodeclasses_file), read_documents(nodes_file),
                                   read_documents(daemonsets_file), region=region)
    except ValidationError as exc:
        fail(str(exc))
    except (ValueError, KeyError) as exc:
        fail(f"invalid input: {exc}")
    if not inp.nodepools:
        fail(f"no NodePool found in {nodepools_file}")
    plan = simulate(dataclasses.replace(inp, repack_seconds=repack_seconds, bound_seconds=bound_seconds,
                                         time_limit=time_limit))
    if output == "json":
        emit_json(plan.to_json())
        return
    pools = {n.nodepool for n in plan.nodes}
    rows = []
    for n in plan.nodes:
        row = [n.name + (" (existing)" if n.existing else ""), n.instance_type, n.capacity_type, n.zone,
               f"{n.price_per_hour:.4f}", len(n.pods), len(n.instance_types) or ""]
        rows.append(([n.nodepool] if len(pools) > 1 else []) + row)
    columns = ["node", "type", "capacity", "zone", "$/h", "pods", "types"]
    table("Nodes", (["nodepool"] if len(pools) > 1 else []) + columns, rows)
    if plan.unschedulable:
        table("Unschedulable", ["pod", "reason"], [[u.pod, u.reason] for u in plan.unschedulable])
    console.print(f"new nodes: {len(plan.new_nodes)}   cost: ${plan.cost_per_hour:.4f}/h   "
                  f"lower bound: ${plan.lower_bound_per_hour:.4f}/h   gap: {plan.gap:.1%}   "
                  f"solved in {plan.solve_seconds:.3f}s")
