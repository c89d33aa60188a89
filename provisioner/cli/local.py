"""`provisioner local up|status|down`: the local cluster (moto EC2 + real control plane + kwok)."""

from __future__ import annotations

import signal
from pathlib import Path

import click

from provisioner.cli.output import emit_json, err_console, fail, output_option, table

state_dir_option = click.option(
    "--state-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
    help="Where pids, ports, logs, PKI and the kubeconfig live (default: ~/.provisioner/local).",
)


def _cluster(state_dir: Path | None, **kw: object):
    from provisioner.localcloud.cluster import LocalCluster

    return LocalCluster(state_dir, log=lambda m: err_console.print(m, markup=False, highlight=False), **kw)


@click.group("local")
def local_group() -> None:
    """Run a local cluster: EC2 emulation, kine, kube-apiserver, controller-manager, scheduler, kwok."""


@local_group.command("up")
@state_dir_option
@click.option("--cluster", default="local", show_default=True, help="Cluster name (ownership tag value).")
@click.option("--boot-delay", type=float, default=3.0, show_default=True,
              help="Seconds between an instance running and its Node registering.")
@click.option("--timeout", type=float, default=90.0, show_default=True, help="Per-component readiness deadline.")
@click.option("--foreground", is_flag=True, help="Stay attached; Ctrl-C stops the cluster.")
@output_option
def up_cmd(state_dir: Path | None, cluster: str, boot_delay: float, timeout: float, foreground: bool,
           output: str) -> None:
    """Start every component and return once all are ready."""
    from provisioner.localcloud.cluster import ClusterError
    from provisioner.localcloud.processes import ProcessError
    from provisioner.toolchain import ToolchainError

    lc = _cluster(state_dir, cluster=cluster, boot_delay=boot_delay)
    # SIGTERM behaves like Ctrl-C: up() cleans up on any BaseException.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        state = lc.up(timeout=timeout)
    except (ClusterError, ProcessError, ToolchainError) as err:
        fail(str(err))
    except KeyboardInterrupt:
        fail("interrupted; everything started was stopped", 130)
    if output == "json":
        emit_json(state.to_json())
    else:
        _print_state(state)
    if foreground:
        try:
            died = lc.wait()
            err_console.print(f"[red]{died} exited[/]; stopping the cluster")
        except KeyboardInterrupt:
            err_console.print("stopping the cluster")
        finally:
            lc.down()


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def _print_state(state) -> None:
    table(f"Local cluster {state.cluster!r} ready in {state.ready_seconds:.1f}s",
          ["component", "pid", "port", "log"],
          [(c.name, c.pid, c.port or "-", c.log) for c in state.components])
    click.echo(f"kubeconfig: {state.kubeconfig}")
    click.echo(f"api server: {state.server}    ec2 endpoint: {state.ec2_endpoint}")
    click.echo(f"export KUBECONFIG={state.kubeconfig}")


@local_group.command("status")
@state_dir_option
@output_option
def status_cmd(state_dir: Path | None, output: str) -> None:
    """Each component's pid, port and health. Exit code 1 if anything is unhealthy or nothing runs."""
    lc = _cluster(state_dir)
    rows = lc.status()
    state = lc.load()
    healthy = bool(rows) and all(r.healthy for r in rows)
    if output == "json":
        emit_json({"running": bool(rows), "healthy": healthy, "kubeconfig": state.kubeconfig if state else None,
                   "server": state.server if state else None,
                   "components": [r.__dict__ for r in rows]})
    elif not rows:
        click.echo(f"no local cluster in {lc.state_dir}")
    else:
        table(f"Local cluster in {lc.state_dir}", ["component", "pid", "port", "health", "detail"],
              [(r.name, r.pid, r.port or "-", "[green]ok[/]" if r.healthy else "[red]down[/]", r.detail)
               for r in rows])
        click.echo(f"kubeconfig: {state.kubeconfig if state else '-'}")
    if not healthy:
        raise SystemExit(1)


@local_group.command("down")
@state_dir_option
@output_option
def down_cmd(state_dir: Path | None, output: str) -> None:
    """Stop every component (SIGTERM, then SIGKILL after a deadline)."""
    lc = _cluster(state_dir)
    stopped = lc.down()
    if output == "json":
        emit_json({"stopped": stopped})
    else:
        click.echo(f"stopped: {', '.join(stopped) if stopped else 'nothing was running'}")


@local_group.command("kubeconfig")
@state_dir_option
def kubeconfig_cmd(state_dir: Path | None) -> None:
    """Print the running local cluster's admin kubeconfig."""
    lc = _cluster(state_dir)
    if lc.load() is None or not lc.kubeconfig.exists():
        fail(f"no local cluster in {lc.state_dir}")
    click.echo(lc.kubeconfig.read_text(), nl=False)
