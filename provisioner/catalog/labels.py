"""Well-known node labels predicted for an instance type (see docs/conventions.md).

The local cluster's node registration writes exactly these labels, and the scheduling
simulation matches pod requirements against them, so both sides use this one function.
Every `instance-*` label is written under both `provisioner.sh/` and `karpenter.k8s.aws/`,
and capacity type / NodePool under both `provisioner.sh/` and `karpenter.sh/`.
"""

from __future__ import annotations

from typing import Any

from provisioner.catalog.instancetypes import InstanceType

INSTANCE_TYPE = "node.kubernetes.io/instance-type"
INSTANCE_TYPE_BETA = "beta.kubernetes.io/instance-type"
ZONE = "topology.kubernetes.io/zone"
REGION = "topology.kubernetes.io/region"
ARCH = "kubernetes.io/arch"
OS = "kubernetes.io/os"
HOSTNAME = "kubernetes.io/hostname"
CAPACITY_TYPE = "provisioner.sh/capacity-type"
NODEPOOL = "provisioner.sh/nodepool"
KARPENTER_CAPACITY_TYPE = "karpenter.sh/capacity-type"
KARPENTER_NODEPOOL = "karpenter.sh/nodepool"
INSTANCE_PREFIXES = ("provisioner.sh/", "karpenter.k8s.aws/")

CAPACITY_TYPE_KEYS = (CAPACITY_TYPE, KARPENTER_CAPACITY_TYPE)
NODEPOOL_KEYS = (NODEPOOL, KARPENTER_NODEPOOL)


def instance_labels(it: InstanceType) -> dict[str, str]:
    """The `instance-*` facts of a type, without prefix (e.g. {"instance-cpu": "2"})."""
    facts = {
        "instance-family": it.family,
        "instance-category": it.category,
        "instance-generation": str(it.generation),
        "instance-size": it.size,
        "instance-cpu": str(it.vcpu),
        "instance-memory": str(it.memory_mib),
        "instance-hypervisor": it.hypervisor,
        "instance-encryption-in-transit-supported": str(it.encryption_in_transit).lower(),
    }
    if it.cpu_manufacturer:
        facts["instance-cpu-manufacturer"] = it.cpu_manufacturer
    if it.network_bandwidth_mbps:
        facts["instance-network-bandwidth"] = str(it.network_bandwidth_mbps)
    if it.local_storage_gb:
        facts["instance-local-nvme"] = str(it.local_storage_gb)
    if it.gpu_count:
        facts.update({
            "instance-gpu-name": it.gpu_name,
            "instance-gpu-manufacturer": it.gpu_manufacturer,
            "instance-gpu-count": str(it.gpu_count),
            "instance-gpu-memory": str(it.gpu_memory_mib),
        })
    if it.accelerator_count:
        facts.update({
            "instance-accelerator-name": it.accelerator_name,
            "instance-accelerator-manufacturer": it.accelerator_manufacturer,
            "instance-accelerator-count": str(it.accelerator_count),
        })
    return facts


def node_labels(it: InstanceType, zone: str, region: str, capacity_type: str, nodepool: Any,
                hostname: str | None = None) -> dict[str, str]:
    """Labels a node of this type gets. `nodepool` is a name or a NodePool (whose
    template labels are included; well-known labels take precedence)."""
    pool_name = nodepool if isinstance(nodepool, str) else nodepool.name
    labels: dict[str, str] = dict(getattr(nodepool, "labels", None) or {})
    labels.update({
        INSTANCE_TYPE: it.name,
        INSTANCE_TYPE_BETA: it.name,
        ZONE: zone,
        REGION: region,
        ARCH: it.architecture,
        OS: "linux",
        CAPACITY_TYPE: capacity_type,
        KARPENTER_CAPACITY_TYPE: capacity_type,
        NODEPOOL: pool_name,
        KARPENTER_NODEPOOL: pool_name,
    })
    for key, value in instance_labels(it).items():
        for prefix in INSTANCE_PREFIXES:
            labels[prefix + key] = value
    if hostname:
        labels[HOSTNAME] = hostname
    return labels
