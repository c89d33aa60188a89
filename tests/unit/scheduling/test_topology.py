from provisioner.scheduling.convert import effective_requests
from provisioner.scheduling.topology import waterfill


def test_waterfill_levels_domains():
    assert waterfill({"a": 0, "b": 0, "c": 0}, set(), 300, 1) == {"a": 100, "b": 100, "c": 100}
    assert waterfill({"a": 5, "b": 0, "c": 2}, set(), 4, 1) == {"b": 3, "c": 1}


def test_waterfill_blocked_domain_caps_the_rest():
    assert waterfill({"a": 5, "b": 0, "c": 2}, {"b"}, 10, 1) == {}
    assert waterfill({"a": 0, "b": 0}, {"b"}, 10, 2) == {"a": 2}


def test_waterfill_min_domains_treats_global_min_as_zero():
    assert waterfill({"a": 0, "b": 0}, set(), 5, 1, global_min_zero=True) == {"a": 1, "b": 1}


def test_effective_requests_init_sidecars_overhead():
    spec = {"containers": [{"resources": {"requests": {"cpu": "1", "memory": "1Gi"}}}],
            "initContainers": [{"resources": {"requests": {"cpu": "500m"}}, "restartPolicy": "Always"},
                               {"resources": {"requests": {"cpu": "3"}}}],
            "overhead": {"cpu": "100m"}}
    r = effective_requests(spec)
    assert r["cpu"] == 3500 + 100  # init 3 + sidecar 0.5 started before it, + overhead
    assert r["memory"] == 2**30 and r["pods"] == 1
    limits_only = effective_requests({"containers": [{"resources": {"limits": {"cpu": "2"}}}]})
    assert limits_only["cpu"] == 2000
