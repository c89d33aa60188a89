from provisioner.catalog.catalog import is_exotic, load_local_catalog
from provisioner.catalog.pricing import LocalPriceSource, spot_fraction, us_east_1_on_demand
from provisioner.catalog.unavailable import UnavailableOfferings


def test_on_demand_table_and_region_multiplier():
    assert us_east_1_on_demand()["m5.large"] > 0
    east, frankfurt = LocalPriceSource("us-east-1"), LocalPriceSource("eu-central-1")
    assert east.on_demand("m5.large") == us_east_1_on_demand()["m5.large"]
    assert frankfurt.on_demand("m5.large") > east.on_demand("m5.large")
    assert east.on_demand("no-such.type") is None


def test_spot_model_is_deterministic_bounded_and_moves_with_epoch():
    src = LocalPriceSource("us-east-1")
    od = src.on_demand("m5.large")
    s1 = src.spot("m5.large", "us-east-1a")
    assert s1 == LocalPriceSource("us-east-1").spot("m5.large", "us-east-1a")
    assert 0.25 * od - 1e-6 <= s1 <= 0.45 * od + 1e-6
    assert s1 != src.spot("m5.large", "us-east-1b")
    assert s1 != LocalPriceSource("us-east-1", epoch=1).spot("m5.large", "us-east-1a")
    fractions = [spot_fraction(t, "us-east-1a") for t in list(us_east_1_on_demand())[:500]]
    assert 0.25 <= min(fractions) and max(fractions) <= 0.45


def test_unavailable_offerings_expire():
    now = [100.0]
    cache = UnavailableOfferings(clock=lambda: now[0])
    cache.mark("m5.large", "us-east-1a", "spot")
    assert cache.is_unavailable("m5.large", "us-east-1a", "spot")
    assert not cache.is_unavailable("m5.large", "us-east-1a", "on-demand")
    now[0] += 179
    assert cache.is_unavailable("m5.large", "us-east-1a", "spot")
    now[0] += 2
    assert not cache.is_unavailable("m5.large", "us-east-1a", "spot")
    assert len(cache) == 0


def test_local_catalog():
    cat = load_local_catalog("us-east-1")
    assert len(cat.instance_types) >= 400
    assert set(cat.zones) >= {"us-east-1a", "us-east-1b", "us-east-1c"}
    assert is_exotic(cat.instance_types["m5.metal"]) and is_exotic(cat.instance_types["g5.xlarge"])
    assert not is_exotic(cat.instance_types["m5.large"])
    spot = [o for o in cat.offerings if o.instance_type == "m5.large" and o.capacity_type == "spot"]
    assert spot and all(o.price < LocalPriceSource().on_demand("m5.large") for o in spot)
    cache = UnavailableOfferings()
    cache.mark("m5.large", "us-east-1a", "spot")
    left = [o for o in cat.available_offerings(cache) if o.instance_type == "m5.large"]
    assert ("us-east-1a", "spot") not in {(o.zone, o.capacity_type) for o in left}
