"""The provisioning reconciler: pending pods -> a planned desired node set -> one stack update."""
