import threading

import pytest

from provisioner.localcloud.capacity import CapacityError, CapacityRegistry, priority_order


def test_error_validates_fields():
    with pytest.raises(ValueError, match="capacity_type"):
        CapacityError("m6i.large", "us-east-1a", "reserved")
    with pytest.raises(ValueError, match="error_code"):
        CapacityError("m6i.large", "us-east-1a", "spot", "Nope")
    with pytest.raises(ValueError, match="instance_type"):
        CapacityError("", "us-east-1a", "spot")


def test_json_round_trip_and_defaults():
    err = CapacityError.from_json({"instance_type": "c7g.large"})
    assert err == CapacityError("c7g.large", "*", "*", "InsufficientInstanceCapacity")
    assert CapacityError.from_json(err.to_json()) == err
    with pytest.raises(ValueError, match="unknown fields"):
        CapacityError.from_json({"instance_type": "c7g.large", "region": "x"})


def test_wildcards_match():
    err = CapacityError("m6i.large", "*", "spot")
    assert err.matches("m6i.large", "us-east-1f", "spot")
    assert not err.matches("m6i.large", "us-east-1f", "on-demand")
    assert not err.matches("m6i.xlarge", "us-east-1f", "spot")
    assert CapacityError("*", "us-east-1a", "*").matches("x.y", "us-east-1a", "on-demand")


def test_registry_lookup_reports_the_concrete_offering():
    registry = CapacityRegistry()
    registry.add(CapacityError("m6i.large", "*", "*", "UnfulfillableCapacity"))
    registry.add(CapacityError("m6i.large", "*", "*", "UnfulfillableCapacity"))
    assert len(registry.list()) == 1
    found = registry.lookup("m6i.large", "us-east-1b", "spot")
    assert found == CapacityError("m6i.large", "us-east-1b", "spot", "UnfulfillableCapacity")
    assert "us-east-1b" not in found.message()  # UnfulfillableCapacity's text names no zone
    assert registry.lookup("m6i.xlarge", "us-east-1b", "spot") is None
    registry.clear()
    assert registry.list() == []


def test_ice_message_names_type_and_zone():
    msg = CapacityError("m6i.large", "us-east-1a", "spot").message()
    assert "m6i.large" in msg and "us-east-1a" in msg


def test_registry_is_thread_safe():
    registry = CapacityRegistry()

    def add(n: int) -> None:
        for i in range(200):
            registry.add(CapacityError(f"t{n}.{i}", "*", "*"))

    threads = [threading.Thread(target=add, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(registry.list()) == 800


def test_priority_order_lowest_first_then_listed_unset_last():
    overrides = [{"Priority": 2}, {}, {"Priority": 1.0}, {"Priority": 2}, {"Priority": "0.5"}]
    assert priority_order(overrides) == [4, 2, 0, 3, 1]
    assert priority_order([{}, {}, {}]) == [0, 1, 2]
