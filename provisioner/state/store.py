"""Thread-safe store of slim objects by kind, fed by reflectors, read as snapshots."""

from __future__ import annotations

import threading
from typing import Any, Callable

from provisioner.state.kinds import Obj, key_of

Listener = Callable[[str, str, Obj | None], None]  # (kind, event type, object)


class Store:
    def __init__(self) -> None:
        self._objects: dict[str, dict[str, Obj]] = {}
        self._synced: set[str] = set()
        self._lock = threading.Lock()
        self.changed = threading.Condition(self._lock)
        self.generation = 0
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def replace(self, kind: str, items: list[Obj]) -> None:
        """A fresh list: everything of this kind is exactly `items` now."""
        with self._lock:
            old = self._objects.get(kind, {})
            self._objects[kind] = {key_of(o): o for o in items}
            self._synced.add(kind)
            self._bump()
        for key in set(old) - {key_of(o) for o in items}:
            self._notify(kind, "DELETED", old[key])
        for o in items:
            self._notify(kind, "MODIFIED", o)

    def apply(self, kind: str, event: str, obj: Obj) -> None:
        with self._lock:
            bucket = self._objects.setdefault(kind, {})
            if event == "DELETED":
                bucket.pop(key_of(obj), None)
            else:
                bucket[key_of(obj)] = obj
            self._bump()
        self._notify(kind, event, obj)

    def _bump(self) -> None:
        self.generation += 1
        self.changed.notify_all()

    def _notify(self, kind: str, event: str, obj: Obj | None) -> None:
        for listener in self._listeners:
            listener(kind, event, obj)

    def list(self, kind: str) -> list[Obj]:
        with self._lock:
            return list(self._objects.get(kind, {}).values())

    def get(self, kind: str, key: str) -> Obj | None:
        with self._lock:
            return self._objects.get(kind, {}).get(key)

    def synced(self, kinds: tuple[str, ...]) -> bool:
        with self._lock:
            return set(kinds) <= self._synced

    def counts(self) -> dict[str, int]:
        with self._lock:
            return {k: len(v) for k, v in self._objects.items()}

    def wait_for_change(self, since: int, timeout: float) -> int:
        with self._lock:
            self.changed.wait_for(lambda: self.generation != since, timeout)
            return self.generation

    def snapshot(self) -> dict[str, list[Any]]:
        with self._lock:
            return {k: list(v.values()) for k, v in self._objects.items()}
