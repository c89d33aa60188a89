"""Disruption budgets: how many of a NodePool's nodes may be disrupted now, for a given reason.

Each budget allows `nodes` (a count, or a percentage of the NodePool's nodes rounded up) while it
is active: always without a schedule, else for `duration` after each tick of its cron `schedule`
(UTC). A budget with `reasons` applies only to those reasons. Among the budgets that apply and are
active, the most restrictive wins; nodes already being disrupted count against it. No active
budget means no limit. A budget that cannot be read (a schedule that is no cron, a duration of
0) allows nothing: that NodePool fails closed, the others are not held by it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable, Mapping, Sequence, TypeVar

from provisioner.api.types import Budget
from provisioner.disruption import cron

REASONS = ("Empty", "Drifted", "Underutilized", "Expired")
T = TypeVar("T")


def budget_nodes(budget: Budget, total: int) -> int:
    """The budget's node count for a NodePool of `total` nodes ("10%" of 15 -> 2, rounded up)."""
    text = budget.nodes.strip()
    if text.endswith("%"):
        return math.ceil(total * int(text[:-1]) / 100)
    return int(text)


def is_active(budget: Budget, now: datetime) -> bool:
    if not budget.schedule:
        return True
    if budget.duration is None or budget.duration <= timedelta(0):
        raise ValueError(f"budget schedule {budget.schedule!r} needs a positive duration")
    return cron.parse(budget.schedule).last_tick(now, budget.duration) is not None


def applies(budget: Budget, reason: str) -> bool:
    return not budget.reasons or reason in budget.reasons


@dataclass(frozen=True)
class Allowance:
    nodes: int  # how many more nodes may start disruption now (>= 0)
    limited_by: int | None  # index of the budget that decides it; None: no active budget, no limit
    invalid: str = ""  # why budget `limited_by` cannot be read (its NodePool fails closed: nothing allowed)

    def describe(self, budgets: Sequence[Budget]) -> str:
        if self.limited_by is None:
            return "no active budget"
        if self.invalid:
            return f"budget #{self.limited_by} is invalid ({self.invalid}): nothing may be disrupted"
        b = budgets[self.limited_by]
        window = f" (schedule {b.schedule!r} for {b.duration})" if b.schedule else ""
        return f"budget #{self.limited_by} nodes={b.nodes}{window} allows {self.nodes} more"


def allowed(budgets: Sequence[Budget], reason: str, total: int, disrupting: int, now: datetime) -> Allowance:
    """Nodes of a NodePool with `total` nodes (`disrupting` of them already being disrupted) that may
    start a disruption for `reason` at `now`."""
    if reason not in REASONS:
        raise ValueError(f"unknown disruption reason {reason!r} (one of {', '.join(REASONS)})")
    best: tuple[int, int] | None = None
    for i, b in enumerate(budgets):
        try:
            active = applies(b, reason) and is_active(b, now)
        except ValueError as err:  # a schedule the CRD's pattern lets through but no cron: fail closed
            return Allowance(0, i, str(err))
        if active:
            n = budget_nodes(b, total)
            if best is None or n < best[0]:
                best = (n, i)
    if best is None:
        return Allowance(max(0, total - disrupting), None)
    return Allowance(max(0, best[0] - disrupting), best[1])


def within(candidates: Sequence[T], pool_of: Callable[[T], str],
           allowance: Mapping[str, int]) -> tuple[list[T], list[T]]:
    """Candidates taken in order while their NodePool's allowance lasts, and those held back by it.

    A NodePool missing from `allowance` allows nothing (no budget was computed for it).
    """
    left = dict(allowance)
    taken: list[T] = []
    held: list[T] = []
    for c in candidates:
        pool = pool_of(c)
        if left.get(pool, 0) > 0:
            left[pool] -= 1
            taken.append(c)
        else:
            held.append(c)
    return taken, held
