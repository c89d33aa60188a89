"""Voluntary disruption: which nodes may go (emptiness, ...) and how many at once (budgets).
Pure decisions only so far; see docs/disruption.md."""
