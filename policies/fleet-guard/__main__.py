"""fleet-guard policy pack server."""

import os
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pulumi_policy import EnforcementLevel, PolicyPack  # noqa: E402

import fleet_guard  # noqa: E402


def _exit_with_the_engine() -> None:
    """The engine starts the pack in its own process group and may die without a signal (SIGKILL,
    a crash): then nothing stops the pack. Don't outlive the engine."""
    parent = os.getppid()
    stop = threading.Event()
    while not stop.wait(1.0):
        if os.getppid() != parent:
            os._exit(0)


threading.Thread(target=_exit_with_the_engine, name="engine-watch", daemon=True).start()
PolicyPack(name="fleet-guard", enforcement_level=EnforcementLevel.MANDATORY, policies=fleet_guard.POLICIES)
