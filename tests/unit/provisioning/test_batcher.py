from provisioner.provisioning.batcher import Batcher
from provisioner.provisioning.capacity_errors import Offering, capacity_failures
from provisioner.provisioning.naming import workload_of


def test_idle_window_closes_a_batch():
    b = Batcher(idle=1.0, max=10.0)
    b.observe({"a"}, 0.0)
    b.observe({"a", "b"}, 0.5)
    assert not b.ready(1.2)
    assert b.ready(1.5)


def test_max_window_closes_a_busy_batch():
    b = Batcher(idle=1.0, max=10.0)
    for t in range(0, 40):
        b.observe({f"p{i}" for i in range(t + 1)}, t * 0.5)
        if b.ready(t * 0.5):
            break
    assert t * 0.5 == 10.0


def test_no_pending_no_batch():
    b = Batcher()
    b.observe(set(), 0.0)
    assert not b.ready(100.0)


def test_capacity_failures_parse_the_fleet_error():
    text = ("stack update failed on s: creating EC2 Fleet: no capacity: InsufficientInstanceCapacity for m6i.large "
            "in us-east-1a (spot); UnfulfillableCapacity for m5.large in us-east-1a (spot)")
    assert capacity_failures(text) == [Offering("m6i.large", "us-east-1a", "spot"),
                                       Offering("m5.large", "us-east-1a", "spot")]


def test_workload_is_the_deployment():
    pod = {"metadata": {"name": "web-7d9f-abcde", "namespace": "shop", "labels": {"pod-template-hash": "7d9f"},
                        "ownerReferences": [{"kind": "ReplicaSet", "name": "web-7d9f", "controller": True}]}}
    assert workload_of(pod) == "shop/web"
