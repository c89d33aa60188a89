"""Offline EC2 catalog data: the DescribeInstanceTypes / DescribeInstanceTypeOfferings
snapshots bundled with moto (which also serves them in local mode)."""

from __future__ import annotations

import gzip
import json
from functools import lru_cache
from importlib import resources


def _load(*parts: str):
    ref = resources.files("moto.ec2").joinpath("resources", *parts)
    with ref.open("rb") as f:
        return json.loads(gzip.decompress(f.read()))


@lru_cache(maxsize=1)
def instance_type_items() -> dict[str, dict]:
    """DescribeInstanceTypes items by type name."""
    return _load("instance_types.json.gz")


@lru_cache(maxsize=None)
def zone_offerings(region: str) -> tuple[tuple[str, str], ...]:
    """(instance type, zone) pairs offered in a region."""
    try:
        rows = _load("instance_type_offerings", "availability-zone", f"{region}.json.gz")
    except FileNotFoundError:
        raise ValueError(f"no bundled offerings for region {region!r}") from None
    return tuple((r["InstanceType"], r["Location"]) for r in rows)
