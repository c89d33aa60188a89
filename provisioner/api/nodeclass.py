"""NodeClass (provisioner.sh/v1; Karpenter's EC2NodeClass): its schema, and conversion between
manifest and dataclass."""

from __future__ import annotations

from typing import Any

from provisioner.api import patterns as P
from provisioner.api.schema import Rule, Schema, arr, boolean, enum, integer, obj, string, string_map
from provisioner.api.types import (API_VERSION, NODECLASS_KIND, AmiSelectorTerm, BlockDeviceMapping,
                                   EbsSettings, KubeletConfig, MetadataOptions, NodeClass,
                                   SecurityGroupSelectorTerm, SubnetSelectorTerm)

AMI_FAMILIES = ("AL2023", "AL2", "Bottlerocket", "Windows2019", "Windows2022", "Custom")
VOLUME_TYPES = ("standard", "io1", "io2", "gp2", "sc1", "st1", "gp3")
RESERVED_RESOURCES = ("cpu", "memory", "ephemeral-storage", "pid")
EVICTION_SIGNALS = ("memory.available", "nodefs.available", "nodefs.inodesFree", "imagefs.available",
                    "imagefs.inodesFree", "pid.available")
# Tags the fleet program writes itself (docs/conventions.md) or that Karpenter/EKS/AWS reserve.
RESERVED_TAG_PREFIXES = ("provisioner.sh/", "kubernetes.io/cluster/", "aws:")
RESERVED_TAGS = ("karpenter.sh/nodepool", "karpenter.sh/nodeclaim", "karpenter.k8s.aws/ec2nodeclass",
                 "eks:eks-cluster-name")

_QUANTITY = "a quantity such as 100, 500m, 20Gi"


def _cel_in(values: tuple[str, ...]) -> str:
    return "[" + ", ".join(f"'{v}'" for v in values) + "]"


def _keys_in(allowed: tuple[str, ...]) -> Rule:
    message = f"key must be one of {', '.join(allowed)}"
    return Rule(f"self.all(k, k in {_cel_in(allowed)})", message,
                lambda v: {k: message for k in v if k not in allowed} or True)


def _tag_map(**extra: Any) -> Schema:
    return string_map(maxProperties=50, rules=(
        Rule("self.all(k, k != '' && self[k] != '')", "tag keys and values must not be empty",
             lambda v: {k: "tag keys and values must not be empty" for k, val in v.items() if not (k and val)}
             or True),
    ), **extra)


def _at_least_one(fields: tuple[str, ...]) -> Rule:
    names = ", ".join(fields)
    return Rule(" || ".join(f"has(self.{f})" for f in fields), f"expected at least one of {names}",
                lambda v: any(f in v for f in fields))


def _exclusive(field: str, others: tuple[str, ...]) -> Rule:
    return Rule(f"!has(self.{field}) || !({' || '.join(f'has(self.{o})' for o in others)})",
                f"{field} cannot be combined with other fields in the same term",
                lambda v: field not in v or not any(o in v for o in others))


def _reserved() -> Schema:
    return string_map(string(P.QUANTITY, _QUANTITY), rules=(_keys_in(RESERVED_RESOURCES),))


def _eviction(values: Schema) -> Schema:
    return string_map(values, rules=(_keys_in(EVICTION_SIGNALS),))


def _kubelet() -> Schema:
    pct_qty = string(P.PERCENT_OR_QUANTITY, "a percentage such as 10% or a quantity such as 100Mi")
    return obj({
        "maxPods": integer(minimum=0),
        "podsPerCore": integer(minimum=0),
        "kubeReserved": _reserved(),
        "systemReserved": _reserved(),
        "evictionHard": _eviction(pct_qty),
        "evictionSoft": _eviction(pct_qty),
        "evictionSoftGracePeriod": _eviction(string(P.DURATION, "a duration such as 30s, 5m or 1h30m")),
        "evictionMaxPodGracePeriod": integer(minimum=0),
        "imageGCHighThresholdPercent": integer(minimum=0, maximum=100),
        "imageGCLowThresholdPercent": integer(minimum=0, maximum=100),
        "cpuCFSQuota": boolean(),
        "clusterDNS": arr(string(), maxItems=3),
    }, rules=(
        Rule("!has(self.evictionSoft) || self.evictionSoft.all(k, has(self.evictionSoftGracePeriod) "
             "&& k in self.evictionSoftGracePeriod)",
             "every evictionSoft signal needs an evictionSoftGracePeriod",
             lambda v: all(k in v.get("evictionSoftGracePeriod", {}) for k in v.get("evictionSoft", {}))),
        Rule("!has(self.imageGCHighThresholdPercent) || !has(self.imageGCLowThresholdPercent) || "
             "self.imageGCHighThresholdPercent > self.imageGCLowThresholdPercent",
             "imageGCHighThresholdPercent must be greater than imageGCLowThresholdPercent",
             lambda v: "imageGCHighThresholdPercent" not in v or "imageGCLowThresholdPercent" not in v
             or v["imageGCHighThresholdPercent"] > v["imageGCLowThresholdPercent"]),
    ))


def _block_device_mapping() -> Schema:
    ebs = obj({
        "volumeSize": string(P.QUANTITY, _QUANTITY),
        "volumeType": enum(*VOLUME_TYPES),
        "iops": integer(minimum=0),
        "throughput": integer(minimum=0),
        "encrypted": boolean(),
        "kmsKeyID": string(),
        "deleteOnTermination": boolean(),
        "snapshotID": string(P.SNAPSHOT_ID, "a snapshot id such as snap-0123456789abcdef0"),
    }, rules=(
        Rule("has(self.volumeSize) || has(self.snapshotID)", "needs volumeSize or snapshotID",
             lambda v: "volumeSize" in v or "snapshotID" in v),
        Rule("!has(self.iops) || (has(self.volumeType) && self.volumeType in ['io1', 'io2', 'gp3'])",
             "iops is only for volumeType io1, io2 or gp3",
             lambda v: "iops" not in v or v.get("volumeType") in ("io1", "io2", "gp3")),
        Rule("!has(self.throughput) || (has(self.volumeType) && self.volumeType == 'gp3')",
             "throughput is only for volumeType gp3",
             lambda v: "throughput" not in v or v.get("volumeType") == "gp3"),
    ))
    return obj({"deviceName": string(minLength=1, maxLength=64), "rootVolume": boolean(), "ebs": ebs},
               required=("deviceName", "ebs"))


def spec_schema() -> Schema:
    ami_term = obj({
        "alias": string(P.AMI_ALIAS, "an alias such as al2023@latest or bottlerocket@v1.20.3", maxLength=30),
        "id": string(P.AMI_ID, "an AMI id such as ami-0123456789abcdef0"),
        "name": string(minLength=1),
        "owner": string(minLength=1),
        "tags": _tag_map(),
    }, rules=(
        _at_least_one(("alias", "id", "name", "tags")),
        _exclusive("alias", ("id", "name", "owner", "tags")),
        _exclusive("id", ("alias", "name", "owner", "tags")),
    ))
    subnet_term = obj({
        "id": string(P.SUBNET_ID, "a subnet id such as subnet-0123456789abcdef0"),
        "tags": _tag_map(),
    }, rules=(_at_least_one(("id", "tags")), _exclusive("id", ("tags",))))
    sg_term = obj({
        "id": string(P.SECURITY_GROUP_ID, "a security group id such as sg-0123456789abcdef0"),
        "name": string(minLength=1),
        "tags": _tag_map(),
    }, rules=(_at_least_one(("id", "name", "tags")), _exclusive("id", ("name", "tags")),
              _exclusive("name", ("id", "tags"))))
    tags = _tag_map()
    tags["x-kubernetes-validations"].append(Rule(
        "self.all(k, " + " && ".join([f"!k.startsWith('{p}')" for p in RESERVED_TAG_PREFIXES]
                                     + [f"k != '{t}'" for t in RESERVED_TAGS]) + ")",
        "tag keys under provisioner.sh/, kubernetes.io/cluster/ and aws:, and Karpenter's own, are reserved",
        lambda v: {k: "tag key is reserved" for k in v if k.startswith(RESERVED_TAG_PREFIXES) or k in RESERVED_TAGS}
        or True))
    return obj({
        "amiFamily": enum(*AMI_FAMILIES),
        "amiSelectorTerms": arr(ami_term, minItems=1, maxItems=30, rules=(
            Rule("!self.exists(x, has(x.alias)) || self.size() == 1",
                 "a term with an alias must be the only term",
                 lambda v: not any("alias" in t for t in v) or len(v) == 1),
        )),
        "subnetSelectorTerms": arr(subnet_term, minItems=1, maxItems=30),
        "securityGroupSelectorTerms": arr(sg_term, minItems=1, maxItems=30),
        "role": string(minLength=1, maxLength=64),
        "instanceProfile": string(minLength=1, maxLength=128),
        "userData": string(),
        "blockDeviceMappings": arr(_block_device_mapping(), maxItems=50, rules=(
            Rule("self.filter(x, has(x.rootVolume) && x.rootVolume).size() <= 1",
                 "at most one mapping may be the rootVolume",
                 lambda v: sum(1 for m in v if m.get("rootVolume")) <= 1),
        )),
        "metadataOptions": obj({
            "httpEndpoint": enum("enabled", "disabled", default="enabled"),
            "httpProtocolIPv6": enum("enabled", "disabled", default="disabled"),
            "httpPutResponseHopLimit": integer(minimum=1, maximum=64, default=1),
            "httpTokens": enum("required", "optional", default="required"),
        }, default={"httpEndpoint": "enabled", "httpProtocolIPv6": "disabled",
                    "httpPutResponseHopLimit": 1, "httpTokens": "required"}),
        "tags": tags,
        "kubelet": _kubelet(),
        "associatePublicIPAddress": boolean(default=False),
        "detailedMonitoring": boolean(default=False),
    }, required=("amiSelectorTerms", "subnetSelectorTerms", "securityGroupSelectorTerms"), rules=(
        Rule("has(self.role) != has(self.instanceProfile)", "exactly one of role and instanceProfile must be set",
             lambda v: ("role" in v) != ("instanceProfile" in v)),
        Rule("has(self.amiFamily) || self.amiSelectorTerms.exists(x, has(x.alias))",
             "amiFamily is required unless amiSelectorTerms uses an alias",
             lambda v: "amiFamily" in v or any("alias" in t for t in v["amiSelectorTerms"])),
        Rule("!has(self.amiFamily) || self.amiSelectorTerms.all(x, !has(x.alias) || "
             "x.alias.find('^[^@]+').lowerAscii() == self.amiFamily.lowerAscii())",
             "amiFamily must match the family of the alias",
             lambda v: "amiFamily" not in v or all(
                 t["alias"].split("@")[0] == v["amiFamily"].lower() for t in v["amiSelectorTerms"] if "alias" in t)
             or f"amiFamily {v['amiFamily']} does not match the alias "
                f"{next(t['alias'] for t in v['amiSelectorTerms'] if 'alias' in t)}"),
    ))


def status_schema() -> Schema:
    condition = obj({
        "type": string(), "status": enum("True", "False", "Unknown"), "reason": string(),
        "message": string(), "lastTransitionTime": string(format="date-time"),
        "observedGeneration": integer(minimum=0),
    }, required=("type", "status"))
    resolved = arr({"type": "object", "x-kubernetes-preserve-unknown-fields": True})
    return obj({
        "conditions": arr(condition, **{"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]}),
        "amis": resolved, "subnets": resolved, "securityGroups": resolved,
        "instanceProfile": string(),
    })


_FAMILY_OF_ALIAS = {f.lower(): f for f in AMI_FAMILIES}


def from_spec(name: str, spec: dict[str, Any]) -> NodeClass:
    """Build the dataclass from a validated, defaulted spec."""
    amis = tuple(AmiSelectorTerm(alias=t.get("alias"), id=t.get("id"), name=t.get("name"), owner=t.get("owner"),
                                 tags=dict(t.get("tags", {}))) for t in spec["amiSelectorTerms"])
    family = spec.get("amiFamily") or next(
        (_FAMILY_OF_ALIAS[t.alias.split("@")[0]] for t in amis if t.alias), None)
    mo = spec["metadataOptions"]
    k = spec.get("kubelet")
    return NodeClass(
        name=name,
        ami_family=family,
        ami_selector_terms=amis,
        subnet_selector_terms=tuple(SubnetSelectorTerm(id=t.get("id"), tags=dict(t.get("tags", {})))
                                    for t in spec["subnetSelectorTerms"]),
        security_group_selector_terms=tuple(
            SecurityGroupSelectorTerm(id=t.get("id"), name=t.get("name"), tags=dict(t.get("tags", {})))
            for t in spec["securityGroupSelectorTerms"]),
        role=spec.get("role"),
        instance_profile=spec.get("instanceProfile"),
        user_data=spec.get("userData"),
        block_device_mappings=tuple(
            BlockDeviceMapping(device_name=m["deviceName"], root_volume=m.get("rootVolume", False),
                               ebs=EbsSettings(**{py: m["ebs"].get(js) for py, js in _EBS_FIELDS}))
            for m in spec.get("blockDeviceMappings", ())),
        metadata_options=MetadataOptions(
            http_endpoint=mo["httpEndpoint"], http_protocol_ipv6=mo["httpProtocolIPv6"],
            http_put_response_hop_limit=mo["httpPutResponseHopLimit"], http_tokens=mo["httpTokens"]),
        tags=dict(spec.get("tags", {})),
        kubelet=None if k is None else KubeletConfig(
            max_pods=k.get("maxPods"), pods_per_core=k.get("podsPerCore"),
            kube_reserved=dict(k.get("kubeReserved", {})), system_reserved=dict(k.get("systemReserved", {})),
            eviction_hard=dict(k.get("evictionHard", {})), eviction_soft=dict(k.get("evictionSoft", {})),
            cluster_dns=tuple(k.get("clusterDNS", ())),
            eviction_soft_grace_period={s: P.parse_duration(d) for s, d in k.get("evictionSoftGracePeriod", {}).items()},
            eviction_max_pod_grace_period=k.get("evictionMaxPodGracePeriod"),
            image_gc_high_threshold_percent=k.get("imageGCHighThresholdPercent"),
            image_gc_low_threshold_percent=k.get("imageGCLowThresholdPercent"),
            cpu_cfs_quota=k.get("cpuCFSQuota")),
        associate_public_ip_address=spec["associatePublicIPAddress"],
        detailed_monitoring=spec["detailedMonitoring"],
    )


_EBS_FIELDS = (("volume_size", "volumeSize"), ("volume_type", "volumeType"), ("iops", "iops"),
               ("throughput", "throughput"), ("encrypted", "encrypted"), ("kms_key_id", "kmsKeyID"),
               ("delete_on_termination", "deleteOnTermination"), ("snapshot_id", "snapshotID"))


def _term(**fields: Any) -> dict[str, Any]:
    return {k: (dict(v) if isinstance(v, dict) else v) for k, v in fields.items() if v not in (None, {})}


def _kubelet_to(k: KubeletConfig) -> dict[str, Any]:
    out = _term(maxPods=k.max_pods, podsPerCore=k.pods_per_core, kubeReserved=k.kube_reserved,
                systemReserved=k.system_reserved, evictionHard=k.eviction_hard, evictionSoft=k.eviction_soft,
                evictionSoftGracePeriod={s: P.format_duration(d) for s, d in k.eviction_soft_grace_period.items()},
                evictionMaxPodGracePeriod=k.eviction_max_pod_grace_period,
                imageGCHighThresholdPercent=k.image_gc_high_threshold_percent,
                imageGCLowThresholdPercent=k.image_gc_low_threshold_percent, cpuCFSQuota=k.cpu_cfs_quota)
    if k.cluster_dns:
        out["clusterDNS"] = list(k.cluster_dns)
    return out


def to_manifest(nc: NodeClass) -> dict[str, Any]:
    """The provisioner.sh/v1 manifest, with every defaulted field written out."""
    mo = nc.metadata_options
    spec: dict[str, Any] = _term(amiFamily=nc.ami_family, role=nc.role, instanceProfile=nc.instance_profile,
                                 userData=nc.user_data)
    spec["amiSelectorTerms"] = [_term(alias=t.alias, id=t.id, name=t.name, owner=t.owner, tags=t.tags)
                                for t in nc.ami_selector_terms]
    spec["subnetSelectorTerms"] = [_term(id=t.id, tags=t.tags) for t in nc.subnet_selector_terms]
    spec["securityGroupSelectorTerms"] = [_term(id=t.id, name=t.name, tags=t.tags)
                                          for t in nc.security_group_selector_terms]
    if nc.block_device_mappings:
        spec["blockDeviceMappings"] = [
            {"deviceName": m.device_name, **({"rootVolume": True} if m.root_volume else {}),
             "ebs": _term(**{js: getattr(m.ebs, py) for py, js in _EBS_FIELDS})}
            for m in nc.block_device_mappings]
    spec["metadataOptions"] = {"httpEndpoint": mo.http_endpoint, "httpProtocolIPv6": mo.http_protocol_ipv6,
                               "httpPutResponseHopLimit": mo.http_put_response_hop_limit,
                               "httpTokens": mo.http_tokens}
    if nc.tags:
        spec["tags"] = dict(nc.tags)
    if nc.kubelet is not None:
        spec["kubelet"] = _kubelet_to(nc.kubelet)
    spec["associatePublicIPAddress"] = nc.associate_public_ip_address
    spec["detailedMonitoring"] = nc.detailed_monitoring
    return {"apiVersion": API_VERSION, "kind": NODECLASS_KIND, "metadata": {"name": nc.name}, "spec": spec}
