from datetime import datetime, timedelta, timezone

from provisioner.api.types import NodePool
from provisioner.disruption.expiration import expired, format_age

NOW = datetime(2026, 3, 31, 12, 0, tzinfo=timezone.utc)
HOUR = timedelta(hours=1)


def node(name, age, pool="web", ours=True, deleting=False, created=True):
    meta = {"name": name, "labels": {"provisioner.sh/nodepool": pool} if pool else {}}
    if created:
        meta["creationTimestamp"] = (NOW - age).strftime("%Y-%m-%dT%H:%M:%SZ")
    if deleting:
        meta["deletionTimestamp"] = NOW.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"metadata": meta, "spec": {"providerID": f"aws:///us-east-1a/i-{name}" if ours else f"kind://{name}"}}


def pools(**expire_after):
    return {name: NodePool(name=name, expire_after=after) for name, after in expire_after.items()}


def test_a_node_expires_when_its_age_reaches_expire_after():
    p = pools(web=720 * HOUR)
    assert expired([node("a", 720 * HOUR - timedelta(minutes=1))], p, NOW) == {}
    assert expired([node("a", 720 * HOUR)], p, NOW) == {"a": "expired: age 720h0m ≥ expireAfter 720h"}
    assert expired([node("a", 721 * HOUR)], p, NOW) == {"a": "expired: age 721h0m ≥ expireAfter 720h"}


def test_each_node_uses_its_own_pools_expire_after():
    p = pools(web=720 * HOUR, batch=timedelta(hours=1, minutes=30))
    nodes = [node("w", 100 * HOUR), node("b", 2 * HOUR + timedelta(minutes=5), pool="batch")]
    assert expired(nodes, p, NOW) == {"b": "expired: age 2h5m ≥ expireAfter 1h30m"}


def test_never_unknown_pool_foreign_deleting_and_undated_nodes_do_not_expire():
    p = pools(web=HOUR, never=None)
    nodes = [node("never", 10_000 * HOUR, pool="never"), node("orphan", 10 * HOUR, pool="gone"),
             node("kind", 10 * HOUR, ours=False), node("going", 10 * HOUR, deleting=True),
             node("undated", 10 * HOUR, created=False), node("unpooled", 10 * HOUR, pool=None)]
    assert expired(nodes, p, NOW) == {}


def test_oldest_first():
    p = pools(web=HOUR)
    nodes = [node("b", 3 * HOUR), node("c", 5 * HOUR), node("a", 3 * HOUR), node("young", HOUR / 2)]
    assert list(expired(nodes, p, NOW)) == ["c", "a", "b"]


def test_creation_timestamps_as_the_api_server_and_clients_write_them():
    p = pools(web=HOUR)
    offset = {"metadata": {"name": "o", "labels": {"provisioner.sh/nodepool": "web"},
                           "creationTimestamp": "2026-03-31T13:00:00+02:00"}, "spec": {"providerID": "aws:///x/i-o"}}
    parsed = {"metadata": {"name": "p", "labels": {"provisioner.sh/nodepool": "web"},
                           "creationTimestamp": NOW - 2 * HOUR}, "spec": {"providerID": "aws:///x/i-p"}}
    assert expired([offset, parsed], p, NOW) == {"o": "expired: age 1h0m ≥ expireAfter 1h",
                                                 "p": "expired: age 2h0m ≥ expireAfter 1h"}


def test_age_is_written_in_hours_and_minutes():
    assert format_age(timedelta(minutes=5, seconds=59)) == "0h5m"
    assert format_age(timedelta(days=30, hours=1)) == "721h0m"
