"""Insufficient-capacity answers from a failed stack update, as offerings to avoid for a while."""

from __future__ import annotations

import re
from dataclasses import dataclass

CAPACITY_CODES = ("InsufficientInstanceCapacity", "UnfulfillableCapacity", "MaxSpotInstanceCountExceeded",
                  "InsufficientCapacity")
_ENTRY = re.compile(r"(" + "|".join(CAPACITY_CODES) + r") for ([\w.-]+) in ([\w-]+) \((spot|on-demand)\)")


@dataclass(frozen=True)
class Offering:
    instance_type: str
    zone: str
    capacity_type: str


def capacity_failures(error_text: str) -> list[Offering]:
    """Every (type, zone, capacity type) an EC2 Fleet reported as out of capacity."""
    seen: dict[tuple, Offering] = {}
    for m in _ENTRY.finditer(error_text):
        o = Offering(m.group(2), m.group(3), m.group(4))
        seen[(o.instance_type, o.zone, o.capacity_type)] = o
    return list(seen.values())


def is_capacity_error(error_text: str) -> bool:
    return "no capacity" in error_text or any(code in error_text for code in CAPACITY_CODES)
