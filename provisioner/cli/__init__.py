"""The `provisioner` command line. One module per command group."""
