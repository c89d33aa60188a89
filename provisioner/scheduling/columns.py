"""Columns: every way to buy a node, (NodePool, instance type, zone, capacity type), as arrays.

A column carries its price, its allocatable (minus the DaemonSet pods that would land on it)
and its capacity (for NodePool limits). Pod requirements are evaluated over all columns at
once: each label key is encoded as codes over a small table of distinct values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Iterable

import numpy as np

from provisioner.catalog import labels as L
from provisioner.catalog.allocatable import DEFAULT_ROOT_VOLUME_BYTES, allocatable, capacity
from provisioner.catalog.catalog import Catalog, is_exotic
from provisioner.catalog.resources import CPU, EPHEMERAL_STORAGE, MEMORY, PODS, parse_bytes, parse_resource
from provisioner.catalog.unavailable import UnavailableOfferings
from provisioner.scheduling.model import DaemonSet, Taint, untolerated
from provisioner.scheduling.requirements import Req, Term

BASE_DIMS = (CPU, MEMORY, EPHEMERAL_STORAGE, PODS)
NEW_NODE_HOSTNAME = "\x00new-node"  # matches no In/Gt/Lt, satisfies Exists/NotIn
_SPECIAL = {L.ZONE, L.REGION, L.HOSTNAME, *L.CAPACITY_TYPE_KEYS, *L.NODEPOOL_KEYS}


@dataclass
class PoolInfo:
    index: int
    name: str
    weight: int
    pool: Any
    taints: tuple[Taint, ...]
    startup_taints: tuple[Taint, ...]
    requirements: tuple[Req, ...]
    labels: dict[str, str]
    kubelet: Any
    root_volume_bytes: int
    limits: dict[int, int]  # dim index -> limit (capacity units)
    node_limit: int | None
    nodeclass_missing: bool = False
    min_values: dict[str, int] = field(default_factory=dict)


def _api_taints(items: Iterable[Any]) -> tuple[Taint, ...]:
    return tuple(Taint(t.key, t.value or "", t.effect) for t in items or ())


def _root_volume(nodeclass: Any) -> int:
    for bdm in getattr(nodeclass, "block_device_mappings", None) or ():
        if getattr(bdm, "root_volume", False) or len(nodeclass.block_device_mappings) == 1:
            size = getattr(getattr(bdm, "ebs", None), "volume_size", None)
            if size:
                return parse_bytes(size)
    return DEFAULT_ROOT_VOLUME_BYTES


def pool_infos(nodepools: Iterable[Any], nodeclasses: Iterable[Any], dims: tuple[str, ...]) -> list[PoolInfo]:
    """NodePools ordered as they are tried: higher weight first, then by name."""
    classes = {c.name: c for c in nodeclasses}
    out = []
    for i, p in enumerate(sorted(nodepools, key=lambda p: (-(p.weight or 0), p.name))):
        nc = classes.get(p.node_class_ref)
        reqs = tuple(Req(r.key, r.operator, tuple(str(v) for v in r.values)) for r in p.requirements)
        if not any(r.key in L.CAPACITY_TYPE_KEYS for r in reqs):
            # Karpenter's default: on-demand unless the NodePool allows spot.
            reqs = reqs + (Req(L.KARPENTER_CAPACITY_TYPE, "In", ("on-demand",)),)
        limits: dict[int, int] = {}
        node_limit = None
        for k, v in (p.limits or {}).items():
            if k == "nodes":
                node_limit = int(parse_bytes(v))
            elif k in dims:
                limits[dims.index(k)] = parse_resource(k, v)
        out.append(PoolInfo(i, p.name, p.weight or 0, p, _api_taints(p.taints), _api_taints(p.startup_taints),
                            reqs, dict(p.labels or {}), getattr(nc, "kubelet", None) if nc else None,
                            _root_volume(nc) if nc else DEFAULT_ROOT_VOLUME_BYTES, limits, node_limit,
                            nodeclass_missing=nc is None and bool(classes),
                            min_values={r.key: r.min_values for r in p.requirements if r.min_values}))
    return out


@lru_cache(maxsize=65536)
def _type_resources(it: Any, kubelet: Any, root: int, dims: tuple[str, ...]) -> tuple[list[int], list[int]]:
    a = allocatable(it, kubelet, root)
    c = capacity(it, kubelet, root)
    return [a.get(d, 0) for d in dims], [c.get(d, 0) for d in dims]


class Columns:
    def __init__(self, catalog: Catalog, pools: list[PoolInfo], dims: tuple[str, ...],
                 daemonsets: tuple[DaemonSet, ...] = (), unavailable: UnavailableOfferings | None = None) -> None:
        self.catalog = catalog
        self.pools = pools
        self.dims = dims
        self.region = catalog.region
        self.types = sorted(catalog.instance_types.values(), key=lambda t: t.name)
        type_index = {t.name: i for i, t in enumerate(self.types)}
        self.type_labels = [{k: v for k, v in L.node_labels(t, "", "", "", "").items() if k not in _SPECIAL}
                            for t in self.types]
        self.type_keys = set().union(*self.type_labels) if self.type_labels else set()
        self.zones = list(catalog.zones)
        self.cts = ["spot", "on-demand"]
        offers = catalog.available_offerings(unavailable)
        o_type = np.array([type_index[o.instance_type] for o in offers], dtype=np.int64)
        o_zone = np.array([self.zones.index(o.zone) for o in offers], dtype=np.int64)
        o_ct = np.array([self.cts.index(o.capacity_type) for o in offers], dtype=np.int64)
        o_price = np.array([o.price for o in offers], dtype=float)
        self._codes: dict[str, tuple[np.ndarray, list]] = {}
        self._req_cache: dict[Req, np.ndarray] = {}
        # The offering-level arrays first, so pool requirements can be evaluated on them.
        self.type_idx, self.zone_idx, self.ct_idx = o_type, o_zone, o_ct
        self.pool_idx = np.zeros(len(offers), dtype=np.int64)
        parts = []
        for p in pools:
            self.pool_idx = np.full(len(offers), p.index, dtype=np.int64)
            self._codes.clear()
            self._req_cache.clear()
            keep = np.ones(len(offers), dtype=bool)
            for r in p.requirements + tuple(Req(k, "In", (v,)) for k, v in p.labels.items()):
                keep &= self.req_mask(r)
            parts.append(np.nonzero(keep)[0])
        sel = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
        pool_of = np.concatenate([np.full(len(ix), p.index, dtype=np.int64) for p, ix in zip(pools, parts)]) \
            if parts else np.zeros(0, dtype=np.int64)
        self.type_idx, self.zone_idx, self.ct_idx = o_type[sel], o_zone[sel], o_ct[sel]
        self.pool_idx = pool_of
        self.price = o_price[sel]
        self._codes.clear()
        self._req_cache.clear()
        n = len(sel)
        self.n = n
        self.exotic = np.array([is_exotic(self.types[t]) for t in self.type_idx], dtype=bool)
        # Allocatable and capacity per (type, kubelet of the pool).
        alloc = np.zeros((n, len(dims)), dtype=np.int64)
        cap = np.zeros((n, len(dims)), dtype=np.int64)
        for p in pools:
            rows = np.nonzero(self.pool_idx == p.index)[0]
            if not len(rows):
                continue
            per_type = {int(t): _type_resources(self.types[t], p.kubelet, p.root_volume_bytes, dims)
                        for t in np.unique(self.type_idx[rows])}
            alloc[rows] = np.array([per_type[int(t)][0] for t in self.type_idx[rows]], dtype=np.int64)
            cap[rows] = np.array([per_type[int(t)][1] for t in self.type_idx[rows]], dtype=np.int64)
        self.raw_alloc = alloc.copy()
        self.capacity = cap
        self.overhead = np.zeros_like(alloc)
        for ds in daemonsets:
            req = np.array([ds.pod.requests.get(d, 0) for d in dims], dtype=np.int64)
            m = self.terms_mask(ds.pod.node_selector, ds.pod.required_terms)
            for p in pools:
                if untolerated(p.taints, ds.pod.tolerations):
                    m = m & (self.pool_idx != p.index)
            self.overhead[m] += req
        self.alloc = alloc - self.overhead

    # -- label encoding -------------------------------------------------------------------
    def codes(self, key: str) -> tuple[np.ndarray, list]:
        """(code per column, distinct values) for a label key."""
        hit = self._codes.get(key)
        if hit is not None:
            return hit
        if key == L.ZONE:
            res = (self.zone_idx, list(self.zones))
        elif key in L.CAPACITY_TYPE_KEYS:
            res = (self.ct_idx, list(self.cts))
        elif key in L.NODEPOOL_KEYS:
            res = (self.pool_idx, [p.name for p in self.pools])
        elif key == L.REGION:
            res = (np.zeros(len(self.type_idx), dtype=np.int64), [self.region])
        elif key == L.HOSTNAME:
            res = (np.zeros(len(self.type_idx), dtype=np.int64), [NEW_NODE_HOSTNAME])
        elif key in self.type_keys:
            values = [lbl.get(key) for lbl in self.type_labels]
            uniq = sorted(set(values), key=lambda v: (v is None, v))
            pos = {v: i for i, v in enumerate(uniq)}
            per_type = np.array([pos[v] for v in values], dtype=np.int64)
            res = (per_type[self.type_idx], uniq)
        else:
            res = (self.pool_idx, [p.labels.get(key) for p in self.pools])
        self._codes[key] = res
        return res

    def req_mask(self, r: Req) -> np.ndarray:
        hit = self._req_cache.get(r)
        if hit is None:
            codes, values = self.codes(r.key)
            ok = np.array([r.matches_value(v) for v in values], dtype=bool)
            hit = ok[codes] if len(codes) else np.zeros(0, dtype=bool)
            self._req_cache[r] = hit
        return hit

    def terms_mask(self, reqs: tuple[Req, ...], terms: tuple[Term, ...]) -> np.ndarray:
        m = np.ones(self.n, dtype=bool)
        for r in reqs:
            m &= self.req_mask(r)
        if terms:
            anyterm = np.zeros(self.n, dtype=bool)
            for t in terms:
                tm = np.ones(self.n, dtype=bool)
                for r in t:
                    tm &= self.req_mask(r)
                anyterm |= tm
            m &= anyterm
        return m

    def labels(self, col: int, hostname: str) -> dict[str, str]:
        p = self.pools[self.pool_idx[col]]
        return L.node_labels(self.types[self.type_idx[col]], self.zones[self.zone_idx[col]], self.region,
                             self.cts[self.ct_idx[col]], p.pool, hostname=hostname)

    def label_value(self, col: int, key: str) -> str | None:
        if key == L.HOSTNAME:
            return None
        codes, values = self.codes(key)
        return values[codes[col]]

    def type_name(self, col: int) -> str:
        return self.types[self.type_idx[col]].name
