"""Leader election on a coordination.k8s.io/v1 Lease (raw JSON, optimistic concurrency).

The holder renews every `renew` seconds; another replica takes the lease once
`renewTime + leaseDurationSeconds` has passed. A leader that cannot renew within the lease
duration stops acting before anyone else can start.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from typing import Any, Callable

LOG = logging.getLogger("provisioner.leader")


def _micro(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse(s: str | None) -> float:
    if not s:
        return 0.0
    s = s.replace("Z", "+00:00")
    return dt.datetime.fromisoformat(s).timestamp()


class LeaseElector:
    def __init__(self, kube: Any, namespace: str, name: str, identity: str, lease_seconds: float = 15.0,
                 renew_seconds: float = 2.0, clock: Callable[[], float] = time.time,
                 on_change: Callable[[bool], None] | None = None) -> None:
        self.kube = kube
        self.path = f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"
        self.namespace, self.name, self.identity = namespace, name, identity
        self.lease_seconds = lease_seconds
        self.renew_seconds = renew_seconds
        self.clock = clock
        self.on_change = on_change
        self._leader = False
        self._last_renew = 0.0

    @property
    def leader(self) -> bool:
        # Stop acting as soon as our own renewals are older than the lease: someone else may hold it now.
        return self._leader and self.clock() - self._last_renew < self.lease_seconds

    def _body(self, now: float, transitions: int, acquire: float, rv: str | None = None) -> dict:
        meta: dict = {"name": self.name, "namespace": self.namespace}
        if rv:
            meta["resourceVersion"] = rv
        return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": meta,
                "spec": {"holderIdentity": self.identity, "leaseDurationSeconds": int(self.lease_seconds),
                         "acquireTime": _micro(acquire), "renewTime": _micro(now), "leaseTransitions": transitions}}

    def try_acquire_or_renew(self) -> bool:
        now = self.clock()
        status, lease = self.kube.request("GET", f"{self.path}/{self.name}")
        if status == 404:
            status, _ = self.kube.request("POST", self.path, self._body(now, 0, now))
            return self._set(status == 201, now)
        if status != 200:
            return self._set(False, now, keep=True)
        spec = lease.get("spec") or {}
        holder = spec.get("holderIdentity") or ""
        rv = lease["metadata"]["resourceVersion"]
        transitions = int(spec.get("leaseTransitions") or 0)
        if holder == self.identity:
            body = self._body(now, transitions, _parse(spec.get("acquireTime")) or now, rv)
        else:
            expires = _parse(spec.get("renewTime")) + float(spec.get("leaseDurationSeconds") or self.lease_seconds)
            if holder and now < expires:
                return self._set(False, now)
            body = self._body(now, transitions + 1, now, rv)
        status, _ = self.kube.request("PUT", f"{self.path}/{self.name}", body)
        return self._set(status == 200, now, keep=status >= 500)

    def _set(self, ok: bool, now: float, keep: bool = False) -> bool:
        was = self.leader
        if ok:
            self._leader, self._last_renew = True, now
        elif not keep:
            self._leader = False
        if was != self.leader:
            LOG.info("%s %s the lease %s/%s", self.identity, "acquired" if self.leader else "lost",
                     self.namespace, self.name)
            if self.on_change:
                self.on_change(self.leader)
        return self.leader

    def release(self) -> None:
        """Give the lease up at shutdown so that another replica takes over at once."""
        if not self._leader:
            return
        status, lease = self.kube.request("GET", f"{self.path}/{self.name}")
        if status == 200 and (lease.get("spec") or {}).get("holderIdentity") == self.identity:
            lease["spec"]["holderIdentity"] = ""
            lease["spec"]["renewTime"] = _micro(0)
            self.kube.request("PUT", f"{self.path}/{self.name}", lease)
        self._leader = False

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.try_acquire_or_renew()
            except Exception as err:  # noqa: BLE001 - the API server may be briefly away
                LOG.warning("lease %s: %s", self.name, err)
            stop.wait(self.renew_seconds)

    def start(self, stop: threading.Event) -> threading.Thread:
        t = threading.Thread(target=self.run, args=(stop,), name="leader", daemon=True)
        t.start()
        return t
