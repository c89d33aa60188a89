"""Scenario suite: one YAML fixture per constraint kind (tests/fixtures/scheduling/*.yaml)."""

import pytest

from tests.unit.scheduling.scenario import FIXTURES, check, run
from tests.unit.scheduling.validator import validate

SCENARIOS = sorted(FIXTURES.glob("*.yaml"))


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_scenario(path):
    doc, inp, plan = run(path)
    assert validate(inp, plan) == []
    assert check(doc, inp, plan) == []
