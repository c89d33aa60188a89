"""`provisioner tools`: build (if needed) and list the real tools with versions and paths."""

from __future__ import annotations

import click

from provisioner import toolchain
from provisioner.cli.output import emit_json, fail, output_option, table


@click.command("tools")
@click.option("--ensure/--no-ensure", default=False, help="Build missing or broken tools before listing.")
@click.option("--only", type=click.Choice(["fleet", "cluster", "all"]), default="all", show_default=True,
              help="Which tool set to build with --ensure.")
@output_option
def tools_cmd(ensure: bool, only: str, output: str) -> None:
    """Show each tool, its version, its path and whether the cached copy is usable."""
    if ensure:
        names = {"fleet": toolchain.FLEET_TOOLS, "cluster": toolchain.CLUSTER_TOOLS}.get(only, tuple(toolchain.TOOLS))
        try:
            toolchain.ensure(names)
        except toolchain.ToolchainError as err:
            fail(str(err))
    rows = toolchain.status()
    if output == "json":
        emit_json(rows)
        return
    table("Tools", ["tool", "version", "status", "path"],
          [(r["tool"], r["version"], "[green]ok[/]" if r["ok"] else f"[red]{r['problem']}[/]", r["path"]) for r in rows])
