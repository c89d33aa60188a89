"""Nodes stay pinned to the NodeClass settings they were launched with; new nodes get the current ones.

A changed NodeClass (a new AMI) must not change any existing node's launch template: the program
would replace every node's EC2 Fleet at once, with no drain. Drift is the disruption controller's job.
"""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from provisioner.catalog.catalog import load_local_catalog
from provisioner.fleet import ownership
from provisioner.fleet.desired import DesiredNodeSet, loads
from provisioner.fleet.guardrails import Guardrails
from provisioner.fleet.plan import plan_fleet
from provisioner.provisioning.planner import decide, settings_version

from .world import SETTINGS, ZONES, pending_pod, world

# valid ids, so that the decided sets pass the validation the stack config goes through
OLD_AMI = replace(SETTINGS, amis={"amd64": "ami-00000000000000001", "arm64": "ami-00000000000000002"},
                  subnets={z: f"subnet-0000000000000000{z[-1]}" for z in ZONES},
                  security_group_ids=("sg-00000000000000001",))
NEW_AMI = replace(OLD_AMI, amis={**OLD_AMI.amis, "amd64": "ami-00000000000000009"})


@pytest.fixture(scope="module")
def catalog():
    return load_local_catalog("us-east-1", zones=ZONES)


def with_settings(w, settings):
    return replace(w, settings={"default": settings})


def first_node(catalog):
    return decide(with_settings(world([pending_pod("0")]), OLD_AMI), catalog, Guardrails(), rng=random.Random(1))


def big_pod(name, desired=None):
    """A pod that fits on no node of `desired` (in flight, empty): too big for the first node, and in a
    zone no node of `desired` is in."""
    used = {z for n in (desired.nodes if desired else ()) for z in n.zones}
    zone = next(z for z in reversed(ZONES) if z not in used)
    return pending_pod(name, cpu="30", memory="8Gi", nodeSelector={"topology.kubernetes.io/zone": zone})


def test_after_an_ami_change_kept_nodes_keep_their_settings_and_new_nodes_use_the_new_ami(catalog):
    first = first_node(catalog)
    old = first.added[0]
    second = decide(with_settings(world([big_pod("1")], desired=first.desired), NEW_AMI), catalog, Guardrails(),
                    rng=random.Random(2))

    assert len(second.added) == 1
    new = second.added[0]
    kept = second.desired.node(old.name)
    assert kept == old and kept.settings == "" and second.desired.node_classes["default"] == OLD_AMI
    key = f"default@{settings_version(NEW_AMI)}"
    assert new.node_class == "default" and new.settings == key and new.settings_key == key
    assert set(second.desired.node_classes) == {"default", key}
    assert second.desired.node_classes[key].amis == NEW_AMI.amis

    before = {s.node.name: s for s in plan_fleet(first.desired).nodes}
    after = {s.node.name: s for s in plan_fleet(second.desired).nodes}
    assert after[old.name] == before[old.name]  # same LaunchTemplateSpec (key), overrides and tags: no diff
    assert after[old.name].template.image_id == "ami-00000000000000001"
    assert after[new.name].template.image_id == "ami-00000000000000009"
    assert after[new.name].template.key != before[old.name].template.key
    assert after[new.name].tags[ownership.NODECLASS] == "default"
    assert loads(second.desired.to_yaml()) == second.desired  # what the stack config records reads back


def test_without_new_nodes_a_changed_node_class_changes_nothing(catalog):
    first = first_node(catalog)
    again = decide(with_settings(world([], desired=first.desired), NEW_AMI), catalog, Guardrails())
    assert not again.changes and again.desired == first.desired


def test_repeated_decisions_reuse_the_versioned_key(catalog):
    first = first_node(catalog)
    second = decide(with_settings(world([big_pod("1")], desired=first.desired), NEW_AMI), catalog, Guardrails(),
                    rng=random.Random(2))
    third = decide(with_settings(world([big_pod("2", second.desired)], desired=second.desired), NEW_AMI), catalog, Guardrails(),
                   rng=random.Random(3))
    assert third.added and {n.settings for n in third.added} == {second.added[0].settings}
    assert third.desired.node_classes == second.desired.node_classes


def test_settings_nobody_uses_any_more_are_dropped(catalog):
    first = first_node(catalog)
    old = first.added[0].name
    second = decide(with_settings(world([big_pod("1")], desired=first.desired), NEW_AMI), catalog, Guardrails(),
                    rng=random.Random(2))
    key = second.added[0].settings
    gone = decide(with_settings(world([], desired=second.desired, expired={old: "drifted"}), NEW_AMI), catalog,
                  Guardrails())
    assert [n.name for n in gone.desired.nodes] == [second.added[0].name]
    assert set(gone.desired.node_classes) == {key}
    assert gone.desired.node_classes[key].amis["amd64"] == "ami-00000000000000009"


def test_a_node_class_changed_back_reuses_the_settings_kept_nodes_hold(catalog):
    first = first_node(catalog)
    second = decide(with_settings(world([big_pod("1")], desired=first.desired), NEW_AMI), catalog, Guardrails(),
                    rng=random.Random(2))
    back = decide(with_settings(world([big_pod("2", second.desired)], desired=second.desired), OLD_AMI), catalog, Guardrails(), rng=random.Random(3))
    assert back.added and all(n.settings == "" for n in back.added)
    assert back.desired.node_classes == second.desired.node_classes


def test_the_plain_name_is_taken_again_once_free(catalog):
    first = first_node(catalog)
    old = first.added[0].name
    d = decide(with_settings(world([big_pod("1")], desired=first.desired, expired={old: "drifted"}), NEW_AMI),
               catalog, Guardrails(), rng=random.Random(2))
    assert [n.settings for n in d.desired.nodes] == [""]
    assert d.desired.node_classes == {"default": NEW_AMI}


def test_a_node_class_that_cannot_be_resolved_now_keeps_its_recorded_settings(catalog):
    first = first_node(catalog)
    d = decide(replace(world([], desired=first.desired), settings={}), catalog, Guardrails())
    assert d.desired == first.desired and d.desired.node_classes == {"default": OLD_AMI}


def test_a_hand_built_set_without_recorded_settings_gets_the_current_ones(catalog):
    first = first_node(catalog)
    bare = DesiredNodeSet("test", "us-east-1", {}, first.desired.nodes)
    d = decide(world([], desired=bare), catalog, Guardrails())
    assert d.desired.node_classes == {"default": SETTINGS}
