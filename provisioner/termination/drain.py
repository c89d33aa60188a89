"""The drain adapter: taint the node, evict its pods through the Eviction API, wait until they are gone.

Decisions (what to evict, in what order, with which grace period) come from `pods`; this module only
talks to the API server. A 429 from the Eviction API is a PodDisruptionBudget saying "not now": the
pod is retried with backoff and never deleted around it. The drain ends when every evictable pod is
gone, or at the hard deadline (the NodePool's terminationGracePeriod) with the pods left reported.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Protocol
from urllib.parse import quote

from provisioner.state.view import pod_key
from provisioner.termination import pdbs as B
from provisioner.termination import pods as P
from provisioner.termination.finalizer import update_node

DISRUPTED_TAINT = {"key": "provisioner.sh/disrupted", "effect": "NoSchedule"}


class Kube(Protocol):
    def request(self, method: str, path: str, body: Any = None, query: Any = None,
                content_type: str = "application/json") -> tuple[int, Any]: ...


@dataclass(frozen=True)
class Backoff:
    initial: float = 0.5
    maximum: float = 10.0

    def delay(self, attempt: int) -> float:
        """Seconds before retry number `attempt` (1-based): doubles up to the maximum."""
        return min(self.maximum, self.initial * 2 ** max(0, attempt - 1))


@dataclass
class DrainResult:
    node: str
    evicted: list[str] = field(default_factory=list)  # accepted evictions, in order
    refused: dict[str, int] = field(default_factory=dict)  # pod -> 429 answers (PDB said wait)
    blocked_by: dict[str, list[str]] = field(default_factory=dict)  # pod -> PDBs that refused it first
    remaining: list[str] = field(default_factory=list)  # evictable pods still there at the end
    timed_out: bool = False  # the hard deadline passed first
    seconds: float = 0.0

    @property
    def complete(self) -> bool:
        return not self.remaining and not self.timed_out


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def taint(kube: Kube, node_name: str, attempts: int = 10) -> bool:
    """Add the disrupted NoSchedule taint (optimistic concurrency on resourceVersion). False if the node is gone."""
    def change(node: dict) -> dict | None:
        taints = list((node.get("spec") or {}).get("taints") or [])
        if any(t.get("key") == DISRUPTED_TAINT["key"] for t in taints):
            return None
        return {"spec": {"taints": taints + [dict(DISRUPTED_TAINT)]}}

    return update_node(kube, node_name, change, "taint", attempts)


def pods_on(kube: Kube, node_name: str) -> list[dict]:
    status, data = kube.request("GET", "/api/v1/pods", None, {"fieldSelector": f"spec.nodeName={node_name}"})
    if status != 200:
        raise RuntimeError(f"list pods on {node_name}: HTTP {status}")
    return data.get("items") or []


def evict(kube: Kube, pod: dict, grace_seconds: int) -> int:
    """POST a policy/v1 Eviction; the HTTP status (201 accepted, 429 a PDB refuses, 404 gone)."""
    meta = pod["metadata"]
    ns, name = meta.get("namespace", "default"), meta["name"]
    body = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": name, "namespace": ns},
            "deleteOptions": {"gracePeriodSeconds": grace_seconds,
                              "preconditions": {"uid": meta["uid"]} if meta.get("uid") else None}}
    if body["deleteOptions"]["preconditions"] is None:
        del body["deleteOptions"]["preconditions"]
    status, _ = kube.request("POST", f"/api/v1/namespaces/{quote(ns)}/pods/{quote(name)}/eviction", body)
    return status


def pdbs_in(kube: Kube, namespace: str) -> list[dict]:
    status, data = kube.request("GET", f"/apis/policy/v1/namespaces/{quote(namespace)}/poddisruptionbudgets")
    if status != 200:
        return []  # an explanation only: the drain goes on without it
    return (data or {}).get("items") or []


def drain(kube: Kube, node_name: str, *, termination_grace_period: timedelta | None = None,
          started: datetime | None = None, poll_interval: float = 0.5, backoff: Backoff = Backoff(),
          clock: Callable[[], datetime] = _utcnow, sleep: Callable[[float], None] = time.sleep,
          log: Callable[[str], None] | None = None) -> DrainResult:
    """Taint `node_name`, evict its pods (ordinary ones first, critical ones last) and wait until gone.

    `started` is when the drain began (for a drain resumed after a restart); the hard deadline is
    `started + termination_grace_period` (None: wait as long as it takes).
    """
    log = log or (lambda _m: None)
    begin = clock()
    started = started or begin
    deadline = P.hard_deadline(started, termination_grace_period)
    result = DrainResult(node_name)
    if not taint(kube, node_name):
        return result
    retry_at: dict[str, datetime] = {}  # pod key -> not before
    attempts: dict[str, int] = {}
    accepted: set[str] = set()
    while True:
        now = clock()
        groups = P.eviction_order(pods_on(kube, node_name))
        if not groups:
            break
        if deadline is not None and now >= deadline:
            result.timed_out = True
            result.remaining = sorted(pod_key(p) for g in groups for p in g)
            log(f"drain {node_name}: hard deadline passed with {len(result.remaining)} pods left")
            break
        for pod in groups[0]:  # critical pods only once every ordinary pod is gone
            key = pod_key(pod)
            if pod["metadata"].get("deletionTimestamp") or retry_at.get(key, now) > now:
                continue
            status = evict(kube, pod, P.eviction_grace_seconds(pod, now, deadline))
            if status in (200, 201):
                if key not in accepted:
                    accepted.add(key)
                    result.evicted.append(key)
                retry_at.pop(key, None)
                continue
            if status == 404:
                continue
            # 429: a PDB says wait. 500 "more than one PDB" and other errors: retry the same way.
            if status == 429:
                result.refused[key] = result.refused.get(key, 0) + 1
                if key not in result.blocked_by:
                    ns = pod["metadata"].get("namespace", "default")
                    result.blocked_by[key] = B.blocking(pod, pdbs_in(kube, ns))
            attempts[key] = attempts.get(key, 0) + 1
            retry_at[key] = now + timedelta(seconds=backoff.delay(attempts[key]))
            log(f"drain {node_name}: eviction of {key} answered {status}, retry #{attempts[key]}")
        sleep(poll_interval)
    result.seconds = (clock() - begin).total_seconds()
    return result
