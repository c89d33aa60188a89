"""What users see in Kubernetes: Events on pods and NodePools, NodePool status (sent off the loop's thread)."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from provisioner.state.kinds import Obj

LOG = logging.getLogger("provisioner.report")
COMPONENT = "provisioner"
NODEPOOL_PATH = "/apis/provisioner.sh/v1/nodepools"
MAX_REMEMBERED = 50_000  # (object, reason) pairs remembered to send each Event once


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Reporter:
    def __init__(self, kube: Any, workers: int = 4) -> None:
        self.kube = kube
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="events")
        self._sent: dict[tuple[str, str], str] = {}  # (object uid or key, reason) -> last message
        self._lock = threading.Lock()

    def _once(self, key: tuple[str, str], message: str) -> bool:
        with self._lock:
            if self._sent.get(key) == message:
                return False
            if len(self._sent) >= MAX_REMEMBERED:  # long runs: forget the oldest half (dicts keep order)
                for old in list(self._sent)[: MAX_REMEMBERED // 2]:
                    del self._sent[old]
            self._sent[key] = message
            return True

    def pod_event(self, pod: Obj, reason: str, message: str, type_: str = "Normal", dedupe: bool = True) -> None:
        meta = pod["metadata"]
        if dedupe and not self._once((meta.get("uid") or meta["name"], reason), message):
            return
        ref = {"kind": "Pod", "apiVersion": "v1", "namespace": meta.get("namespace", "default"), "name": meta["name"],
               "uid": meta.get("uid", "")}
        self._pool.submit(self._event, ref["namespace"], ref, reason, message, type_)

    def nodepool_event(self, pool: str, reason: str, message: str, type_: str = "Normal") -> None:
        if not self._once((f"nodepool/{pool}", reason), message):
            return
        ref = {"kind": "NodePool", "apiVersion": "provisioner.sh/v1", "name": pool}
        self._pool.submit(self._event, "default", ref, reason, message, type_)

    def node_event(self, node: str, reason: str, message: str, type_: str = "Normal") -> None:
        if not self._once((f"node/{node}", reason), message):
            return
        ref = {"kind": "Node", "apiVersion": "v1", "name": node}
        self._pool.submit(self._event, "default", ref, reason, message, type_)

    def forget(self, pod_uid: str) -> None:
        with self._lock:
            for key in [k for k in self._sent if k[0] == pod_uid]:
                del self._sent[key]

    def _event(self, namespace: str, ref: dict, reason: str, message: str, type_: str) -> None:
        now = _now()
        body = {"apiVersion": "v1", "kind": "Event",
                "metadata": {"generateName": f"{ref['name']}.", "namespace": namespace},
                "involvedObject": ref, "reason": reason, "message": message[:1000], "type": type_,
                "source": {"component": COMPONENT}, "reportingComponent": COMPONENT,
                "reportingInstance": COMPONENT, "firstTimestamp": now, "lastTimestamp": now, "count": 1}
        try:
            self.kube.call("POST", f"/api/v1/namespaces/{namespace}/events", body)
        except Exception as err:  # noqa: BLE001 - an event is best effort
            LOG.warning("event %s on %s/%s not recorded: %s", reason, namespace, ref["name"], err)

    def nodepool_status(self, pool: str, status: dict) -> None:
        self._pool.submit(self._patch_status, pool, status)

    def _patch_status(self, pool: str, status: dict) -> None:
        try:
            self.kube.patch_merge(f"{NODEPOOL_PATH}/{pool}/status", {"status": status}, ok=(404,))
        except Exception as err:  # noqa: BLE001
            LOG.warning("status of NodePool %s not updated: %s", pool, err)

    def flush(self, timeout: float = 30.0) -> None:
        """Wait until what was submitted so far is sent."""
        done = threading.Event()
        self._pool.submit(done.set)
        done.wait(timeout)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=False)


def condition(type_: str, ok: bool, reason: str, message: str) -> dict:
    return {"type": type_, "status": "True" if ok else "False", "reason": reason, "message": message[:1000],
            "lastTransitionTime": _now()}
