import pytest

from provisioner.catalog.resources import Resources, format_bytes, format_cpu, parse_bytes, parse_cpu


@pytest.mark.parametrize("q,m", [("100m", 100), ("1", 1000), ("1.5", 1500), (2, 2000), ("0.1", 100), ("1e-3", 1)])
def test_cpu(q, m):
    assert parse_cpu(q) == m


@pytest.mark.parametrize("q,b", [("1Gi", 2**30), ("100Mi", 100 * 2**20), ("1G", 10**9), ("128974848", 128974848),
                                 ("129e6", 129000000), ("1.5Gi", 3 * 2**29), ("1k", 1000), ("500m", 1)])
def test_bytes(q, b):
    assert parse_bytes(q) == b


def test_invalid():
    with pytest.raises(ValueError):
        parse_cpu("abc")


def test_format():
    assert format_cpu(1500) == "1500m" and format_cpu(2000) == "2"
    assert format_bytes(2**30) == "1Gi" and format_bytes(3 * 2**29) == "1536Mi"


def test_resources_ops():
    a = Resources.parse({"cpu": "500m", "memory": "1Gi"})
    b = Resources(cpu=250)
    assert (a + b)["cpu"] == 750
    assert (a - b)["cpu"] == 250
    assert a.fits(Resources(cpu=500, memory=2**30, pods=3))
    assert not a.fits(Resources(cpu=499, memory=2**30))
    assert a.exceeding(Resources(cpu=100)) == ["cpu", "memory"]
    assert a == {"cpu": 500, "memory": 2**30} and hash(a) == hash(Resources(dict(a)))
    assert a.scale(2)["memory"] == 2**31
    assert a.to_k8s() == {"cpu": "500m", "memory": "1Gi"}
