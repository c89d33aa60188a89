"""`provisioner run`: the provisioning controller (in cluster, or with --kubeconfig)."""

from __future__ import annotations

import signal
from pathlib import Path

import click


def _local_endpoint(state_dir: str | None) -> str | None:
    if not state_dir:
        return None
    import json

    return json.loads((Path(state_dir) / "ec2.json").read_text())["endpoint"]


def loop_options(f):
    for opt in reversed([
        click.option("--kubeconfig", envvar="KUBECONFIG", default=None, help="Kubeconfig (default: in-cluster)."),
        click.option("--cluster", required=True, help="Cluster name (the provisioner.sh/cluster tag)."),
        click.option("--stack", "-s", default="local", show_default=True, help="Pulumi stack of the fleet."),
        click.option("--region", default="us-east-1", show_default=True),
        click.option("--local-state-dir", default=None, help="Local cluster state dir: use its local EC2."),
        click.option("--ec2-endpoint", default=None, help="EC2 endpoint URL (local cloud)."),
        click.option("--backend-url", envvar="PULUMI_BACKEND_URL", default=None),
    ]):
        f = opt(f)
    return f


@click.command("run")
@loop_options
@click.option("--mode", type=click.Choice(["apply", "propose"]), default="apply", show_default=True,
              help="apply: run each stack update; propose: record it for review in a ConfigMap and an Event.")
@click.option("--namespace", default="kube-system", show_default=True, help="Namespace of the Lease and proposals.")
@click.option("--leader-elect/--no-leader-elect", default=True, show_default=True)
@click.option("--lease-name", default="provisioner", show_default=True)
@click.option("--lease-seconds", type=float, default=15.0, show_default=True)
@click.option("--identity", default="", help="Leader election identity (default: host-pid).")
@click.option("--health-host", default="127.0.0.1", show_default=True,
              help="Address of /metrics, /healthz, /readyz (0.0.0.0 in a pod).")
@click.option("--health-port", type=int, default=8081, show_default=True, help="/metrics, /healthz, /readyz (0: any).")
@click.option("--batch-idle", type=float, default=1.0, show_default=True)
@click.option("--batch-max", type=float, default=10.0, show_default=True)
@click.option("--registration-timeout", type=float, default=900.0, show_default=True)
@click.option("--launch-timeout", type=float, default=300.0, show_default=True)
@click.option("--disruption/--no-disruption", default=True, show_default=True,
              help="Run the disruption controller (emptiness, expiration, drift, consolidation, deleted Nodes).")
@click.option("--disruption-interval", type=float, default=5.0, show_default=True,
              help="Seconds between disruption decision passes.")
@click.option("--min-savings", type=float, default=0.0, show_default=True,
              help="Consolidation only acts when it saves more than this many dollars per hour.")
@click.option("--churn-guard", type=float, default=600.0, show_default=True,
              help="Seconds during which a replacement node is not consolidated again.")
@click.option("--no-planner-guardrails", is_flag=True, hidden=True,
              help="Plan without the guardrails (the policy pack still rejects): to test the backstop.")
@click.option("--log-format", type=click.Choice(["json", "text"]), default="json", show_default=True)
def run_cmd(kubeconfig, cluster, stack, region, local_state_dir, ec2_endpoint, backend_url, mode, namespace,
            leader_elect, lease_name, lease_seconds, identity, health_host, health_port, batch_idle, batch_max,
            registration_timeout, launch_timeout, disruption, disruption_interval, min_savings, churn_guard,
            no_planner_guardrails, log_format):
    """Watch pending pods and add the nodes they need; remove the nodes nobody needs (emptiness,
    consolidation, expiration, drift, deleted Nodes). Each change is a recorded, policy-checked stack update."""
    from provisioner.disruption.controller import DisruptionConfig
    from provisioner.provisioning import logs
    from provisioner.provisioning.config import LoopConfig
    from provisioner.provisioning.controller import Controller, ControllerOptions

    logs.setup(fmt=log_format)
    loop = LoopConfig(cluster=cluster, region=region, batch_idle_seconds=batch_idle, batch_max_seconds=batch_max,
                      registration_timeout_seconds=registration_timeout, launch_timeout_seconds=launch_timeout,
                      mode=mode, planner_guardrails=not no_planner_guardrails)
    opts = ControllerOptions(loop=loop, stack=stack, kubeconfig=kubeconfig,
                             ec2_endpoint=ec2_endpoint or _local_endpoint(local_state_dir), backend_url=backend_url,
                             namespace=namespace, leader_elect=leader_elect, lease_name=lease_name, lease_seconds=lease_seconds,
                             identity=identity, health_host=health_host, health_port=health_port,
                             disruption=DisruptionConfig(interval_seconds=disruption_interval,
                                                         min_savings_per_hour=min_savings,
                                                         churn_guard_seconds=churn_guard) if disruption else None)
    controller = Controller(opts)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: controller.stop.set())
    try:
        controller.start()
        controller.run()
    finally:
        controller.close()
