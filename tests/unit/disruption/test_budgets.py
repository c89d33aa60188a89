from datetime import datetime, timedelta, timezone

import pytest

from provisioner.api.types import Budget
from provisioner.disruption.budgets import Allowance, allowed, applies, budget_nodes, is_active, within


def at(s):
    return datetime.fromisoformat(s).replace(tzinfo=timezone.utc)


NOON = at("2026-03-04 12:00")  # a Wednesday


@pytest.mark.parametrize("nodes,total,expected", [
    ("0", 10, 0), ("5", 10, 5), ("50", 3, 50), ("10%", 10, 1), ("10%", 15, 2), ("10%", 1, 1),
    ("10%", 0, 0), ("0%", 100, 0), ("100%", 7, 7), ("33%", 10, 4), ("50%", 5, 3),
])
def test_budget_nodes(nodes, total, expected):
    assert budget_nodes(Budget(nodes=nodes), total) == expected


def test_budget_without_schedule_is_always_active():
    assert is_active(Budget(nodes="1"), NOON)


@pytest.mark.parametrize("time,expected", [
    ("2026-03-04 08:59", False), ("2026-03-04 09:00", True), ("2026-03-04 12:00", True),
    ("2026-03-04 16:59", True), ("2026-03-04 17:00", False), ("2026-03-07 10:00", False),  # Saturday
])
def test_scheduled_window_business_hours(time, expected):
    b = Budget(nodes="0", schedule="0 9 * * mon-fri", duration=timedelta(hours=8))
    assert is_active(b, at(time)) is expected


def test_window_crossing_midnight():
    b = Budget(nodes="0", schedule="0 22 * * *", duration=timedelta(hours=4))
    assert is_active(b, at("2026-03-04 23:30")) and is_active(b, at("2026-03-05 01:59"))
    assert not is_active(b, at("2026-03-05 02:00")) and not is_active(b, at("2026-03-04 21:59"))


def test_schedule_without_duration_is_an_error():
    with pytest.raises(ValueError):
        is_active(Budget(nodes="0", schedule="@daily"), NOON)


def test_reasons():
    assert applies(Budget(), "Empty")
    assert applies(Budget(reasons=("Empty", "Drifted")), "Drifted")
    assert not applies(Budget(reasons=("Empty",)), "Underutilized")


def test_default_budget_ten_percent():
    assert allowed((Budget(),), "Empty", 20, 0, NOON) == Allowance(2, 0)


def test_already_disrupting_nodes_count():
    assert allowed((Budget(nodes="3"),), "Empty", 20, 2, NOON).nodes == 1
    assert allowed((Budget(nodes="3"),), "Empty", 20, 5, NOON).nodes == 0


def test_most_restrictive_wins():
    budgets = (Budget(nodes="50%"), Budget(nodes="3"), Budget(nodes="20%"))
    assert allowed(budgets, "Empty", 10, 0, NOON) == Allowance(2, 2)


def test_zero_blocks_everything():
    assert allowed((Budget(nodes="10"), Budget(nodes="0")), "Drifted", 100, 0, NOON) == Allowance(0, 1)


def test_budget_for_other_reason_is_ignored():
    budgets = (Budget(nodes="0", reasons=("Drifted",)), Budget(nodes="5"))
    assert allowed(budgets, "Empty", 10, 0, NOON) == Allowance(5, 1)
    assert allowed(budgets, "Drifted", 10, 0, NOON) == Allowance(0, 0)


def test_no_active_budget_means_no_limit():
    budgets = (Budget(nodes="0", schedule="0 0 * * *", duration=timedelta(hours=1)),)
    assert allowed(budgets, "Empty", 7, 2, NOON) == Allowance(5, None)
    assert allowed((), "Empty", 7, 0, NOON) == Allowance(7, None)


def test_blocking_window_only_inside_it():
    # nothing may be disrupted on weekdays 09:00-17:00, otherwise 2 nodes
    budgets = (Budget(nodes="2"), Budget(nodes="0", schedule="0 9 * * 1-5", duration=timedelta(hours=8)))
    assert allowed(budgets, "Underutilized", 10, 0, at("2026-03-04 10:00")) == Allowance(0, 1)
    assert allowed(budgets, "Underutilized", 10, 0, at("2026-03-04 18:00")) == Allowance(2, 0)
    assert allowed(budgets, "Underutilized", 10, 0, at("2026-03-07 10:00")) == Allowance(2, 0)


def test_allowing_window_only_inside_it():
    # disruption allowed only 02:00-03:00 UTC: a 0-budget covers the other 23 hours (Karpenter's idiom)
    budgets = (Budget(nodes="5"), Budget(nodes="0", schedule="0 3 * * *", duration=timedelta(hours=23)))
    assert allowed(budgets, "Empty", 10, 0, at("2026-03-04 02:30")) == Allowance(5, 0)
    assert allowed(budgets, "Empty", 10, 0, at("2026-03-04 02:00")) == Allowance(5, 0)
    assert allowed(budgets, "Empty", 10, 0, at("2026-03-04 03:00")) == Allowance(0, 1)
    assert allowed(budgets, "Empty", 10, 0, at("2026-03-04 01:59")) == Allowance(0, 1)


def test_unknown_reason():
    with pytest.raises(ValueError):
        allowed((Budget(),), "Bored", 10, 0, NOON)


def test_describe():
    budgets = (Budget(nodes="0", schedule="0 9 * * 1-5", duration=timedelta(hours=8)),)
    a = allowed(budgets, "Empty", 4, 0, at("2026-03-04 10:00"))
    assert a.describe(budgets) == "budget #0 nodes=0 (schedule '0 9 * * 1-5' for 8:00:00) allows 0 more"
    assert Allowance(3, None).describe(budgets) == "no active budget"


def test_within_takes_in_order_per_pool():
    cands = [("a1", "a"), ("b1", "b"), ("a2", "a"), ("a3", "a"), ("c1", "c")]
    taken, held = within(cands, lambda c: c[1], {"a": 2, "b": 0})
    assert [c[0] for c in taken] == ["a1", "a2"]
    assert [c[0] for c in held] == ["b1", "a3", "c1"]  # c has no allowance computed: nothing allowed


def test_within_nothing():
    assert within([], lambda c: c, {"a": 3}) == ([], [])
