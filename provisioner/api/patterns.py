"""Regular expressions shared by the CRD schemas and the Python validator.

Every pattern must stay within RE2 (no look-around, no back-references): the API server
evaluates them with Go's regexp, the Python validator and the tests with `re`.
"""

from __future__ import annotations

import re
from datetime import timedelta

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
_DNS_SUBDOMAIN = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
_LABEL_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
LABEL_KEY = rf"^({_DNS_SUBDOMAIN}/)?{_LABEL_NAME}$"
LABEL_KEY_MAX = 317  # 253 (prefix) + "/" + 63 (name)
LABEL_VALUE = rf"^({_LABEL_NAME})?$"
TAINT_VALUE = r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$"

# Durations in Karpenter's spelling: Go duration units s, m, h only.
DURATION = r"^([0-9]+(s|m|h))+$"
DURATION_OR_NEVER = r"^(([0-9]+(s|m|h))+|Never)$"
# A budget's window: whole minutes or hours ("1h", "30m", "1h30m"; Go's "1h30m0s" too).
BUDGET_DURATION = r"^([0-9]+h([0-9]+m)?|[0-9]+m)(0s)?$"
BUDGET_NODES = r"^((100|[0-9]{1,2})%|[0-9]+)$"
CRON = r"^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|\S+( \S+){4})$"

_QTY = r"([0-9]+(\.[0-9]*)?|\.[0-9]+)([KMGTPE]i|[numkMGTPE]|[eE][-+]?[0-9]+)?"
QUANTITY = rf"^{_QTY}$"  # non-negative Kubernetes quantity
PERCENT_OR_QUANTITY = rf"^([0-9]+(\.[0-9]+)?%|{_QTY})$"
INTEGER = r"^[0-9]+$"

AMI_ALIAS = r"^(al2|al2023|bottlerocket|windows2019|windows2022)@(latest|v[0-9][-0-9A-Za-z._]*)$"
AMI_ID = r"^ami-[0-9a-z]+$"
SUBNET_ID = r"^subnet-[0-9a-z]+$"
SECURITY_GROUP_ID = r"^sg-[0-9a-z]+$"
SNAPSHOT_ID = r"^snap-[0-9a-z]+$"

_UNITS = {"s": 1, "m": 60, "h": 3600}
_PART = re.compile(r"([0-9]+)(h|m|s)")


def parse_duration(text: str) -> timedelta | None:
    """`"1h30m"` -> 90 minutes; `"Never"` -> None. The text must already match DURATION_OR_NEVER."""
    if text == "Never":
        return None
    return timedelta(seconds=sum(int(n) * _UNITS[u] for n, u in _PART.findall(text)))


def format_duration(value: timedelta | None) -> str:
    """Inverse of parse_duration, in the shortest h/m/s spelling ("720h", "5m", "0s")."""
    if value is None:
        return "Never"
    seconds = int(value.total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "") + (f"{secs}s" if secs else "")
    return text or "0s"


def format_budget_duration(value: timedelta) -> str:
    minutes = int(value.total_seconds()) // 60
    hours, minutes = divmod(minutes, 60)
    return (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes or not hours else "")
