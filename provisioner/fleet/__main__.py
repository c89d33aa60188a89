"""Entry point of the root Pulumi project (Pulumi.yaml `main`): the fleet program."""

from provisioner.fleet.program import fleet_program

fleet_program()
