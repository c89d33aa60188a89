"""Typed, immutable views of the NodePool and NodeClass custom resources (provisioner.sh/v1).

Objects are built only by the loader (`provisioner.api.loader`), after validation and
defaulting, so every field here holds a checked, defaulted value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

GROUP = "provisioner.sh"
VERSION = "v1"
API_VERSION = f"{GROUP}/{VERSION}"
NODEPOOL_KIND = "NodePool"
NODECLASS_KIND = "NodeClass"


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: str  # In, NotIn, Exists, DoesNotExist, Gt, Lt
    values: tuple[str, ...] = ()
    min_values: int | None = None


@dataclass(frozen=True)
class Taint:
    key: str
    value: str = ""
    effect: str = "NoSchedule"  # NoSchedule, PreferNoSchedule, NoExecute


@dataclass(frozen=True)
class Budget:
    nodes: str = "10%"  # "10%" or "5"
    schedule: str | None = None  # cron; when set, the budget is active for `duration` after each tick
    duration: timedelta | None = None
    reasons: tuple[str, ...] = ()  # empty: applies to every reason


@dataclass(frozen=True)
class Disruption:
    consolidation_policy: str = "WhenEmptyOrUnderutilized"
    consolidate_after: timedelta | None = timedelta(minutes=5)  # None means Never
    budgets: tuple[Budget, ...] = (Budget(),)


@dataclass(frozen=True)
class NodePool:
    name: str
    weight: int = 0  # 0 = unset (lowest priority); 1-100 when set
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    requirements: tuple[Requirement, ...] = ()
    taints: tuple[Taint, ...] = ()
    startup_taints: tuple[Taint, ...] = ()
    limits: dict[str, str] = field(default_factory=dict)
    # Name of a NodeClass. Always set by the loader; the default only eases hand-built test objects.
    node_class_ref: str = "default"
    expire_after: timedelta | None = timedelta(hours=720)  # None means Never
    termination_grace_period: timedelta | None = None  # None: wait for pods indefinitely
    disruption: Disruption = Disruption()

    def __hash__(self) -> int:  # dict fields are not hashable; names are unique per cluster
        return hash((NODEPOOL_KIND, self.name))


@dataclass(frozen=True)
class AmiSelectorTerm:
    alias: str | None = None  # e.g. al2023@latest
    id: str | None = None
    name: str | None = None
    owner: str | None = None
    tags: dict[str, str] = field(default_factory=dict)

    def __hash__(self) -> int:
        return hash((self.alias, self.id, self.name, self.owner, tuple(sorted(self.tags.items()))))


@dataclass(frozen=True)
class SubnetSelectorTerm:
    id: str | None = None
    tags: dict[str, str] = field(default_factory=dict)

    def __hash__(self) -> int:
        return hash((self.id, tuple(sorted(self.tags.items()))))


@dataclass(frozen=True)
class SecurityGroupSelectorTerm:
    id: str | None = None
    name: str | None = None
    tags: dict[str, str] = field(default_factory=dict)

    def __hash__(self) -> int:
        return hash((self.id, self.name, tuple(sorted(self.tags.items()))))


@dataclass(frozen=True)
class EbsSettings:
    volume_size: str | None = None  # quantity, e.g. "20Gi"
    volume_type: str | None = None
    iops: int | None = None
    throughput: int | None = None
    encrypted: bool | None = None
    kms_key_id: str | None = None
    delete_on_termination: bool | None = None
    snapshot_id: str | None = None


@dataclass(frozen=True)
class BlockDeviceMapping:
    device_name: str | None = None
    root_volume: bool = False
    ebs: EbsSettings = EbsSettings()


@dataclass(frozen=True)
class MetadataOptions:
    http_endpoint: str = "enabled"
    http_protocol_ipv6: str = "disabled"
    http_put_response_hop_limit: int = 1
    http_tokens: str = "required"


@dataclass(frozen=True)
class KubeletConfig:
    max_pods: int | None = None
    pods_per_core: int | None = None
    kube_reserved: dict[str, str] = field(default_factory=dict)
    system_reserved: dict[str, str] = field(default_factory=dict)
    eviction_hard: dict[str, str] = field(default_factory=dict)
    eviction_soft: dict[str, str] = field(default_factory=dict)
    cluster_dns: tuple[str, ...] = ()
    eviction_soft_grace_period: dict[str, timedelta] = field(default_factory=dict)
    eviction_max_pod_grace_period: int | None = None
    image_gc_high_threshold_percent: int | None = None
    image_gc_low_threshold_percent: int | None = None
    cpu_cfs_quota: bool | None = None

    def __hash__(self) -> int:
        return hash((self.max_pods, self.pods_per_core, self.cluster_dns))


@dataclass(frozen=True)
class NodeClass:
    name: str
    ami_family: str | None = None  # the loader fills it in from an alias term when unset
    # The loader guarantees at least one term in each; empty defaults only ease hand-built test objects.
    ami_selector_terms: tuple[AmiSelectorTerm, ...] = ()
    subnet_selector_terms: tuple[SubnetSelectorTerm, ...] = ()
    security_group_selector_terms: tuple[SecurityGroupSelectorTerm, ...] = ()
    role: str | None = None  # exactly one of role / instance_profile
    instance_profile: str | None = None
    user_data: str | None = None
    block_device_mappings: tuple[BlockDeviceMapping, ...] = ()  # empty: the AMI family's default
    metadata_options: MetadataOptions = MetadataOptions()
    tags: dict[str, str] = field(default_factory=dict)
    kubelet: KubeletConfig | None = None
    associate_public_ip_address: bool = False
    detailed_monitoring: bool = False

    def __hash__(self) -> int:
        return hash((NODECLASS_KIND, self.name))
