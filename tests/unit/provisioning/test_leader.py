"""Lease leader election against an in-memory Lease with resourceVersion checks."""

from __future__ import annotations

import copy

from provisioner.provisioning.leader import LeaseElector


class FakeLeases:
    def __init__(self) -> None:
        self.lease = None
        self.rv = 0

    def request(self, method, path, body=None):
        if method == "GET":
            return (404, None) if self.lease is None else (200, copy.deepcopy(self.lease))
        if method == "POST":
            if self.lease is not None:
                return 409, None
        elif body["metadata"].get("resourceVersion") != self.lease["metadata"]["resourceVersion"]:
            return 409, None
        self.rv += 1
        self.lease = {**copy.deepcopy(body), "metadata": {**body["metadata"], "resourceVersion": str(self.rv)}}
        return (201 if method == "POST" else 200), self.lease


class Clock:
    t = 1_000_000.0

    def __call__(self):
        return self.t


def test_one_leader_and_takeover_after_the_lease_expires():
    api, clock = FakeLeases(), Clock()
    a = LeaseElector(api, "ns", "l", "a", lease_seconds=6, clock=clock)
    b = LeaseElector(api, "ns", "l", "b", lease_seconds=6, clock=clock)
    assert a.try_acquire_or_renew() and not b.try_acquire_or_renew()
    clock.t += 3
    assert a.try_acquire_or_renew() and not b.try_acquire_or_renew()  # renewed: b still waits
    clock.t += 6.5  # a died: no renewal for longer than the lease
    assert not a.leader  # a would stop acting on its own
    assert b.try_acquire_or_renew() and api.lease["spec"]["holderIdentity"] == "b"
    assert api.lease["spec"]["leaseTransitions"] == 1


def test_release_hands_over_at_once():
    api, clock = FakeLeases(), Clock()
    a = LeaseElector(api, "ns", "l", "a", lease_seconds=15, clock=clock)
    b = LeaseElector(api, "ns", "l", "b", lease_seconds=15, clock=clock)
    a.try_acquire_or_renew()
    a.release()
    assert b.try_acquire_or_renew()
