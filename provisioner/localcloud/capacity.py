"""Injected capacity errors for the local EC2 (moto never runs out of capacity).

Pure data and matching rules, shared by the moto child process (which applies them) and the
parent (which drives them through the control API). No moto imports here.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass

CAPACITY_TYPES = ("spot", "on-demand")
ERROR_CODES = ("InsufficientInstanceCapacity", "UnfulfillableCapacity", "MaxSpotInstanceCountExceeded")
CONTROL_PATH = "/_provisioner/capacity"

ERROR_MESSAGES = {
    "InsufficientInstanceCapacity": (
        "We currently do not have sufficient {instance_type} capacity in the Availability Zone you "
        "requested ({zone}). Our system will be working on provisioning additional capacity."
    ),
    "UnfulfillableCapacity": (
        "Unable to fulfill capacity due to your request configuration. Please adjust your request "
        "and try again."
    ),
    "MaxSpotInstanceCountExceeded": "Max spot instance count exceeded",
}


@dataclass(frozen=True)
class CapacityError:
    """One unavailable offering. `zone`/`capacity_type` of "*" match any."""

    instance_type: str
    zone: str
    capacity_type: str
    error_code: str = "InsufficientInstanceCapacity"

    def __post_init__(self) -> None:
        if not self.instance_type:
            raise ValueError("instance_type is required")
        if self.capacity_type not in (*CAPACITY_TYPES, "*"):
            raise ValueError(f"capacity_type must be one of {CAPACITY_TYPES} or '*', got {self.capacity_type!r}")
        if self.error_code not in ERROR_CODES:
            raise ValueError(f"error_code must be one of {ERROR_CODES}, got {self.error_code!r}")

    def matches(self, instance_type: str, zone: str, capacity_type: str) -> bool:
        return (
            self.instance_type in (instance_type, "*")
            and self.zone in (zone, "*")
            and self.capacity_type in (capacity_type, "*")
        )

    def message(self) -> str:
        return ERROR_MESSAGES[self.error_code].format(instance_type=self.instance_type, zone=self.zone)

    def to_json(self) -> dict[str, str]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "CapacityError":
        unknown = set(data) - {"instance_type", "zone", "capacity_type", "error_code"}
        if unknown:
            raise ValueError(f"unknown fields: {sorted(unknown)}")
        return cls(
            instance_type=str(data.get("instance_type", "")),
            zone=str(data.get("zone", "*")),
            capacity_type=str(data.get("capacity_type", "*")),
            error_code=str(data.get("error_code", "InsufficientInstanceCapacity")),
        )


class CapacityRegistry:
    """Thread-safe set of injected errors (the moto server handles requests on threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._errors: list[CapacityError] = []

    def add(self, error: CapacityError) -> None:
        with self._lock:
            if error not in self._errors:
                self._errors.append(error)

    def clear(self) -> None:
        with self._lock:
            self._errors.clear()

    def list(self) -> list[CapacityError]:
        with self._lock:
            return list(self._errors)

    def lookup(self, instance_type: str, zone: str, capacity_type: str) -> CapacityError | None:
        with self._lock:
            for err in self._errors:
                if err.matches(instance_type, zone, capacity_type):
                    return CapacityError(instance_type, zone, capacity_type, err.error_code)
        return None


def priority_order(overrides: list[dict]) -> list[int]:
    """Indexes of fleet overrides by priority: lowest `Priority` first, unset last, then listed order."""

    def key(i: int) -> tuple[int, float, int]:
        raw = overrides[i].get("Priority")
        if raw in (None, ""):
            return (1, 0.0, i)
        return (0, float(raw), i)

    return sorted(range(len(overrides)), key=key)
