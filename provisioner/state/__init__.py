"""The controller's in-memory view of the cluster, kept current by list + watch on raw JSON."""
