"""Ownership tags: how an EC2 object is known to belong to a cluster's fleet (see docs/conventions.md)."""

from __future__ import annotations

CLUSTER = "provisioner.sh/cluster"
NODEPOOL = "provisioner.sh/nodepool"
NODECLASS = "provisioner.sh/nodeclass"
NODE_NAME = "provisioner.sh/node-name"
MANAGED_BY = "provisioner.sh/managed-by"
MANAGED_BY_VALUE = "provisioner"
STATE = "provisioner.sh/state"  # "active" or "draining" (set by disruption)
DISRUPTION_REASON = "provisioner.sh/disruption-reason"  # on a draining node: Empty, Drifted, Underutilized, ...


def cluster_tag_key(cluster: str) -> str:
    return f"kubernetes.io/cluster/{cluster}"


def base_tags(cluster: str) -> dict[str, str]:
    return {CLUSTER: cluster, MANAGED_BY: MANAGED_BY_VALUE, cluster_tag_key(cluster): "owned"}


REQUIRED_TAG_KEYS = (CLUSTER, NODEPOOL, MANAGED_BY)
