"""The catalog the allocator chooses from: instance types and their priced offerings."""

from __future__ import annotations

from dataclasses import dataclass, field

from provisioner.catalog.ec2data import instance_type_items, zone_offerings
from provisioner.catalog.instancetypes import InstanceType, from_ec2
from provisioner.catalog.pricing import LocalPriceSource, PriceSource
from provisioner.catalog.unavailable import UnavailableOfferings

CAPACITY_TYPES = ("spot", "on-demand")
# "Exotic" types are only chosen when a pod cannot run on anything else.
EXOTIC_MAX_VCPU = 96
EXOTIC_MAX_MEMORY_MIB = 768 * 1024


def is_exotic(it: InstanceType) -> bool:
    """Bare metal, GPU/accelerator, or very large (> 96 vCPU or > 768 GiB)."""
    return (it.bare_metal or it.has_accelerator or it.vcpu > EXOTIC_MAX_VCPU
            or it.memory_mib > EXOTIC_MAX_MEMORY_MIB)


@dataclass(frozen=True, slots=True)
class Offering:
    instance_type: str
    zone: str
    capacity_type: str
    price: float  # USD per hour
    available: bool = True


@dataclass(frozen=True)
class Catalog:
    region: str
    zones: tuple[str, ...]
    instance_types: dict[str, InstanceType] = field(hash=False)
    offerings: tuple[Offering, ...]

    def available_offerings(self, unavailable: UnavailableOfferings | None = None) -> list[Offering]:
        return [o for o in self.offerings if o.available and not (
            unavailable and unavailable.is_unavailable(o.instance_type, o.zone, o.capacity_type))]

    def restricted(self, names: set[str] | list[str] | tuple[str, ...]) -> "Catalog":
        keep = set(names)
        return Catalog(self.region, self.zones, {k: v for k, v in self.instance_types.items() if k in keep},
                       tuple(o for o in self.offerings if o.instance_type in keep))


def build_catalog(region: str, items: list[dict], offered: list[tuple[str, str]],
                  prices: PriceSource, unavailable: UnavailableOfferings | None = None) -> Catalog:
    """Assemble a catalog from DescribeInstanceTypes items, (type, zone) offerings and prices.
    Types without a price, Mac types (dedicated hosts only) and unsupported usage classes are left out."""
    types = {}
    for item in items:
        it = from_ec2(item)
        if not it.mac and prices.on_demand(it.name) is not None:
            types[it.name] = it
    offerings = []
    zones = sorted({z for _, z in offered})
    for name, zone in sorted(offered):
        it = types.get(name)
        if it is None:
            continue
        for ct in CAPACITY_TYPES:
            if ct not in it.usage_classes:
                continue
            price = prices.spot(name, zone) if ct == "spot" else prices.on_demand(name)
            if price is None:
                continue
            avail = not (unavailable and unavailable.is_unavailable(name, zone, ct))
            offerings.append(Offering(name, zone, ct, price, avail))
    used = {o.instance_type for o in offerings}
    return Catalog(region, tuple(zones), {k: v for k, v in types.items() if k in used}, tuple(offerings))


def load_local_catalog(region: str = "us-east-1", prices: PriceSource | None = None,
                       unavailable: UnavailableOfferings | None = None,
                       zones: tuple[str, ...] | None = None) -> Catalog:
    """The offline catalog: moto's bundled DescribeInstanceTypes and offerings for `region`,
    priced by `prices` (default: the local price source for the region)."""
    offered = [(t, z) for t, z in zone_offerings(region) if zones is None or z in zones]
    return build_catalog(region, list(instance_type_items().values()), offered,
                         prices or LocalPriceSource(region), unavailable)


def load_aws_catalog(session, region: str, prices: PriceSource,
                     unavailable: UnavailableOfferings | None = None) -> Catalog:
    """The production catalog: DescribeInstanceTypes and DescribeInstanceTypeOfferings
    (location type availability-zone) through a boto3 session. Not exercised offline."""
    ec2 = session.client("ec2", region_name=region)
    items = [it for page in ec2.get_paginator("describe_instance_types").paginate()
             for it in page["InstanceTypes"]]
    offered = [(o["InstanceType"], o["Location"])
               for page in ec2.get_paginator("describe_instance_type_offerings").paginate(
                   LocationType="availability-zone")
               for o in page["InstanceTypeOfferings"]]
    return build_catalog(region, items, offered, prices, unavailable)
