"""Offerings that just failed with an insufficient-capacity error, skipped until they expire."""

from __future__ import annotations

import threading
import time
from typing import Callable

DEFAULT_TTL_SECONDS = 180.0


class UnavailableOfferings:
    """(instance type, zone, capacity type) -> expiry. Thread-safe; `clock` is injectable."""

    def __init__(self, ttl_seconds: float = DEFAULT_TTL_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl_seconds
        self._clock = clock
        self._expiry: dict[tuple[str, str, str], float] = {}
        self._lock = threading.Lock()

    def mark(self, instance_type: str, zone: str, capacity_type: str, ttl_seconds: float | None = None) -> None:
        with self._lock:
            self._expiry[(instance_type, zone, capacity_type)] = self._clock() + (
                self._ttl if ttl_seconds is None else ttl_seconds)

    def is_unavailable(self, instance_type: str, zone: str, capacity_type: str) -> bool:
        key = (instance_type, zone, capacity_type)
        with self._lock:
            expiry = self._expiry.get(key)
            if expiry is None:
                return False
            if self._clock() >= expiry:
                del self._expiry[key]
                return False
            return True

    def entries(self) -> list[tuple[str, str, str]]:
        now = self._clock()
        with self._lock:
            return sorted(k for k, exp in self._expiry.items() if exp > now)

    def __len__(self) -> int:
        return len(self.entries())
