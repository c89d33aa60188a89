"""Parse and validate a desired node set document, reporting every problem with its field path."""

from __future__ import annotations

import re
from typing import Any, Callable

from provisioner.fleet.desired import (
    API_VERSION, ARCHITECTURES, CAPACITY_TYPES, KIND, NODE_STATES, TAINT_EFFECTS, BlockDevice, DesiredNode,
    DesiredNodeSet, MetadataOptions, NodeClassSettings, Taint,
)

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
# A key of nodeClasses: a NodeClass name, optionally `@version` (e.g. `default@3f2a9c1e`).
SETTINGS_KEY = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?(@[a-z0-9]{1,64})?$")
INSTANCE_TYPE = re.compile(r"^[a-z][a-z0-9-]*\.[a-z0-9-]+$")
ZONE = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d[a-z]$")
REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9]$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$")
AWS_ID = {"ami": re.compile(r"^ami-[0-9a-f]{8,17}$"), "subnet": re.compile(r"^subnet-[0-9a-f]{8,17}$"),
          "sg": re.compile(r"^sg-[0-9a-f]{8,17}$")}
VOLUME_TYPES = ("gp2", "gp3", "io1", "io2", "st1", "sc1", "standard")


class DesiredNodeSetError(ValueError):
    """Every problem found in a desired node set, one per line, each with its field path."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("invalid desired node set:\n  " + "\n  ".join(problems))


class _Checker:
    def __init__(self) -> None:
        self.problems: list[str] = []

    def fail(self, path: str, msg: str) -> None:
        self.problems.append(f"{path}: {msg}")

    def typed(self, obj: Any, path: str, kind: type | tuple[type, ...], required: bool = True, default: Any = None):
        if obj is None:
            if required:
                self.fail(path, "is required")
            return default
        if kind is int and isinstance(obj, bool) or not isinstance(obj, kind):
            names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            self.fail(path, f"must be {_article(names)}, got {type(obj).__name__} {obj!r}")
            return default
        return obj

    def string(self, obj: Any, path: str, pattern: re.Pattern | None = None, what: str = "",
               required: bool = True, default: str | None = None) -> str | None:
        value = self.typed(obj, path, str, required, default)
        if isinstance(value, str) and pattern is not None and not pattern.match(value):
            self.fail(path, f"{value!r} is not a valid {what}")
        return value

    def enum(self, obj: Any, path: str, allowed: tuple[str, ...], default: str | None = None) -> str | None:
        value = self.typed(obj, path, str, default is None, default)
        if isinstance(value, str) and value not in allowed:
            self.fail(path, f"{value!r} is not one of {', '.join(allowed)}")
        return value

    def each(self, obj: Any, path: str, fn: Callable[[Any, str], Any], required: bool = True) -> list:
        items = self.typed(obj, path, list, required, [])
        return [fn(item, f"{path}[{i}]") for i, item in enumerate(items or [])]

    def labels(self, obj: Any, path: str) -> dict[str, str]:
        labels = self.typed(obj, path, dict, False, {}) or {}
        for k, v in labels.items():
            if not isinstance(k, str) or not _valid_label_key(k):
                self.fail(f"{path}[{k!r}]", "is not a valid label key")
            if not isinstance(v, str) or not LABEL_VALUE.match(v):
                self.fail(f"{path}[{k!r}]", f"value {v!r} is not a valid label value")
        return {str(k): str(v) for k, v in labels.items()}

    def unknown(self, obj: dict, path: str, known: set[str]) -> None:
        for key in obj:
            if key not in known:
                self.fail(f"{path}.{key}" if path else key, "unknown field")


def parse(data: Any) -> DesiredNodeSet:
    """Build a DesiredNodeSet from its dict form, or raise DesiredNodeSetError listing every problem."""
    c = _Checker()
    if not isinstance(data, dict):
        raise DesiredNodeSetError([f"document: must be a mapping, got {type(data).__name__}"])
    c.unknown(data, "", {"apiVersion", "kind", "cluster", "region", "nodeClasses", "nodes"})
    if data.get("apiVersion") != API_VERSION:
        c.fail("apiVersion", f"must be {API_VERSION!r}, got {data.get('apiVersion')!r}")
    if data.get("kind") != KIND:
        c.fail("kind", f"must be {KIND!r}, got {data.get('kind')!r}")
    cluster = c.string(data.get("cluster"), "cluster", DNS_LABEL, "cluster name (DNS label)")
    region = c.string(data.get("region"), "region", REGION, "AWS region")
    classes_raw = c.typed(data.get("nodeClasses"), "nodeClasses", dict, True, {}) or {}
    classes = {name: _node_class(c, name, raw, f"nodeClasses.{name}") for name, raw in classes_raw.items()}
    nodes = c.each(data.get("nodes"), "nodes", lambda raw, p: _node(c, raw, p, classes), required=False)
    seen: dict[str, int] = {}
    for i, node in enumerate(nodes):
        if node is None:
            continue
        if node.name in seen:
            c.fail(f"nodes[{i}].name", f"duplicate node name {node.name!r} (also nodes[{seen[node.name]}])")
        seen.setdefault(node.name, i)
    if c.problems:
        raise DesiredNodeSetError(c.problems)
    return DesiredNodeSet(cluster=cluster, region=region, node_classes=classes, nodes=tuple(nodes))


def _node_class(c: _Checker, name: Any, raw: Any, path: str) -> NodeClassSettings | None:
    if not isinstance(name, str) or not SETTINGS_KEY.match(name):
        c.fail(path, f"node class key {name!r} is not a NodeClass name (DNS subdomain), optionally followed by "
                     "@ and a version")
    raw = c.typed(raw, path, dict, True, None)
    if raw is None:
        return None
    c.unknown(raw, path, {"amis", "subnets", "securityGroupIds", "instanceProfile", "userData", "blockDevices",
                          "metadataOptions", "associatePublicIpAddress", "tags"})
    amis = c.typed(raw.get("amis"), f"{path}.amis", dict, True, {}) or {}
    if not amis and isinstance(raw.get("amis"), dict):
        c.fail(f"{path}.amis", "needs at least one architecture")
    for arch, ami in amis.items():
        if arch not in ARCHITECTURES:
            c.fail(f"{path}.amis.{arch}", f"architecture {arch!r} is not one of {', '.join(ARCHITECTURES)}")
        c.string(ami, f"{path}.amis.{arch}", AWS_ID["ami"], "AMI id (ami-...)")
    subnets = c.typed(raw.get("subnets"), f"{path}.subnets", dict, True, {}) or {}
    if not subnets and isinstance(raw.get("subnets"), dict):
        c.fail(f"{path}.subnets", "needs at least one zone")
    for zone, subnet in subnets.items():
        c.string(zone, f"{path}.subnets.{zone}", ZONE, "availability zone")
        c.string(subnet, f"{path}.subnets.{zone}", AWS_ID["subnet"], "subnet id (subnet-...)")
    sgs = c.each(raw.get("securityGroupIds"), f"{path}.securityGroupIds",
                 lambda v, p: c.string(v, p, AWS_ID["sg"], "security group id (sg-...)"), required=False)
    profile = c.string(raw.get("instanceProfile"), f"{path}.instanceProfile", required=False)
    user_data = c.string(raw.get("userData"), f"{path}.userData", required=False, default="")
    devices = c.each(raw.get("blockDevices"), f"{path}.blockDevices", lambda v, p: _block_device(c, v, p),
                     required=False) if "blockDevices" in raw else [BlockDevice()]
    if not devices and "blockDevices" in raw and isinstance(raw["blockDevices"], list):
        c.fail(f"{path}.blockDevices", "needs a root volume")
    meta = _metadata(c, raw.get("metadataOptions"), f"{path}.metadataOptions")
    public_ip = c.typed(raw.get("associatePublicIpAddress"), f"{path}.associatePublicIpAddress", bool, False, False)
    tags = c.typed(raw.get("tags"), f"{path}.tags", dict, False, {}) or {}
    for k, v in tags.items():
        if not isinstance(v, str):
            c.fail(f"{path}.tags.{k}", f"tag values must be strings, got {v!r}")
    return NodeClassSettings(
        name=str(name), amis=dict(amis), subnets=dict(subnets), security_group_ids=tuple(s for s in sgs if s),
        instance_profile=profile, user_data=user_data or "", block_devices=tuple(d for d in devices if d),
        metadata_options=meta, associate_public_ip_address=bool(public_ip), tags={str(k): str(v) for k, v in tags.items()},
    )


def _block_device(c: _Checker, raw: Any, path: str) -> BlockDevice | None:
    raw = c.typed(raw, path, dict, True, None)
    if raw is None:
        return None
    c.unknown(raw, path, {"deviceName", "volumeSizeGiB", "volumeType", "encrypted", "deleteOnTermination", "iops",
                          "throughput", "kmsKeyId"})
    size = c.typed(raw.get("volumeSizeGiB", 20), f"{path}.volumeSizeGiB", int, True, 20)
    if isinstance(size, int) and not 1 <= size <= 65536:
        c.fail(f"{path}.volumeSizeGiB", f"{size} is outside 1..65536")
    return BlockDevice(
        device_name=c.string(raw.get("deviceName", "/dev/xvda"), f"{path}.deviceName", re.compile(r"^/dev/[a-z0-9]+$"),
                             "device name (/dev/...)") or "/dev/xvda",
        volume_size_gib=size,
        volume_type=c.enum(raw.get("volumeType"), f"{path}.volumeType", VOLUME_TYPES, "gp3") or "gp3",
        encrypted=c.typed(raw.get("encrypted"), f"{path}.encrypted", bool, False, True),
        delete_on_termination=c.typed(raw.get("deleteOnTermination"), f"{path}.deleteOnTermination", bool, False, True),
        iops=c.typed(raw.get("iops"), f"{path}.iops", int, False),
        throughput=c.typed(raw.get("throughput"), f"{path}.throughput", int, False),
        kms_key_id=c.string(raw.get("kmsKeyId"), f"{path}.kmsKeyId", required=False),
    )


def _metadata(c: _Checker, raw: Any, path: str) -> MetadataOptions:
    raw = c.typed(raw, path, dict, False, {}) or {}
    c.unknown(raw, path, {"httpTokens", "httpPutResponseHopLimit", "httpEndpoint"})
    hops = c.typed(raw.get("httpPutResponseHopLimit"), f"{path}.httpPutResponseHopLimit", int, False, 1)
    if isinstance(hops, int) and not 1 <= hops <= 64:
        c.fail(f"{path}.httpPutResponseHopLimit", f"{hops} is outside 1..64")
    return MetadataOptions(
        http_tokens=c.enum(raw.get("httpTokens"), f"{path}.httpTokens", ("required", "optional"), "required"),
        http_put_response_hop_limit=hops if isinstance(hops, int) else 1,
        http_endpoint=c.enum(raw.get("httpEndpoint"), f"{path}.httpEndpoint", ("enabled", "disabled"), "enabled"),
    )


def _node(c: _Checker, raw: Any, path: str, classes: dict[str, NodeClassSettings | None]) -> DesiredNode | None:
    raw = c.typed(raw, path, dict, True, None)
    if raw is None:
        return None
    c.unknown(raw, path, {"name", "nodePool", "nodeClass", "instanceTypes", "capacityType", "zones", "architecture",
                          "labels", "taints", "reason", "state", "settings"})
    name = c.string(raw.get("name"), f"{path}.name", DNS_SUBDOMAIN, "node name (DNS subdomain)")
    pool = c.string(raw.get("nodePool"), f"{path}.nodePool", DNS_SUBDOMAIN, "NodePool name")
    node_class = c.string(raw.get("nodeClass"), f"{path}.nodeClass", DNS_SUBDOMAIN, "NodeClass name")
    key = c.string(raw.get("settings"), f"{path}.settings", required=False, default="") or ""
    if key == node_class:
        key = ""  # the default, spelled out
    key_path = f"nodeClasses.{key or node_class}"
    settings = classes.get(key or node_class) if node_class else None
    if key and node_class and not key.startswith(f"{node_class}@"):
        c.fail(f"{path}.settings", f"{key!r} is not a version of NodeClass {node_class!r} "
                                   f"(expected {node_class!r} or '{node_class}@...')")
        settings = None
    elif key and key not in classes:
        c.fail(f"{path}.settings", f"{key!r} is not defined in nodeClasses")
    elif node_class and not key and node_class not in classes:
        c.fail(f"{path}.nodeClass", f"{node_class!r} is not defined in nodeClasses")
    types = c.each(raw.get("instanceTypes"), f"{path}.instanceTypes",
                   lambda v, p: c.string(v, p, INSTANCE_TYPE, "instance type (family.size)"))
    if isinstance(raw.get("instanceTypes"), list) and not types:
        c.fail(f"{path}.instanceTypes", "needs at least one candidate instance type")
    _no_duplicates(c, types, f"{path}.instanceTypes")
    zones = c.each(raw.get("zones"), f"{path}.zones", lambda v, p: c.string(v, p, ZONE, "availability zone"))
    if isinstance(raw.get("zones"), list) and not zones:
        c.fail(f"{path}.zones", "needs at least one zone")
    _no_duplicates(c, zones, f"{path}.zones")
    arch = c.enum(raw.get("architecture"), f"{path}.architecture", ARCHITECTURES, "amd64")
    if settings is not None:
        for i, zone in enumerate(zones):
            if zone and zone not in settings.subnets:
                c.fail(f"{path}.zones[{i}]", f"zone {zone!r} has no subnet in {key_path}.subnets")
        if arch and arch not in settings.amis:
            c.fail(f"{path}.architecture", f"{arch!r} has no AMI in {key_path}.amis")
    taints = c.each(raw.get("taints"), f"{path}.taints", lambda v, p: _taint(c, v, p), required=False)
    return DesiredNode(
        name=name or "", node_pool=pool or "", node_class=node_class or "",
        instance_types=tuple(t for t in types if t), capacity_type=c.enum(raw.get("capacityType"),
                                                                         f"{path}.capacityType", CAPACITY_TYPES),
        zones=tuple(z for z in zones if z), architecture=arch or "amd64",
        labels=c.labels(raw.get("labels"), f"{path}.labels"), taints=tuple(t for t in taints if t),
        reason=c.string(raw.get("reason"), f"{path}.reason", required=False, default="") or "",
        state=c.enum(raw.get("state"), f"{path}.state", NODE_STATES, "active") or "active",
        settings=key,
    )


def _taint(c: _Checker, raw: Any, path: str) -> Taint | None:
    raw = c.typed(raw, path, dict, True, None)
    if raw is None:
        return None
    c.unknown(raw, path, {"key", "value", "effect"})
    key = c.string(raw.get("key"), f"{path}.key")
    if key and not _valid_label_key(key):
        c.fail(f"{path}.key", f"{key!r} is not a valid taint key")
    value = c.string(raw.get("value"), f"{path}.value", LABEL_VALUE, "taint value", required=False, default="")
    return Taint(key=key or "", value=value or "", effect=c.enum(raw.get("effect"), f"{path}.effect", TAINT_EFFECTS))


def _no_duplicates(c: _Checker, items: list, path: str) -> None:
    seen = set()
    for i, item in enumerate(items):
        if item in seen:
            c.fail(f"{path}[{i}]", f"duplicate {item!r}")
        seen.add(item)


def _valid_label_key(key: str) -> bool:
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not DNS_SUBDOMAIN.match(prefix)):
        return False
    return bool(LABEL_NAME.match(name))


def _article(noun: str) -> str:
    return ("an " if noun[0] in "aeiou" else "a ") + noun
