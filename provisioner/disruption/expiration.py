"""Expiration: which of our nodes have lived at least their NodePool's expireAfter (pure).

Age is measured from the Node's `metadata.creationTimestamp`. A NodePool with
`expireAfter: Never`, an unknown NodePool, a node without a creation time or one already being
deleted is never expired.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Mapping

from provisioner.api.patterns import format_duration
from provisioner.api.types import NodePool
from provisioner.state.view import is_ours, nodepool_of

Obj = Mapping[str, Any]


def expired(nodes: Iterable[Obj], pools: Mapping[str, NodePool], now: datetime) -> dict[str, str]:
    """Our expired nodes -> reason (`expired: age 721h0m ≥ expireAfter 720h`), oldest first."""
    found: list[tuple[datetime, str, str]] = []
    for node in nodes:
        meta = node.get("metadata") or {}
        pool = pools.get(nodepool_of(node) or "")  # type: ignore[arg-type]
        created = created_at(node)
        if pool is None or created is None or meta.get("deletionTimestamp") or not is_ours(node):  # type: ignore[arg-type]
            continue
        limit = pool.expire_after
        age = now - created
        if limit is not None and age >= limit:
            found.append((created, meta["name"], f"expired: age {format_age(age)} ≥ expireAfter {format_duration(limit)}"))
    return {name: reason for _, name, reason in sorted(found)}


def created_at(node: Obj) -> datetime | None:
    """`metadata.creationTimestamp` (RFC 3339, as the API server writes it) as an aware datetime."""
    text = (node.get("metadata") or {}).get("creationTimestamp")
    if not text:
        return None
    if isinstance(text, datetime):
        return text if text.tzinfo else text.replace(tzinfo=timezone.utc)
    try:
        value = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def format_age(age: timedelta) -> str:
    """Hours and minutes, truncated: `721h0m`, `0h5m`."""
    minutes = max(int(age.total_seconds()) // 60, 0)
    return f"{minutes // 60}h{minutes % 60}m"
