"""The loop's I/O decisions with a fake stack and a hand-filled store: capacity re-plan, policy backoff,
expiry of nodes that never register, no double launch."""

from __future__ import annotations

import pytest

from provisioner.fleet.guardrails import Guardrails
from provisioner.provisioning.config import LoopConfig
from provisioner.provisioning.reconciler import Reconciler
from provisioner.stack.changes import ChangeSet
from provisioner.stack.operations import ApplyResult, PolicyViolationError, StackOperationError
from provisioner.state.store import Store

from .world import SETTINGS, pending_pod, pools


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


class FakeFleet:
    name = "s"

    def __init__(self) -> None:
        self.applied = []
        self.errors: list[Exception] = []
        self.desired = None

    def guardrails(self):
        return Guardrails()

    def current_desired(self):
        return self.desired

    def export(self):
        nodes = self.desired.nodes if self.desired else ()
        return {"resources": [{"type": "aws:ec2/fleet:Fleet", "urn": f"urn::node-{n.name}",
                               "outputs": {"fleetInstanceSets": [{"instanceIds": ["i-1"],
                                                                  "instanceType": n.instance_types[0],
                                                                  "lifecycle": n.capacity_type}]}} for n in nodes]}

    def preview(self, desired):
        return ChangeSet()

    def apply(self, desired, message):
        self.applied.append((desired, message))
        if self.errors:
            raise self.errors.pop(0)
        self.desired = desired
        outputs = {"nodes": {n.name: {"instances": [{"instanceIds": ["i-1"], "instanceType": n.instance_types[0],
                                                      "lifecycle": n.capacity_type}]} for n in desired.nodes}}
        return ApplyResult(len(self.applied), ChangeSet(), message, 0.1, outputs)


class FakeResolver:
    def settings(self, classes, versions):
        return {"default": SETTINGS}

    problems: dict = {}


@pytest.fixture
def setup():
    store = Store()
    nps, ncs = pools("default")
    from provisioner.api import to_manifest

    store.replace("nodepools", [to_manifest(p) for p in nps])
    store.replace("nodeclasses", [to_manifest(c) for c in ncs])
    store.replace("nodes", [])
    store.replace("pods", [pending_pod(str(i)) for i in range(4)])
    clock, fleet = Clock(), FakeFleet()
    cfg = LoopConfig(cluster="test", backoff_initial_seconds=2.0)
    rec = Reconciler(cfg, store, fleet, ec2=None, reporter=None, clock=clock, recover=lambda: None)
    rec.resolver = FakeResolver()
    rec.start()
    return rec, store, fleet, clock


def settle(rec, clock):
    rec.tick()
    clock.t += 1.5
    return rec.tick()


def test_one_batch_one_update_then_nothing_while_in_flight(setup):
    rec, store, fleet, clock = setup
    result = settle(rec, clock)
    assert result.version == 1 and len(fleet.applied) == 1
    assert "for 4 pending pods in web/frontend" in fleet.applied[0][1]
    for _ in range(5):  # still pending, nodes not registered: nominated, handled, no second launch
        clock.t += 2
        rec.tick()
    assert len(fleet.applied) == 1


def test_capacity_error_marks_offerings_and_replans_in_the_same_round(setup):
    rec, store, fleet, clock = setup
    real = fleet.apply

    def apply(desired, message):
        if not fleet.applied:  # make the failing attempt name an offering the plan really uses
            n = desired.nodes[0]
            fleet.errors = [StackOperationError(
                f"creating EC2 Fleet: no capacity: InsufficientInstanceCapacity for {n.instance_types[0]} in "
                f"{n.zones[0]} ({n.capacity_type})")]
        return real(desired, message)

    fleet.apply = apply
    result = settle(rec, clock)
    assert result.replans == 1 and result.version == 2
    first, second = fleet.applied[0][0].nodes[0], fleet.applied[1][0].nodes[0]
    assert rec.unavailable.is_unavailable(first.instance_types[0], first.zones[0], first.capacity_type)
    assert (second.instance_types[0], second.zones[0], second.capacity_type) != (
        first.instance_types[0], first.zones[0], first.capacity_type)


def test_policy_rejection_backs_off(setup):
    rec, store, fleet, clock = setup
    fleet.errors = [PolicyViolationError("rejected by policy: [fleet-guard/allowed-instance-types] no")] * 3
    settle(rec, clock)
    assert len(fleet.applied) == 1 and rec.backoff_until > clock.t
    clock.t += 1
    rec.tick()
    assert len(fleet.applied) == 1  # still backing off
    clock.t += 2
    rec.tick()
    assert len(fleet.applied) == 2 and rec.backoff == 8.0


def test_node_that_never_registers_is_removed_with_the_reason(setup):
    rec, store, fleet, clock = setup
    settle(rec, clock)
    store.replace("pods", [])
    added = [n.name for n in fleet.desired.nodes]
    clock.t += 901
    result = rec.tick()
    assert sorted(result.removed) == sorted(added) and not fleet.desired.nodes
    assert "not registered within 15m" in fleet.applied[-1][1]
