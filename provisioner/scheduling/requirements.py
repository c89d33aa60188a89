"""Label requirements (node selector terms, label selectors) and their evaluation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt")


@dataclass(frozen=True, slots=True)
class Req:
    """One requirement on a label: key, operator and values (as in NodeSelectorRequirement)."""

    key: str
    operator: str
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        return self.matches_value(labels.get(self.key))

    def matches_value(self, value: str | None) -> bool:
        op = self.operator
        if op == "In":
            return value is not None and value in self.values
        if op == "NotIn":
            return value is None or value not in self.values
        if op == "Exists":
            return value is not None
        if op == "DoesNotExist":
            return value is None
        if op in ("Gt", "Lt"):
            try:
                v, bound = int(value), int(self.values[0])  # type: ignore[arg-type]
            except (TypeError, ValueError, IndexError):
                return False
            return v > bound if op == "Gt" else v < bound
        raise ValueError(f"unknown operator {op!r}")

    def describe(self) -> str:
        if self.operator in ("Exists", "DoesNotExist"):
            return f"{self.key} {self.operator}"
        vals = ",".join(self.values)
        return f"{self.key} {self.operator} [{vals}]"


Term = tuple[Req, ...]  # AND of requirements


def term_matches(term: Term, labels: Mapping[str, str]) -> bool:
    return all(r.matches(labels) for r in term)


def terms_match(terms: tuple[Term, ...], labels: Mapping[str, str]) -> bool:
    """OR of terms; no terms means no constraint."""
    return not terms or any(term_matches(t, labels) for t in terms)


@dataclass(frozen=True, slots=True)
class LabelSelector:
    """metav1.LabelSelector: matchLabels AND matchExpressions."""

    match_labels: tuple[tuple[str, str], ...] = ()
    match_expressions: tuple[Req, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(labels.get(k) == v for k, v in self.match_labels) and \
            all(r.matches(labels) for r in self.match_expressions)

    def describe(self) -> str:
        parts = [f"{k}={v}" for k, v in self.match_labels] + [r.describe() for r in self.match_expressions]
        return ",".join(parts) or "<all>"
