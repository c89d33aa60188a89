"""fleet-guard policy pack server."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pulumi_policy import EnforcementLevel, PolicyPack  # noqa: E402

import fleet_guard  # noqa: E402

PolicyPack(name="fleet-guard", enforcement_level=EnforcementLevel.MANDATORY, policies=fleet_guard.POLICIES)
