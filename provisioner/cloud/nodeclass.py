"""Resolve a NodeClass's selectors (AMI alias/id/name/tags, subnets, security groups) against
the EC2 API into the `NodeClassSettings` of the desired node set.

The alias `al2023@latest` is resolved by image name (`al2023-ami-2023.*`, newest per
architecture) rather than through SSM public parameters: the local EC2 has no SSM, and the
name pattern gives the same image on AWS.
"""

from __future__ import annotations

from typing import Any

from provisioner.api import NodeClass
from provisioner.catalog.resources import parse_bytes
from provisioner.fleet.desired import BlockDevice, MetadataOptions, NodeClassSettings

ARCH_FROM_EC2 = {"x86_64": "amd64", "arm64": "arm64"}
ALIAS_NAMES = {"al2023": "al2023-ami-2023.*", "al2": "amzn2-ami-*", "bottlerocket": "bottlerocket-aws-k8s-*"}
GIB = 2**30


class NodeClassError(RuntimeError):
    """A NodeClass whose selectors match nothing usable (said in words)."""


def _tag_filters(tags: dict[str, str]) -> list[dict]:
    out = []
    for k, v in sorted(tags.items()):
        out.append({"Name": f"tag:{k}", "Values": [v]} if v != "*" else {"Name": "tag-key", "Values": [k]})
    return out


def resolve_amis(nc: NodeClass, ec2: Any) -> dict[str, str]:
    """architecture -> newest matching AMI id, over every selector term."""
    images: list[dict] = []
    for term in nc.ami_selector_terms:
        if term.id:
            images += ec2.describe_images(ImageIds=[term.id])["Images"]
            continue
        filters, owners = [], []
        if term.alias:
            family, _, _version = term.alias.partition("@")
            filters.append({"Name": "name", "Values": [ALIAS_NAMES.get(family, f"{family}*")]})
            owners = ["amazon"]
        if term.name:
            filters.append({"Name": "name", "Values": [term.name]})
        if term.owner:
            owners = [term.owner]
        filters += _tag_filters(term.tags)
        kwargs = {"Filters": filters}
        if owners:
            kwargs["Owners"] = owners
        images += ec2.describe_images(**kwargs)["Images"]
    best: dict[str, dict] = {}
    for img in images:
        arch = ARCH_FROM_EC2.get(img.get("Architecture", ""))
        if arch is None or "minimal" in img.get("Name", "") or img.get("Platform"):
            continue
        rank = (img.get("CreationDate", ""), img.get("Name", ""), img["ImageId"])
        if arch not in best or rank > (best[arch].get("CreationDate", ""), best[arch].get("Name", ""),
                                       best[arch]["ImageId"]):
            best[arch] = img
    if not best:
        raise NodeClassError(f"NodeClass {nc.name}: amiSelectorTerms match no image")
    return {arch: img["ImageId"] for arch, img in sorted(best.items())}


def resolve_subnets(nc: NodeClass, ec2: Any) -> dict[str, str]:
    """zone -> subnet id (the one with the most free addresses when a zone has several)."""
    found: dict[str, dict] = {}
    for term in nc.subnet_selector_terms:
        subnets = (ec2.describe_subnets(SubnetIds=[term.id]) if term.id
                   else ec2.describe_subnets(Filters=_tag_filters(term.tags)))["Subnets"]
        for s in subnets:
            found[s["SubnetId"]] = s
    by_zone: dict[str, dict] = {}
    for s in sorted(found.values(), key=lambda s: s["SubnetId"]):
        zone = s["AvailabilityZone"]
        if zone not in by_zone or s.get("AvailableIpAddressCount", 0) > by_zone[zone].get("AvailableIpAddressCount", 0):
            by_zone[zone] = s
    if not by_zone:
        raise NodeClassError(f"NodeClass {nc.name}: subnetSelectorTerms match no subnet")
    return {z: s["SubnetId"] for z, s in sorted(by_zone.items())}


def resolve_security_groups(nc: NodeClass, ec2: Any) -> tuple[str, ...]:
    ids: set[str] = set()
    for term in nc.security_group_selector_terms:
        if term.id:
            groups = ec2.describe_security_groups(GroupIds=[term.id])["SecurityGroups"]
        else:
            filters = _tag_filters(term.tags)
            if term.name:
                filters.append({"Name": "group-name", "Values": [term.name]})
            groups = ec2.describe_security_groups(Filters=filters)["SecurityGroups"]
        ids.update(g["GroupId"] for g in groups)
    if not ids:
        raise NodeClassError(f"NodeClass {nc.name}: securityGroupSelectorTerms match no security group")
    return tuple(sorted(ids))


def block_devices(nc: NodeClass) -> tuple[BlockDevice, ...]:
    out = []
    for m in nc.block_device_mappings:
        e = m.ebs
        out.append(BlockDevice(
            device_name=m.device_name or "/dev/xvda",
            volume_size_gib=max(1, parse_bytes(e.volume_size) // GIB) if e.volume_size else 20,
            volume_type=e.volume_type or "gp3",
            encrypted=True if e.encrypted is None else e.encrypted,
            delete_on_termination=True if e.delete_on_termination is None else e.delete_on_termination,
            iops=e.iops, throughput=e.throughput, kms_key_id=e.kms_key_id))
    return tuple(out) or (BlockDevice(),)


def kubelet_user_data(nc: NodeClass) -> str:
    """The NodeClass's user data, with its kubelet settings as a NodeConfig the node registration reads."""
    if nc.user_data or nc.kubelet is None:
        return nc.user_data or ""
    k = nc.kubelet
    config = {key: val for key, val in (("maxPods", k.max_pods), ("podsPerCore", k.pods_per_core),
                                        ("kubeReserved", dict(k.kube_reserved) or None),
                                        ("systemReserved", dict(k.system_reserved) or None),
                                        ("evictionHard", dict(k.eviction_hard) or None)) if val}
    if not config:
        return ""
    import yaml

    return yaml.safe_dump({"apiVersion": "node.eks.aws/v1alpha1", "kind": "NodeConfig",
                           "spec": {"kubelet": {"config": config}}}, sort_keys=True)


def resolve(nc: NodeClass, ec2: Any) -> NodeClassSettings:
    mo = nc.metadata_options
    return NodeClassSettings(
        name=nc.name,
        amis=resolve_amis(nc, ec2),
        subnets=resolve_subnets(nc, ec2),
        security_group_ids=resolve_security_groups(nc, ec2),
        # A `role` needs an instance profile created through IAM, which the local cloud does not
        # serve; only an explicit instanceProfile reaches the launch template.
        instance_profile=nc.instance_profile,
        user_data=kubelet_user_data(nc),
        block_devices=block_devices(nc),
        metadata_options=MetadataOptions(http_tokens=mo.http_tokens,
                                         http_put_response_hop_limit=mo.http_put_response_hop_limit,
                                         http_endpoint=mo.http_endpoint),
        associate_public_ip_address=nc.associate_public_ip_address,
        tags=dict(nc.tags),
    )


def tag_for_discovery(ec2: Any, resource_ids: list[str], key: str, value: str) -> None:
    """Local mode: put the discovery tag the sample NodeClass selects on the seed's subnets and SGs."""
    ec2.create_tags(Resources=resource_ids, Tags=[{"Key": key, "Value": value}])
