"""`provisioner demo`: the product end to end on a private local cluster.

Starts a local cluster (own state dir), installs the CRDs, the sample NodeClass and NodePools
(stacks/samples: default, arm64, spot) and a sample workload, runs the provisioning controller
until every pod is Running; then scales the workload down (with `consolidateAfter` shortened to
10s) and lets the disruption controller remove empty nodes and consolidate the rest; prints the
stack history and a summary, and stops everything. `--output json` ends with one JSON line:
{"pods_total", "pods_running", "nodes", "cost_per_hour", "stack_updates", "seconds_to_all_running",
 "pods_after_scale_down", "nodes_after_scale_down", "cost_per_hour_after_scale_down", "disruption_updates",
 "seconds_to_settle"}.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from pathlib import Path

import click

from provisioner.cli.output import console, emit_json, err_console, fail, output_option, table

STACK = "demo"
CLUSTER = "demo"
SAMPLES = ("default.yaml", "arm64.yaml", "spot.yaml")
POOLS = ("default", "arm64", "spot")
# The demo cannot wait 5 minutes per step: every NodePool consolidates after 10s, half its nodes at a time.
DEMO_DISRUPTION = {"consolidationPolicy": "WhenEmptyOrUnderutilized", "consolidateAfter": "10s",
                   "budgets": [{"nodes": "50%"}]}
QUIET_PASSES = 4  # the fleet has settled when this many passes in a row decide nothing


@click.command("demo")
@click.option("--timeout", type=float, default=300.0, show_default=True, help="Seconds to wait for every pod.")
@click.option("--scale", type=int, default=1, show_default=True, help="Multiply the sample workload's replicas.")
@click.option("--keep", is_flag=True, help="Leave the local cluster running at the end (prints how to stop it).")
@click.option("--scale-down/--no-scale-down", default=True, show_default=True,
              help="After the scale-up, shrink the workload and let disruption remove and consolidate nodes.")
@output_option
def demo_cmd(timeout: float, scale: int, keep: bool, scale_down: bool, output: str) -> None:
    """Pending pods to Running pods, then a scale-down removing and consolidating nodes: every step a
    recorded, policy-checked stack update, on a private local cluster."""
    quiet = output == "json"
    say = (lambda msg: None) if quiet else (lambda msg: console.print(msg))
    with tempfile.TemporaryDirectory(prefix="provisioner-demo-") as tmp:
        summary, history = _run(Path(tmp), timeout, scale, keep, scale_down, say, quiet)
    if output == "json":
        emit_json(summary)
        return
    table(f"Stack history ({STACK})", ["#", "result", "changes", "message"], [
        (h.version, h.result, " ".join(f"{k}={v}" for k, v in sorted(h.resource_changes.items()) if k != "same"),
         h.message) for h in reversed(history)])
    console.print(f"[bold green]{summary['pods_running']}/{summary['pods_total']} pods Running[/] on "
                  f"{summary['nodes']} nodes (${summary['cost_per_hour']:.4f}/h) after "
                  f"{summary['stack_updates']} stack update(s), {summary['seconds_to_all_running']}s from "
                  "Pending to Running")
    if "nodes_after_scale_down" in summary:
        console.print(f"[bold green]after scale-down:[/] {summary['pods_after_scale_down']} pods on "
                      f"{summary['nodes_after_scale_down']} nodes (${summary['cost_per_hour_after_scale_down']:.4f}/h) "
                      f"after {summary['disruption_updates']} disruption update(s), settled in "
                      f"{summary['seconds_to_settle']}s")


def _run(tmp: Path, timeout: float, scale: int, keep: bool, scale_down: bool, say, quiet: bool) -> tuple[dict, list]:
    from provisioner import paths
    from provisioner.disruption.controller import DisruptionConfig
    from provisioner.localcloud.cluster import LocalCluster
    from provisioner.provisioning import bootstrap, logs, sample_workload
    from provisioner.provisioning.config import LoopConfig
    from provisioner.provisioning.controller import Controller, ControllerOptions
    from provisioner.state.kube import KubeClient

    os.environ["PROVISIONER_HOME"] = str(tmp / "home")
    os.environ.pop("PULUMI_BACKEND_URL", None)
    logs.setup(level="warning" if quiet else "info", fmt="text")
    settings = paths.REPO_ROOT / "stacks" / f"Pulumi.{STACK}.yaml"
    settings.unlink(missing_ok=True)
    state_dir = tmp / "local"
    lc = LocalCluster(state_dir, cluster=CLUSTER, log=(lambda m: None) if quiet else (lambda m: err_console.print(m)))
    controller = None
    thread = None
    try:
        t0 = time.monotonic()
        state = lc.up()
        say(f"[bold]local cluster[/] up in {time.monotonic() - t0:.1f}s (API {state.server}, EC2 {state.ec2_endpoint})")
        kube = KubeClient(lc.kubeconfig)
        bootstrap.install_crds(kube)
        ec2 = lc.ec2()
        bootstrap.tag_discovery(ec2.client(), ec2.seed(), "demo")
        for name in SAMPLES:
            bootstrap.apply(kube, bootstrap.load(paths.REPO_ROOT / "stacks" / "samples" / name))
        say("installed CRDs, NodeClass [bold]default[/], NodePools [bold]default, arm64, spot[/]")

        loop = LoopConfig(cluster=CLUSTER, region=lc.region)
        controller = Controller(ControllerOptions(loop=loop, stack=STACK, kubeconfig=str(lc.kubeconfig),
                                                  ec2_endpoint=ec2.endpoint, health_port=0,
                                                  namespace="kube-system",
                                                  disruption=DisruptionConfig(interval_seconds=2.0)))
        controller.start()
        thread = threading.Thread(target=controller.run, name="reconciler", daemon=True)
        thread.start()
        say(f"controller running (metrics on http://127.0.0.1:{controller.server.port}/metrics)")

        docs = sample_workload.documents(scale)
        total = sample_workload.pod_count(scale)
        started = time.monotonic()
        bootstrap.apply(kube, docs)
        say(f"applied the sample workload: {total} pods in {len(docs) - 1} Deployments (namespace "
            f"{sample_workload.NAMESPACE})")
        running, last = 0, -1
        deadline = started + timeout
        while time.monotonic() < deadline:
            pods = kube.call("GET", f"/api/v1/namespaces/{sample_workload.NAMESPACE}/pods")["items"]
            running = sum(1 for p in pods if p["status"].get("phase") == "Running")
            if running != last:
                say(f"  {time.monotonic() - started:5.1f}s  {running}/{total} pods Running")
                last = running
            if running == total and len(pods) == total:
                break
            time.sleep(0.5)
        seconds = round(time.monotonic() - started, 1)
        if running != total:
            fail(f"only {running}/{total} pods Running after {timeout:.0f}s")
        history = controller.fleet.history()
        cost = sum(controller.reconciler.cost_by_pool().values())
        nodes = len(controller.reconciler.desired.nodes)
        summary = {"pods_total": total, "pods_running": running, "nodes": nodes, "cost_per_hour": round(cost, 4),
                   "stack_updates": len([h for h in history if h.kind == "update" and h.result == "succeeded"]),
                   "seconds_to_all_running": seconds}
        if scale_down:
            summary |= _scale_down(kube, controller, scale, timeout, say)
            history = controller.fleet.history()
        return summary, history
    finally:
        if controller is not None:
            controller.close()
            if thread is not None:
                thread.join(30)
        if keep:
            err_console.print(f"local cluster left running: provisioner local down --state-dir {state_dir}")
        else:
            if controller is not None:
                _destroy(controller)
            lc.down()
            settings.unlink(missing_ok=True)


def _scale_down(kube, controller, scale: int, timeout: float, say) -> dict:
    """Shrink the workload, then wait until the disruption controller has nothing left to do."""
    from provisioner.provisioning import sample_workload

    for pool in POOLS:
        kube.patch_merge(f"/apis/provisioner.sh/v1/nodepools/{pool}", {"spec": {"disruption": DEMO_DISRUPTION}})
    target = sample_workload.scaled_down(scale)
    ns = sample_workload.NAMESPACE
    for name, replicas in target.items():
        kube.patch_merge(f"/apis/apps/v1/namespaces/{ns}/deployments/{name}", {"spec": {"replicas": replicas}})
    total = sum(target.values())
    say(f"scaled the workload down to {total} pods; NodePools consolidate after "
        f"{DEMO_DISRUPTION['consolidateAfter']} (demo setting)")
    disruptor = controller.disruptor
    started = time.monotonic()
    deadline = started + max(timeout, 600.0)
    quiet_since, nodes_seen = None, -1
    while time.monotonic() < deadline:
        pods = kube.call("GET", f"/api/v1/namespaces/{ns}/pods")["items"]
        running = sum(1 for p in pods if p["status"].get("phase") == "Running"
                      and not p["metadata"].get("deletionTimestamp"))
        nodes = len(controller.reconciler.desired.nodes)
        if nodes != nodes_seen:
            say(f"  {time.monotonic() - started:5.1f}s  {nodes} nodes, {running}/{total} pods Running")
            nodes_seen = nodes
        idle = (running == total and len(pods) == total and not disruptor.busy()
                and disruptor.last is not None and disruptor.last.action is None)
        if not idle:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = disruptor.passes
        elif disruptor.passes - quiet_since >= QUIET_PASSES:
            break
        time.sleep(0.5)
    else:
        fail(f"the fleet did not settle within {deadline - started:.0f}s after the scale-down")
    history = controller.fleet.history()
    return {"pods_after_scale_down": total, "nodes_after_scale_down": len(controller.reconciler.desired.nodes),
            "cost_per_hour_after_scale_down": round(sum(controller.reconciler.cost_by_pool().values()), 4),
            "disruption_updates": len([h for h in history if h.result == "succeeded"
                                       and h.message.startswith("disruption:")]),
            "seconds_to_settle": round(time.monotonic() - started, 1)}


def _destroy(controller) -> None:
    """Terminate the demo's instances through one last stack update (the local EC2 stops right after)."""
    try:
        current = controller.fleet.current_desired()
        if current is not None and current.nodes:
            controller.fleet.apply(current.with_nodes([]), "demo teardown: remove every node")
    except Exception as err:  # noqa: BLE001 - the local EC2 goes away anyway
        err_console.print(f"teardown: {err}")
