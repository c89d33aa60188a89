"""Instance prices: on-demand and spot, USD per hour, as data behind one interface.

Offline/local sources:
* on-demand: the bundled us-east-1 Linux price table (``data/ec2-on-demand-prices-us-east-1.csv``,
  AWS price list snapshot of 2026-07-20) times a regional multiplier (``REGION_MULTIPLIER``,
  an approximation of how AWS regional list prices compare to us-east-1; unknown regions use
  ``DEFAULT_REGION_MULTIPLIER``).
* spot: a deterministic model. For each (instance type, zone) a number u in [0, 1) is drawn
  from SHA-256 of ``"{seed}/{epoch}/{type}/{zone}"`` and the spot price is
  ``on_demand * (0.25 + 0.20 * u)``, i.e. 25-45% of on-demand, as AWS spot prices typically
  are. Changing ``epoch`` moves the prices, as the spot market does: callers must read spot
  prices from the source each time, never cache them as constants.

Production: ``AwsPriceSource`` reads the AWS Price List API and DescribeSpotPriceHistory
(boto3) and falls back to the local table. It is not exercised offline.
"""

from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any, Protocol

SPOT_MIN_FRACTION = 0.25
SPOT_MAX_FRACTION = 0.45
DEFAULT_REGION_MULTIPLIER = 1.15
REGION_MULTIPLIER = {
    "us-east-1": 1.00, "us-east-2": 1.00, "us-west-2": 1.00, "us-west-1": 1.17,
    "ca-central-1": 1.10, "eu-west-1": 1.11, "eu-west-2": 1.16, "eu-west-3": 1.16,
    "eu-central-1": 1.19, "eu-north-1": 1.06, "eu-south-1": 1.17, "ap-south-1": 1.05,
    "ap-northeast-1": 1.28, "ap-northeast-2": 1.23, "ap-northeast-3": 1.28,
    "ap-southeast-1": 1.24, "ap-southeast-2": 1.25, "ap-east-1": 1.38, "sa-east-1": 1.58,
    "me-south-1": 1.25, "af-south-1": 1.32,
}


class PriceSource(Protocol):
    def on_demand(self, instance_type: str) -> float | None: ...

    def spot(self, instance_type: str, zone: str) -> float | None: ...


@lru_cache(maxsize=1)
def us_east_1_on_demand() -> dict[str, float]:
    ref = resources.files("provisioner.catalog").joinpath("data", "ec2-on-demand-prices-us-east-1.csv")
    with ref.open("r", encoding="utf-8") as f:
        return {r["instance_type"]: float(r["on_demand_usd_per_hour"]) for r in csv.DictReader(f)}


def spot_fraction(instance_type: str, zone: str, seed: int = 0, epoch: int = 0) -> float:
    digest = hashlib.sha256(f"{seed}/{epoch}/{instance_type}/{zone}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    return SPOT_MIN_FRACTION + (SPOT_MAX_FRACTION - SPOT_MIN_FRACTION) * u


@dataclass(frozen=True)
class LocalPriceSource:
    """Bundled on-demand table x regional multiplier; deterministic spot model."""

    region: str = "us-east-1"
    seed: int = 0
    epoch: int = 0

    @property
    def multiplier(self) -> float:
        return REGION_MULTIPLIER.get(self.region, DEFAULT_REGION_MULTIPLIER)

    def on_demand(self, instance_type: str) -> float | None:
        base = us_east_1_on_demand().get(instance_type)
        return None if base is None else round(base * self.multiplier, 6)

    def spot(self, instance_type: str, zone: str) -> float | None:
        od = self.on_demand(instance_type)
        if od is None:
            return None
        return round(od * spot_fraction(instance_type, zone, self.seed, self.epoch), 6)


class AwsPriceSource:
    """Live prices from AWS (Price List API in us-east-1, DescribeSpotPriceHistory in the
    region), falling back to `fallback` for anything missing. Needs credentials; not used
    in local mode or tests."""

    def __init__(self, session: Any, region: str, fallback: PriceSource | None = None) -> None:
        self._session = session
        self._region = region
        self._fallback = fallback or LocalPriceSource(region)
        self._od: dict[str, float] | None = None
        self._spot: dict[tuple[str, str], float] | None = None

    def on_demand(self, instance_type: str) -> float | None:
        if self._od is None:
            self._od = self._load_on_demand()
        return self._od.get(instance_type) or self._fallback.on_demand(instance_type)

    def spot(self, instance_type: str, zone: str) -> float | None:
        if self._spot is None:
            self._spot = self._load_spot()
        return self._spot.get((instance_type, zone)) or self._fallback.spot(instance_type, zone)

    def refresh(self) -> None:
        self._od = None
        self._spot = None

    def _load_on_demand(self) -> dict[str, float]:
        client = self._session.client("pricing", region_name="us-east-1")
        filters = [
            {"Type": "TERM_MATCH", "Field": "regionCode", "Value": self._region},
            {"Type": "TERM_MATCH", "Field": "operatingSystem", "Value": "Linux"},
            {"Type": "TERM_MATCH", "Field": "tenancy", "Value": "Shared"},
            {"Type": "TERM_MATCH", "Field": "preInstalledSw", "Value": "NA"},
            {"Type": "TERM_MATCH", "Field": "capacitystatus", "Value": "Used"},
        ]
        out: dict[str, float] = {}
        for page in client.get_paginator("get_products").paginate(ServiceCode="AmazonEC2", Filters=filters):
            for raw in page["PriceList"]:
                product = json.loads(raw)
                name = product["product"]["attributes"].get("instanceType")
                for term in product.get("terms", {}).get("OnDemand", {}).values():
                    for dim in term["priceDimensions"].values():
                        usd = float(dim["pricePerUnit"].get("USD", 0))
                        if name and usd > 0:
                            out[name] = usd
        return out

    def _load_spot(self) -> dict[tuple[str, str], float]:
        client = self._session.client("ec2", region_name=self._region)
        out: dict[tuple[str, str], float] = {}
        paginator = client.get_paginator("describe_spot_price_history")
        for page in paginator.paginate(ProductDescriptions=["Linux/UNIX"], MaxResults=1000):
            for row in page["SpotPriceHistory"]:
                key = (row["InstanceType"], row["AvailabilityZone"])
                out.setdefault(key, float(row["SpotPrice"]))  # newest first
        return out
