from provisioner.cli.main import cli

cli()
