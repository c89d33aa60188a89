"""Entry point: `provisioner <group> <command>`."""

from __future__ import annotations

import importlib

import click

from provisioner import __version__

# Each entry: (module, attribute). Modules are imported lazily so that one
# group's heavy imports (Pulumi, Kubernetes) do not slow every command.
COMMANDS = {
    "tools": ("provisioner.cli.tools", "tools_cmd"),
    "local": ("provisioner.cli.local", "local_group"),
    "fleet": ("provisioner.cli.fleet", "fleet_group"),
    "simulate": ("provisioner.cli.simulate", "simulate_cmd"),
    "demo": ("provisioner.cli.demo", "demo_cmd"),
    "run": ("provisioner.cli.run", "run_cmd"),
    "preview": ("provisioner.cli.preview", "preview_cmd"),
    "explain": ("provisioner.cli.explain", "explain_group"),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(name for name, (mod, _) in COMMANDS.items() if importlib.util.find_spec(mod))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        mod, attr = COMMANDS[name]
        if importlib.util.find_spec(mod) is None:
            return None
        return getattr(importlib.import_module(mod), attr)


@click.group(cls=LazyGroup)
@click.version_option(__version__, prog_name="provisioner")
def cli() -> None:
    """provisioner: a Kubernetes node autoscaler where every fleet change is a reviewed, recorded Pulumi stack update."""


if __name__ == "__main__":
    cli()
