"""The provisioning decision on hand-built cluster states (no cluster, no cloud)."""

from __future__ import annotations

import random
import re

import pytest

from provisioner.catalog.catalog import load_local_catalog
from provisioner.fleet.guardrails import Guardrails
from provisioner.provisioning.planner import decide

from .world import ZONES, pending_pod, world


@pytest.fixture(scope="module")
def catalog():
    return load_local_catalog("us-east-1", zones=ZONES)


def test_pending_pods_become_new_nodes_with_a_message(catalog):
    pods = [pending_pod(str(i)) for i in range(10)]
    d = decide(world(pods), catalog, Guardrails(), rng=random.Random(1))

    assert d.added and not d.unschedulable
    assert set(d.nominations) == {f"web/frontend-abc12-{i}" for i in range(10)}
    assert set(d.nominations.values()) == {n.name for n in d.added}
    for n in d.added:
        assert re.fullmatch(r"default-[a-z]{5}", n.name)
        assert n.node_pool == "default" and n.node_class == "default" and n.labels == {"workload": "general"}
        assert n.architecture == "amd64" and len(n.zones) == 1 and n.capacity_type in ("spot", "on-demand")
    assert re.fullmatch(r"scale-up: \+\d+ nodes? \(.+\) for 10 pending pods in web/frontend, \+\$\d+\.\d\d/h",
                        d.message), d.message
    assert d.desired.nodes == d.added and set(d.desired.node_classes) == {"default"}


def test_in_flight_nodes_count_as_capacity(catalog):
    pods = [pending_pod(str(i)) for i in range(10)]
    first = decide(world(pods), catalog, Guardrails(), rng=random.Random(1))
    # nothing registered yet, the same pods still pending: nothing more to launch
    again = decide(world(pods, desired=first.desired), catalog, Guardrails())
    assert not again.changes and again.desired == first.desired
    assert set(again.nominations.values()) <= {n.name for n in first.added}


def test_denied_family_is_avoided(catalog):
    pods = [pending_pod(str(i), cpu="3") for i in range(4)]
    free = decide(world(pods), catalog, Guardrails(), rng=random.Random(1))
    family = free.added[0].instance_types[0].split(".")[0]
    denied = Guardrails(denied_families=(family,))
    d = decide(world(pods), catalog, denied, rng=random.Random(1))
    assert d.added
    assert all(not t.startswith(family + ".") for n in d.added for t in n.instance_types)


def test_max_nodes_caps_the_scale_up_and_says_why(catalog):
    pods = [pending_pod(str(i), cpu="1500m", memory="1Gi",
                        topologySpreadConstraints=[{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                                                    "whenUnsatisfiable": "DoNotSchedule",
                                                    "labelSelector": {"matchLabels": {"app": "frontend"}}}])
            for i in range(5)]
    d = decide(world(pods), catalog, Guardrails(max_nodes=2), rng=random.Random(1))
    assert len(d.added) == 2
    assert len(d.unschedulable) == 3 and all("maxNodes=2" in r for r in d.unschedulable.values())


def test_impossible_pod_gets_a_reason_and_no_node(catalog):
    d = decide(world([pending_pod("big", cpu="500")]), catalog, Guardrails())
    assert not d.added and "web/frontend-abc12-big" in d.unschedulable
    assert "exceed" in d.unschedulable["web/frontend-abc12-big"]


def test_expired_node_is_removed_with_its_reason(catalog):
    pods = [pending_pod("0")]
    first = decide(world(pods), catalog, Guardrails(), rng=random.Random(1))
    gone = first.added[0].name
    d = decide(world([], desired=first.desired, expired={gone: "not registered within 15m"}), catalog, Guardrails())
    assert d.removed == {gone: "not registered within 15m"} and not d.desired.nodes
    assert d.message.startswith("remove: -1 node (1x not registered within 15m), -$")
