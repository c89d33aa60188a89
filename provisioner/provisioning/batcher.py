"""Batching: wait for `idle` seconds without a new pending pod, at most `max` seconds in all."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Batcher:
    idle: float = 1.0
    max: float = 10.0
    started: float | None = None
    last_new: float = 0.0
    seen: set[str] = field(default_factory=set)

    def observe(self, pending: set[str], now: float) -> None:
        """`pending`: pods waiting for capacity that no plan has handled yet."""
        if not pending:
            self.started, self.seen = None, set()
            return
        new = pending - self.seen
        if new:
            if self.started is None:
                self.started = now
            self.last_new = now
            self.seen |= new

    def ready(self, now: float) -> bool:
        if self.started is None:
            return False
        return now - self.last_new >= self.idle or now - self.started >= self.max

    def wait_hint(self, now: float) -> float:
        """Seconds until `ready` could turn true (for the loop's sleep)."""
        if self.started is None:
            return 1.0
        return max(0.01, min(self.last_new + self.idle, self.started + self.max) - now)

    def reset(self) -> float:
        """Start the next batch; returns how long this one waited (0 if none)."""
        waited = (self.last_new - self.started) if self.started is not None else 0.0
        self.started, self.seen = None, set()
        return waited
