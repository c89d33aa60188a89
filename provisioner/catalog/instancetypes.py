"""EC2 instance types as typed, immutable values built from DescribeInstanceTypes items."""

from __future__ import annotations

import re
from dataclasses import dataclass

_ARCH = {"x86_64": "amd64", "arm64": "arm64", "x86_64_mac": "amd64", "arm64_mac": "arm64"}


@dataclass(frozen=True, slots=True)
class InstanceType:
    name: str
    family: str
    category: str
    generation: int
    size: str
    vcpu: int
    memory_mib: int
    architecture: str  # "amd64" | "arm64"
    cpu_manufacturer: str = ""
    gpu_count: int = 0
    gpu_name: str = ""
    gpu_manufacturer: str = ""
    gpu_memory_mib: int = 0
    accelerator_count: int = 0  # Inferentia / Trainium devices (aws.amazon.com/neuron)
    accelerator_name: str = ""
    accelerator_manufacturer: str = ""
    max_enis: int = 1
    ipv4_per_eni: int = 1
    burstable: bool = False
    bare_metal: bool = False
    hypervisor: str = ""
    local_storage_gb: int = 0
    local_nvme: bool = False
    network_bandwidth_mbps: int = 0
    encryption_in_transit: bool = False
    efa: bool = False
    current_generation: bool = True
    usage_classes: tuple[str, ...] = ("on-demand", "spot")
    mac: bool = False

    @property
    def has_accelerator(self) -> bool:
        return self.gpu_count > 0 or self.accelerator_count > 0


def split_name(name: str) -> tuple[str, str, int, str]:
    """("m5d.large") -> family "m5d", category "m", generation 5, size "large"."""
    family, _, size = name.partition(".")
    head = family.split("-")[0] if family.startswith("u-") else family
    m = re.match(r"^([a-z]+)(\d*)", head)
    category = m.group(1) if m else family
    digits = m.group(2) if m else ""
    if family.startswith("u-"):
        category, digits = "u", re.sub(r"\D", "", family.split("-", 1)[1])[-1:] or "1"
    return family, category, int(digits) if digits else 0, size


def _network_mbps(item: dict) -> int:
    cards = item.get("NetworkInfo", {}).get("NetworkCards") or []
    gbps = sum(float(c.get("BaselineBandwidthInGbps", c.get("PeakBandwidthInGbps", 0)) or 0) for c in cards)
    return int(round(gbps * 1000))


def from_ec2(item: dict) -> InstanceType:
    """Build an InstanceType from one DescribeInstanceTypes `InstanceTypes[]` item."""
    name = item["InstanceType"]
    family, category, generation, size = split_name(name)
    proc = item.get("ProcessorInfo", {})
    archs = proc.get("SupportedArchitectures") or ["x86_64"]
    arch = "arm64" if any(a.startswith("arm64") for a in archs) else "amd64"
    gpus = (item.get("GpuInfo") or {}).get("Gpus") or []
    accels = ((item.get("InferenceAcceleratorInfo") or {}).get("Accelerators") or []) + \
             ((item.get("NeuronInfo") or {}).get("NeuronDevices") or [])
    net = item.get("NetworkInfo", {})
    storage = item.get("InstanceStorageInfo") or {}
    return InstanceType(
        name=name,
        family=family,
        category=category,
        generation=generation,
        size=size,
        vcpu=int(item.get("VCpuInfo", {}).get("DefaultVCpus", 0)),
        memory_mib=int(item.get("MemoryInfo", {}).get("SizeInMiB", 0)),
        architecture=arch,
        cpu_manufacturer=str(proc.get("Manufacturer", "")).lower(),
        gpu_count=sum(int(g.get("Count", 0)) for g in gpus),
        gpu_name=str(gpus[0].get("Name", "")).lower() if gpus else "",
        gpu_manufacturer=str(gpus[0].get("Manufacturer", "")).lower() if gpus else "",
        gpu_memory_mib=int((gpus[0].get("MemoryInfo") or {}).get("SizeInMiB", 0)) if gpus else 0,
        accelerator_count=sum(int(a.get("Count", 0)) for a in accels),
        accelerator_name=str(accels[0].get("Name", "")).lower() if accels else "",
        accelerator_manufacturer=str(accels[0].get("Manufacturer", "aws")).lower() if accels else "",
        max_enis=int(net.get("MaximumNetworkInterfaces", 1)),
        ipv4_per_eni=int(net.get("Ipv4AddressesPerInterface", 1)),
        burstable=bool(item.get("BurstablePerformanceSupported", False)) or category == "t",
        bare_metal=bool(item.get("BareMetal", False)),
        hypervisor=str(item.get("Hypervisor", "")),
        local_storage_gb=int(storage.get("TotalSizeInGB", 0)),
        local_nvme=str(storage.get("NvmeSupport", "unsupported")) in ("required", "supported") and bool(storage),
        network_bandwidth_mbps=_network_mbps(item),
        encryption_in_transit=bool(net.get("EncryptionInTransitSupported", False)),
        efa=bool(net.get("EfaSupported", False)),
        current_generation=bool(item.get("CurrentGeneration", True)),
        usage_classes=tuple(u for u in item.get("SupportedUsageClasses", ["on-demand", "spot"])
                            if u in ("on-demand", "spot")),
        mac=any(a.endswith("_mac") for a in archs) or category == "mac",
    )
