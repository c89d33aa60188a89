"""`provisioner demo`: the product end to end on a private local cluster.

Starts a local cluster (own state dir), installs the CRDs, the sample NodeClass and NodePools
(stacks/samples: default, arm64, spot) and a sample workload, runs the provisioning controller
until every pod is Running, prints the stack history and a summary, and stops everything.
`--output json` ends with one JSON line:
{"pods_total", "pods_running", "nodes", "cost_per_hour", "stack_updates", "seconds_to_all_running"}.
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


@click.command("demo")
@click.option("--timeout", type=float, default=300.0, show_default=True, help="Seconds to wait for every pod.")
@click.option("--scale", type=int, default=1, show_default=True, help="Multiply the sample workload's replicas.")
@click.option("--keep", is_flag=True, help="Leave the local cluster running at the end (prints how to stop it).")
@output_option
def demo_cmd(timeout: float, scale: int, keep: bool, output: str) -> None:
    """Pending pods to Running pods through recorded, policy-checked stack updates, on a private local cluster."""
    quiet = output == "json"
    say = (lambda msg: None) if quiet else (lambda msg: console.print(msg))
    with tempfile.TemporaryDirectory(prefix="provisioner-demo-") as tmp:
        summary, history = _run(Path(tmp), timeout, scale, keep, say, quiet)
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


def _run(tmp: Path, timeout: float, scale: int, keep: bool, say, quiet: bool) -> tuple[dict, list]:
    from provisioner import paths
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
                                                  namespace="kube-system"))
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


def _destroy(controller) -> None:
    """Terminate the demo's instances through one last stack update (the local EC2 stops right after)."""
    try:
        current = controller.fleet.current_desired()
        if current is not None and current.nodes:
            controller.fleet.apply(current.with_nodes([]), "demo teardown: remove every node")
    except Exception as err:  # noqa: BLE001 - the local EC2 goes away anyway
        err_console.print(f"teardown: {err}")
