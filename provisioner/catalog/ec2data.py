"""Offline EC2 catalog data: the DescribeInstanceTypes / DescribeInstanceTypeOfferings
snapshots bundled with moto (which also serves them in local mode)."""

from __future__ import annotations

import gzip
import json
from functools import lru_cache
import importlib.util
from pathlib import Path


def _resources_dir() -> Path:
    # Locate moto without importing it (importing moto.ec2 costs about a second).
    spec = importlib.util.find_spec("moto")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("moto is not installed")
    return Path(list(spec.submodule_search_locations)[0]) / "ec2" / "resources"


def _load(*parts: str):
    path = _resources_dir().joinpath(*parts)
    return json.loads(gzip.decompress(path.read_bytes()))


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
