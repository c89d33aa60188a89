"""A time limit shrinks the bound's and the repack's budgets; the placement always runs."""

import dataclasses
import json
import time

import pytest
from click.testing import CliRunner

from provisioner.cli.simulate import simulate_cmd
from provisioner.scheduling.plan import SchedulingInput
from provisioner.scheduling.simulate import AFTER_PER_POD, AFTER_SECONDS, _budgets
from tests.unit.scheduling.scenario import FIXTURES

CLI = FIXTURES / "cli"


def _inp(**kw):
    return dataclasses.replace(SchedulingInput(pods=(), nodepools=(), catalog=None), **kw)


def test_budgets_are_as_asked_without_a_limit_or_within_a_loose_one():
    start = time.perf_counter()
    assert _budgets(_inp(bound_seconds=2.0, repack_seconds=3.0), start, 100) == (2.0, 3.0)
    assert _budgets(_inp(bound_seconds=2.0, repack_seconds=3.0, time_limit=1e6), start, 100) == (2.0, 3.0)


def test_a_tight_limit_gives_the_bound_half_at_most_and_a_spent_one_leaves_nothing():
    start = time.perf_counter()
    # 2.5 s left after the steps that follow the repack, of the 5 s asked
    limit = AFTER_SECONDS + AFTER_PER_POD * 1000 + 2.5
    bound, repack = _budgets(_inp(bound_seconds=2.0, repack_seconds=3.0, time_limit=limit), start, 1000)
    assert 1.2 < bound <= 1.25 and repack == pytest.approx(2 * bound)
    bound, repack = _budgets(_inp(bound_seconds=0.5, repack_seconds=3.0, time_limit=limit), start, 1000)
    assert bound == 0.5 and 2.4 < repack <= 2.5
    assert _budgets(_inp(bound_seconds=2.0, repack_seconds=3.0, time_limit=0.1), start, 1000) == (0.0, 0.0)


def test_simulate_with_a_spent_time_limit_gives_the_greedy_plan():
    args = ["--nodepools", str(CLI / "nodepools.yaml"), "--pods", str(CLI / "pods.yaml"), "-o", "json"]
    greedy = json.loads(CliRunner().invoke(simulate_cmd, args + ["--repack-seconds", "0", "--bound-seconds", "0"]).output)
    res = CliRunner().invoke(simulate_cmd, args + ["--time-limit", "0.001"])
    assert res.exit_code == 0, res.output
    limited = json.loads(res.output)
    assert limited["cost_per_hour"] == greedy["cost_per_hour"]
    assert limited["lower_bound_per_hour"] == greedy["lower_bound_per_hour"]
    assert sorted(p for n in limited["nodes"] for p in n["pods"]) == sorted(p for n in greedy["nodes"] for p in n["pods"])
