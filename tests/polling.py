"""Polling with a deadline: the only way tests wait for something to become (or stay) true."""

from __future__ import annotations

import threading
import time
from typing import Callable, TypeVar

T = TypeVar("T")
_tick = threading.Event()  # never set: wait() is an interruptible pause between polls


def wait_for(probe: Callable[[], T], timeout: float, what: str, interval: float = 0.2,
             ignore: tuple[type[BaseException], ...] = ()) -> T:
    """Poll `probe` until it returns something truthy; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = probe()
        except ignore:
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        _tick.wait(interval)


def holds_for(check: Callable[[], bool], seconds: float, what: str, interval: float = 0.5) -> None:
    """An observation window: `check` must stay true for `seconds` (for things that must NOT happen)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert check(), what
        _tick.wait(interval)
    assert check(), what
