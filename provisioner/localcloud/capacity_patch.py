"""Patches applied to moto's EC2 backend inside the local EC2 child process (filled in below)."""

from __future__ import annotations

from provisioner.localcloud.capacity import CapacityRegistry


def install(registry: CapacityRegistry) -> None:
    pass
