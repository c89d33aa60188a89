"""Node capacity and allocatable resources: the ONE shared computation.

The scheduling simulation predicts what a node will offer with these functions, and the
local cluster's node registration reports the same numbers, so plans and reality agree.
The figures follow what EKS (AL2023) and Karpenter compute for a node:

* pods: ENI-limited max pods, ``ENIs * (IPv4 addresses per ENI - 1) + 2`` (m5.large 29,
  m5.xlarge 58); a NodeClass ``kubelet.maxPods`` replaces it and ``kubelet.podsPerCore``
  caps it at ``podsPerCore * vCPUs``.
* capacity memory: the nominal MiB minus the 7.5% the hypervisor/firmware keep
  (Karpenter's default VM memory overhead), rounded to whole MiB.
* kube-reserved CPU: 6% of the first core, 1% of the second, 0.5% of cores 3-4,
  0.25% of every core above 4 (the EKS ladder), in millicores rounded up.
* kube-reserved memory: ``11 MiB * max pods + 255 MiB``.
* system-reserved: none unless the NodeClass kubelet says so.
* eviction threshold: ``memory.available`` 100Mi and ``nodefs.available`` 10% of the root
  volume, unless ``kubelet.evictionHard`` overrides them.
* ephemeral-storage capacity: the root volume (default 20Gi).
* accelerators: ``nvidia.com/gpu``, ``amd.com/gpu`` or ``aws.amazon.com/neuron`` devices.

Values given in ``kubeReserved`` / ``systemReserved`` replace the computed defaults
resource by resource.

allocatable = capacity - kube-reserved - system-reserved - eviction threshold.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

from provisioner.catalog.instancetypes import InstanceType
from provisioner.catalog.resources import (
    AMD_GPU, CPU, EPHEMERAL_STORAGE, MEMORY, NEURON, NVIDIA_GPU, PODS, Resources,
    parse_quantity, parse_resource,
)

MIB = 2**20
GIB = 2**30
DEFAULT_ROOT_VOLUME_BYTES = 20 * GIB
VM_MEMORY_OVERHEAD_PERCENT = 0.075
DEFAULT_EVICTION_HARD = {"memory.available": "100Mi", "nodefs.available": "10%"}
# (start core, end core, fraction of each core in [start, end) reserved)
_CPU_LADDER = ((0, 1, 0.06), (1, 2, 0.01), (2, 4, 0.005), (4, math.inf, 0.0025))


def eni_max_pods(it: InstanceType) -> int:
    return max(it.max_enis * (it.ipv4_per_eni - 1) + 2, 1)


def max_pods(it: InstanceType, kubelet: Any | None = None) -> int:
    """Pods the node admits: ENI-limited, or kubelet.maxPods; capped by podsPerCore."""
    pods = eni_max_pods(it)
    if kubelet is not None and getattr(kubelet, "max_pods", None):
        pods = int(kubelet.max_pods)
    if kubelet is not None and getattr(kubelet, "pods_per_core", None):
        pods = min(pods, int(kubelet.pods_per_core) * it.vcpu)
    return pods


def _accelerators(it: InstanceType) -> dict[str, int]:
    out: dict[str, int] = {}
    if it.gpu_count:
        if "nvidia" in it.gpu_manufacturer:
            out[NVIDIA_GPU] = it.gpu_count
        elif "amd" in it.gpu_manufacturer:
            out[AMD_GPU] = it.gpu_count
    if it.accelerator_count and it.accelerator_manufacturer in ("aws", "amazon", "amazon web services"):
        out[NEURON] = it.accelerator_count
    return out


def capacity(it: InstanceType, kubelet: Any | None = None,
             root_volume_bytes: int = DEFAULT_ROOT_VOLUME_BYTES) -> Resources:
    """What the node reports as status.capacity."""
    memory_mib = it.memory_mib - math.ceil(it.memory_mib * VM_MEMORY_OVERHEAD_PERCENT)
    return Resources({
        CPU: it.vcpu * 1000,
        MEMORY: memory_mib * MIB,
        EPHEMERAL_STORAGE: root_volume_bytes,
        PODS: max_pods(it, kubelet),
        **_accelerators(it),
    })


def kube_reserved_cpu_millis(vcpu: int) -> int:
    total = 0.0
    for start, end, fraction in _CPU_LADDER:
        if vcpu > start:
            total += (min(vcpu, end) - start) * 1000 * fraction
    return math.ceil(total - 1e-9)


def kube_reserved(it: InstanceType, kubelet: Any | None = None) -> Resources:
    pods = max_pods(it, kubelet)
    d = {CPU: kube_reserved_cpu_millis(it.vcpu), MEMORY: (11 * pods + 255) * MIB}
    d.update(_parse_list(getattr(kubelet, "kube_reserved", None)))
    return Resources(d)


def system_reserved(kubelet: Any | None = None) -> Resources:
    return Resources(_parse_list(getattr(kubelet, "system_reserved", None)))


def eviction_threshold(cap: Resources, kubelet: Any | None = None) -> Resources:
    signals = dict(DEFAULT_EVICTION_HARD)
    signals.update(getattr(kubelet, "eviction_hard", None) or {})
    return Resources({
        MEMORY: _threshold(signals.get("memory.available"), cap.get(MEMORY)),
        EPHEMERAL_STORAGE: _threshold(signals.get("nodefs.available"), cap.get(EPHEMERAL_STORAGE)),
    })


def allocatable(it: InstanceType, kubelet: Any | None = None,
                root_volume_bytes: int = DEFAULT_ROOT_VOLUME_BYTES) -> Resources:
    """What the node reports as status.allocatable (never negative)."""
    cap = capacity(it, kubelet, root_volume_bytes)
    alloc = cap - kube_reserved(it, kubelet) - system_reserved(kubelet) - eviction_threshold(cap, kubelet)
    return alloc.clamp_nonnegative()


def _threshold(value: str | None, total: int) -> int:
    if not value:
        return 0
    value = str(value).strip()
    if value.endswith("%"):
        return math.ceil(total * float(value[:-1]) / 100)
    return math.ceil(parse_quantity(value))


def _parse_list(values: Mapping[str, str] | None) -> dict[str, int]:
    return {k: parse_resource(k, v) for k, v in (values or {}).items()}
