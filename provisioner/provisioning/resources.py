"""NodePools and NodeClasses from the store, resolved NodeClass settings, and the catalog to plan from."""

from __future__ import annotations

import logging
from typing import Any

from provisioner.api import NodeClass, NodePool, ValidationError, load_documents
from provisioner.catalog.catalog import Catalog, load_local_catalog
from provisioner.cloud.nodeclass import NodeClassError, resolve
from provisioner.fleet.desired import NodeClassSettings
from provisioner.fleet.guardrails import Guardrails
from provisioner.state.kinds import Obj

LOG = logging.getLogger("provisioner.resources")
API_VERSION = "provisioner.sh/v1"


def load_custom_resources(pool_objs: list[Obj], class_objs: list[Obj]) -> tuple[list[NodePool], list[NodeClass],
                                                                                dict[str, str]]:
    """Each object loaded on its own, so one invalid NodePool does not stop the others; problems by name."""
    pools, classes, problems = [], [], {}
    for kind, objs in (("NodePool", pool_objs), ("NodeClass", class_objs)):
        for obj in objs:
            doc = {**obj, "apiVersion": obj.get("apiVersion") or API_VERSION, "kind": obj.get("kind") or kind}
            try:
                p, c = load_documents([doc])
            except ValidationError as err:
                problems[f"{kind}/{obj['metadata']['name']}"] = str(err)
                continue
            pools += p
            classes += c
    return pools, classes, problems


class Resolver:
    """NodeClass -> settings through the EC2 API, cached per resourceVersion."""

    def __init__(self, ec2: Any) -> None:
        self.ec2 = ec2
        self._cache: dict[tuple[str, str], NodeClassSettings] = {}
        self.problems: dict[str, str] = {}

    def settings(self, classes: list[NodeClass], versions: dict[str, str]) -> dict[str, NodeClassSettings]:
        out = {}
        for nc in classes:
            key = (nc.name, versions.get(nc.name, ""))
            if key not in self._cache:
                try:
                    self._cache[key] = resolve(nc, self.ec2)
                    self.problems.pop(nc.name, None)
                except (NodeClassError, Exception) as err:  # noqa: BLE001 - EC2 errors become a NodePool condition
                    self.problems[nc.name] = str(err)
                    LOG.warning("NodeClass %s not resolved: %s", nc.name, err)
                    continue
            out[nc.name] = self._cache[key]
        return out


class CatalogCache:
    def __init__(self, region: str) -> None:
        self.region = region
        self._cache: dict[tuple, Catalog] = {}

    def get(self, zones: tuple[str, ...], guardrails: Guardrails) -> Catalog:
        key = (zones, guardrails)
        if key not in self._cache:
            full = load_local_catalog(self.region, zones=zones or None)
            allowed = [t for t in full.instance_types if guardrails.instance_type_problem(t) is None]
            self._cache = {key: full.restricted(allowed)}
        return self._cache[key]
