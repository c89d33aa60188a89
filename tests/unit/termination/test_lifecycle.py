from dataclasses import dataclass

import pytest

from provisioner.fleet.desired import DesiredNode, DesiredNodeSet, NodeClassSettings
from provisioner.termination import lifecycle as L


def desired(*names):
    nc = NodeClassSettings(name="default", amis={"amd64": "ami-1"}, subnets={"us-east-1a": "subnet-1"})
    nodes = tuple(DesiredNode(name=n, node_pool="pool", node_class="default", instance_types=("m5.large",),
                              capacity_type="spot", zones=("us-east-1a",), reason="scale-up") for n in names)
    return DesiredNodeSet(cluster="c", region="us-east-1", node_classes={"default": nc}, nodes=nodes)


@dataclass
class Record:
    version: int
    message: str
    result: str = "succeeded"


@dataclass
class Applied:
    version: int


class FakeFleet:
    def __init__(self):
        self.records: list[Record] = []
        self.applied: list[DesiredNodeSet] = []

    def apply(self, d, message):
        self.applied.append(d)
        self.records.append(Record(len(self.records) + 1, message))
        return Applied(len(self.records))

    def history(self, limit=None):
        return list(reversed(self.records))[:limit]


def test_messages():
    assert L.draining_message("pool-a", "Empty", 0.096) == "disruption: draining pool-a (Empty, saves $0.10/h)"
    assert L.removed_message("pool-a", "Empty", 7) == "disruption: removed pool-a (Empty) after drain started in update #7"
    assert L.removed_message("pool-a", "Empty", None) == "disruption: removed pool-a (Empty)"


def test_mark_draining_changes_only_that_node():
    d = L.mark_draining(desired("a", "b"), "a", "Empty")
    assert [(n.name, n.state, n.reason) for n in d.nodes] == [("a", "draining", "Empty"), ("b", "active", "scale-up")]


def test_mark_draining_unknown_node():
    with pytest.raises(KeyError):
        L.mark_draining(desired("a"), "zz", "Empty")


def test_without_node():
    assert [n.name for n in L.without_node(desired("a", "b"), "a").nodes] == ["b"]


def test_drain_version_in_history_newest_first_ignores_failures_and_other_nodes():
    history = [Record(9, "disruption: draining a (Empty, saves $1.00/h)", "failed"),
               Record(8, "disruption: draining ab (Empty, saves $1.00/h)"),
               Record(5, "disruption: draining a (Drifted, saves $0.00/h)"),
               Record(3, "disruption: draining a (Empty, saves $1.00/h)")]
    assert L.drain_version_in(history, "a") == 5
    assert L.drain_version_in(history, "b") is None


def test_start_drain_then_remove_are_two_updates_that_reference_each_other():
    fleet = FakeFleet()
    fleet.apply(desired("a", "b"), "scale-up: +2 nodes")
    started = L.start_drain(fleet, desired("a", "b"), "a", "Empty", 0.5)
    assert started.version == 2 and started.message == "disruption: draining a (Empty, saves $0.50/h)"
    assert fleet.applied[-1].node("a").state == "draining"
    removed = L.remove(fleet, started.desired, "a")
    assert removed.version == 3
    assert removed.message == "disruption: removed a (Empty) after drain started in update #2"
    assert [n.name for n in fleet.applied[-1].nodes] == ["b"]
    assert fleet.applied[-1].node("b").state == "active"


def test_remove_with_explicit_drain_version_and_no_recorded_reason():
    fleet = FakeFleet()
    removed = L.remove(fleet, desired("a"), "a", drain_version=4)
    assert removed.message == "disruption: removed a (scale-up) after drain started in update #4"


class FakeKube:
    def __init__(self, status):
        self.status, self.calls = status, []

    def request(self, method, path, body=None, query=None):
        self.calls.append((method, path))
        return self.status, {}


def test_delete_node():
    assert L.delete_node(FakeKube(200), "a") is True
    assert L.delete_node(FakeKube(404), "a") is False
    with pytest.raises(RuntimeError):
        L.delete_node(FakeKube(500), "a")


def test_messages_of_a_replacement_reference_each_other():
    assert L.launch_message(["p-new"], ["p-a", "p-b"], "Underutilized", "replace 2x m5.xlarge with 1x m5.large") == \
        "disruption: launching p-new to replace p-a, p-b (Underutilized: replace 2x m5.xlarge with 1x m5.large)"
    assert L.draining_message(["p-a", "p-b"], "Underutilized", 0.2, ["p-new"], 12) == \
        "disruption: draining p-a, p-b (Underutilized, saves $0.20/h; replaced by p-new launched in update #12)"
    assert L.removed_message(["p-a", "p-b"], "Underutilized", 13) == \
        "disruption: removed p-a, p-b (Underutilized) after drain started in update #13"


def test_several_nodes_drain_and_go_together():
    d = L.mark_draining(desired("a", "b", "c"), ["a", "c"], "Drifted")
    assert [n.state for n in d.nodes] == ["draining", "active", "draining"]
    assert [n.name for n in L.without_node(d, ["a", "c"]).nodes] == ["b"]


def test_drain_version_found_for_any_node_of_a_multi_node_drain():
    history = [Record(14, "disruption: removed x (Empty) after drain started in update #9"),
               Record(13, "disruption: draining p-a, p-b (Underutilized, saves $0.20/h)"),
               Record(12, "disruption: draining p-bb (Empty, saves $0.10/h)")]
    assert L.drain_version_in(history, "p-b") == 13
    assert L.drain_version_in(history, "p-a") == 13
    assert L.drain_version_in(history, "p-bb") == 12
    assert L.drain_version_in(history, "p") is None


def test_replacements_launched_are_read_back_from_the_history():
    from datetime import datetime, timezone

    at = datetime(2026, 12, 4, 12, 0, tzinfo=timezone.utc)

    @dataclass
    class Entry:
        version: int
        message: str
        end_time: datetime
        result: str = "succeeded"

    history = [Entry(3, "disruption: removed a (Underutilized) after drain started in update #2", at),
               Entry(2, "disruption: launching p-x, p-y to replace a, b (Drifted: AMI changed)", at),
               Entry(1, "disruption: launching p-z to replace c (Expired: old)", at, result="failed")]
    assert L.replacements_launched(history) == {"p-x": at, "p-y": at}
