"""The placement engine: classes in size order, existing nodes first, then new nodes.

For each class (largest CPU, then memory, first) and each of its constraint sets (strictest
first), pods go in bulk to existing nodes, then in-flight nodes, then nodes the plan has
already opened (first fit), then new nodes. A new node's offering is the one with the lowest
price per pod of the class that opens it; later classes fill what it has left. Zonal (and
other non-hostname) topology spreads are turned into per-domain quotas by water-filling.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from provisioner.catalog.labels import NODEPOOL_KEYS
from provisioner.scheduling.classes import Constraints, ConstraintBuilder, PodClass
from provisioner.scheduling.columns import Columns, PoolInfo
from provisioner.scheduling.model import HOSTNAME, Node, untolerated
from provisioner.scheduling.nodes import SimNode
from provisioner.scheduling.requirements import Req, terms_match
from provisioner.scheduling.topology import DomainCounts, waterfill

INF = 1 << 60
DOMAIN_HINT = 4  # a node opened in one spread domain is sized for this many times its quota
SHORTLIST = 15  # offerings per resource considered when choosing a self-affine group's domain
_NOT_READY_TAINTS = {"node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable", "karpenter.sh/unregistered",
                     "node.cloudprovider.kubernetes.io/uninitialized"}


class Solver:
    def __init__(self, cols: Columns, classes: list[PodClass], nodes: tuple[Node, ...],
                 bound_pods: dict[str, tuple[int, str]], builder: ConstraintBuilder) -> None:
        self.cols = cols
        self.pools = cols.pools
        self.dims = cols.dims
        self.classes = classes
        self.builder = builder
        self.levels: dict[int, list[Constraints]] = {c.id: builder.levels(c) for c in classes if c.pending}
        keys = set()
        for lv in self.levels.values():
            for cons in lv:
                keys |= cons.topology_keys
        for c in classes:
            for k, _ in builder.symmetric[c.id].items():
                keys.add(k)
        keys.discard(HOSTNAME)
        self.domains = DomainCounts(keys)
        self.nodes: list[SimNode] = []
        self.open_nodes: list[SimNode] = []  # not yet full, in order: ready, in-flight, new
        self._dirty: dict[int, SimNode] = {}  # nodes placed on since the last _close_full
        self._mins: list[int] | None = None
        self._new_count = 0
        self._pool_mask = {p.index: cols.pool_idx == p.index for p in self.pools}
        self._groups: dict[tuple[int, int, int], np.ndarray] = {}
        order = np.lexsort((cols.ct_idx, cols.zone_idx, cols.pool_idx))
        keys_arr = np.stack([cols.pool_idx[order], cols.zone_idx[order], cols.ct_idx[order]], axis=1) \
            if cols.n else np.zeros((0, 3), dtype=np.int64)
        if cols.n:
            change = np.nonzero(np.any(np.diff(keys_arr, axis=0) != 0, axis=1))[0] + 1
            for chunk in np.split(order, change):
                p, z, ct = (int(cols.pool_idx[chunk[0]]), int(cols.zone_idx[chunk[0]]), int(cols.ct_idx[chunk[0]]))
                # cheapest first, so a node's compatible types come out ranked without sorting
                self._groups[(p, z, ct)] = chunk[np.lexsort((cols.type_idx[chunk], cols.price[chunk]))]
        self._mask_cache: dict[int, np.ndarray] = {}
        self._kfit_cache: dict[tuple[int, ...], np.ndarray] = {}
        self._tol_cache: dict[tuple[int, int], bool] = {}
        self._existing_ok: dict[tuple[int, int], bool] = {}
        self.pool_used = {p.index: np.zeros(len(self.dims), dtype=np.int64) for p in self.pools}
        self.pool_nodes = {p.index: 0 for p in self.pools}
        self._startup = {(t.key, t.effect) for p in self.pools for t in p.startup_taints} | \
            {(k, e) for k in _NOT_READY_TAINTS for e in ("NoSchedule", "NoExecute")}
        self._add_existing(nodes, bound_pods)
        self.unplaced: dict[int, Constraints] = {}

    # -- setup ----------------------------------------------------------------------------
    def _add_existing(self, nodes: tuple[Node, ...], bound_pods: dict[str, tuple[int, str]]) -> None:
        ordered = [n for n in nodes if not n.in_flight] + [n for n in nodes if n.in_flight]
        by_name = {}
        for n in ordered:
            taints = n.taints
            if n.in_flight:  # startup / not-ready taints go away once the node is up
                taints = tuple(t for t in taints if (t.key, t.effect) not in self._startup)
            sn = SimNode(self._next_idx(), n.name, [n.allocatable.get(d, 0) for d in self.dims], node=n, taints=taints)
            self.nodes.append(sn)
            self.open_nodes.append(sn)
            by_name[n.name] = sn
            pool_name = next((n.labels[k] for k in NODEPOOL_KEYS if k in n.labels), None)
            pool = next((p for p in self.pools if p.name == pool_name), None)
            if pool is not None:
                self.pool_nodes[pool.index] += 1
                self.pool_used[pool.index] += np.array([n.allocatable.get(d, 0) for d in self.dims], dtype=np.int64)
        for _, (cid, node_name) in bound_pods.items():
            sn = by_name.get(node_name)
            if sn is None:
                continue
            req = self.classes[cid].req
            for d, r in enumerate(req):
                sn.used[d] += r
            sn.counts[cid] = sn.counts.get(cid, 0) + 1
            self.domains.add(self._key_values(sn), cid, 1)

    def _key_values(self, node: SimNode) -> dict[str, str | None]:
        return {k: node.domain(k, self.cols) for k in self.domains.keys}

    # -- masks and compatibility ----------------------------------------------------------
    def cons_mask(self, c: PodClass, cons: Constraints) -> np.ndarray:
        """Columns compatible with a constraint set's node requirements, tolerated and roomy enough."""
        m = self._mask_cache.get(cons.id)
        if m is None:
            m = self.cols.terms_mask(cons.reqs, cons.terms) & (self.kfit(c.req) >= 1)
            for p in self.pools:
                if not self.tolerates_pool(c, p):
                    m &= ~self._pool_mask[p.index]
            self._mask_cache[cons.id] = m
        return m

    def requirement_mask(self, c: PodClass, cons: Constraints) -> np.ndarray:
        """Columns whose labels and taints admit the class, whatever their size."""
        key = ("req", cons.id)
        hit = self._mask_cache.get(key)  # type: ignore[call-overload]
        if hit is None:
            hit = self.cols.terms_mask(cons.reqs, cons.terms)
            for p in self.pools:
                if not self.tolerates_pool(c, p):
                    hit = hit & ~self._pool_mask[p.index]
            self._mask_cache[key] = hit  # type: ignore[index]
        return hit

    def kfit(self, req: tuple[int, ...]) -> np.ndarray:
        k = self._kfit_cache.get(req)
        if k is None:
            k = np.full(self.cols.n, INF, dtype=np.int64)
            for d, r in enumerate(req):
                if r > 0:
                    k = np.minimum(k, self.cols.alloc[:, d] // r)
            k = np.maximum(k, 0)
            self._kfit_cache[req] = k
        return k

    def tolerates_pool(self, c: PodClass, p: PoolInfo) -> bool:
        key = (c.id, p.index)
        hit = self._tol_cache.get(key)
        if hit is None:
            hit = not untolerated(p.taints, c.rep.tolerations)
            self._tol_cache[key] = hit
        return hit

    def compatible(self, c: PodClass, cons: Constraints, node: SimNode) -> bool:
        if node.existing:
            key = (cons.id, node.idx)
            hit = self._existing_ok.get(key)
            if hit is None:
                n = node.node
                hit = (not n.unschedulable and not untolerated(node.taints, c.rep.tolerations)
                       and all(r.matches(n.labels) for r in cons.reqs) and terms_match(cons.terms, n.labels))
                self._existing_ok[key] = hit
            return hit
        return bool(self.cons_mask(c, cons)[node.col])

    # -- topology -------------------------------------------------------------------------
    def topology_cap(self, c: PodClass, cons: Constraints, node: SimNode, skip_primary: bool) -> int:
        """Pods of this class the node may still take under spread, affinity and anti-affinity."""
        cap = INF
        for key, ids in cons.forbid:
            if key == HOSTNAME:
                if any(i in ids for i in node.counts):
                    return 0
            else:
                v = node.domain(key, self.cols)
                if v is not None and self.domains.count(key, v, ids):
                    return 0
            if c.id in ids:
                cap = 1
        primary = cons.primary_spread if skip_primary else None
        for s in cons.spreads:
            if s is primary:
                continue
            if s.key == HOSTNAME:
                have = sum(v for i, v in node.counts.items() if i in s.matching)
                cap = min(cap, s.max_skew - have)
            else:
                v = node.domain(s.key, self.cols)
                if v is None:
                    return 0
                domains = self.spread_domains(c, cons, s.key)
                floor = 0 if (s.min_domains and len(domains) < s.min_domains) else \
                    min((self.domains.count(s.key, d, s.matching) for d in domains), default=0)
                cap = min(cap, floor + s.max_skew - self.domains.count(s.key, v, s.matching))
            if cap <= 0:
                return 0
        for a in cons.affinities:
            if self.domains.total(a.matching) == 0 and not self._any_matching_on_nodes(a):
                if not a.self_match:
                    return 0
                if a.key != HOSTNAME:
                    best = self._group_domain(c, cons, a)
                    if best is not None and node.domain(a.key, self.cols) != best:
                        return 0
                continue
            if a.key == HOSTNAME:
                if not any(i in a.matching for i in node.counts):
                    return 0
            else:
                v = node.domain(a.key, self.cols)
                if v is None or not self.domains.count(a.key, v, a.matching):
                    return 0
        return cap

    def _any_matching_on_nodes(self, a: Any) -> bool:
        if a.key != HOSTNAME:
            return False
        return any(any(n.counts.get(i) for i in a.matching) for n in self.nodes)

    def spread_domains(self, c: PodClass, cons: Constraints, key: str) -> list[str]:
        """Domains a spread counts: every value of `key` on offerings or existing nodes that
        match the pod's node selector and affinity. Taints are ignored (nodeTaintsPolicy
        Ignore), and offerings count even before a node exists there (as Karpenter does)."""
        cache_key = ("dom", cons.id, key)
        hit = self._mask_cache.get(cache_key)  # type: ignore[call-overload]
        if hit is None:
            m = self.cols.terms_mask(cons.reqs, cons.terms)
            codes, values = self.cols.codes(key)
            vals = {values[i] for i in np.unique(codes[m])} if m.any() else set()
            for n in self.nodes:
                if n.existing and all(r.matches(n.node.labels) for r in cons.reqs) \
                        and terms_match(cons.terms, n.node.labels):
                    vals.add(n.node.labels.get(key))
            vals.discard(None)
            hit = sorted(vals)
            self._mask_cache[cache_key] = hit  # type: ignore[index]
        return hit

    def domain_filter(self, c: PodClass, cons: Constraints, skip_primary: bool) -> np.ndarray | None:
        """Columns whose (non-hostname) domains a new node of this class may be in."""
        m = None
        for key, ids in cons.forbid:
            if key == HOSTNAME:
                continue
            bad = [v for v in self.domains.values_with(key, ids) if v is not None]
            if bad:
                mm = ~self.cols.req_mask(Req(key, "In", tuple(sorted(bad))))
                m = mm if m is None else m & mm
        primary = cons.primary_spread if skip_primary else None
        for s in cons.spreads:
            if s is primary or s.key == HOSTNAME:
                continue
            domains = self.spread_domains(c, cons, s.key)
            counts = {d: self.domains.count(s.key, d, s.matching) for d in domains}
            floor = 0 if (s.min_domains and len(domains) < s.min_domains) else min(counts.values(), default=0)
            ok = tuple(d for d in domains if counts[d] + 1 - floor <= s.max_skew)
            mm = self.cols.req_mask(Req(s.key, "In", ok))
            m = mm if m is None else m & mm
        for a in cons.affinities:
            if a.key == HOSTNAME:
                if self.domains.total(a.matching) or self._any_matching_on_nodes(a) or not a.self_match:
                    return np.zeros(self.cols.n, dtype=bool)
                continue
            present = [v for v in self.domains.values_with(a.key, a.matching) if v is not None]
            if not present and a.self_match:  # the first of the group: its domain chosen by price
                best = self._group_domain(c, cons, a)
                if best is not None:
                    present = [best]
            if present or not a.self_match:
                mm = self.cols.req_mask(Req(a.key, "In", tuple(sorted(present))))
                m = mm if m is None else m & mm
        return m

    def _group_domain(self, c: PodClass, cons: Constraints, a: Any) -> str | None:
        """For a group that must share one domain (pod affinity to itself on a non-hostname
        key), chosen once before any of it is placed: the domain where the relaxation of
        covering the group's pending pods with new nodes is cheapest (the lower bound LP on
        that domain's offerings). None, no choice made, with NodePool limits (a domain could
        run out), or when the group has pods elsewhere already."""
        cache = self.__dict__.setdefault("_affinity_domain", {})
        key = (a.key, a.matching, cons.id)
        if key not in cache:
            cache[key] = self._cheapest_domain(c, cons, a)
        return cache[key]

    def _cheapest_domain(self, c: PodClass, cons: Constraints, a: Any) -> str | None:
        from provisioner.scheduling.bound import BoundGroup, lower_bound
        from provisioner.scheduling.bound_groups import _band, _ratio_bounds

        if any(p.limits or p.node_limit is not None for p in self.pools):
            return None
        group = [self.classes[i] for i in a.matching if self.classes[i].pending]
        if not group:
            return None
        m = self.cols.terms_mask(cons.reqs, cons.terms) & ~self.cols.exotic
        for p in self.pools:
            if not self.tolerates_pool(c, p):
                m &= ~self._pool_mask[p.index]
        for k, ids in cons.forbid:  # domains holding pods it may not share one with
            if k != HOSTNAME:
                bad = [v for v in self.domains.values_with(k, ids) if v is not None]
                if bad:
                    m &= ~self.cols.req_mask(Req(k, "In", tuple(sorted(bad))))
        codes, values = self.cols.codes(a.key)
        best: tuple[float, str] | None = None
        for code in np.unique(codes[m]):
            v = values[code]
            if v is None:
                continue
            zm = m & (codes == code)
            # a shortlist keeps the LP small: the offerings cheapest per unit of each resource
            idx = np.nonzero(zm)[0]
            keep = []
            for d in range(len(self.dims)):
                per = self.cols.alloc[idx, d]
                if not per.any():
                    continue
                score = np.where(per > 0, self.cols.price[idx] / np.maximum(per, 1), np.inf)
                keep.append(idx[np.argsort(score, kind="stable")[:SHORTLIST]])
            if keep:
                zm = np.zeros_like(zm)
                zm[np.concatenate(keep)] = True
            bands: dict[int, list] = {}
            for g in group:
                bands.setdefault(_band(g.req), []).append(g)
            groups = []
            for members in bands.values():
                demand = sum(np.array(g.req, dtype=float) * len(g.pending) for g in members)
                groups.append(BoundGroup(zm, (), demand, ratios=_ratio_bounds([g.req for g in members])))
            cost = lower_bound(groups, self.cols.price, self.cols.alloc, self.cols.capacity, self.cols.pool_idx,
                               {}, np.zeros((0, len(self.dims))))
            if cost > 0 and (best is None or cost < best[0]):
                best = (cost, v)
        return None if best is None else best[1]

    # -- placing --------------------------------------------------------------------------
    def place(self, c: PodClass, cons: Constraints, node: SimNode, k: int) -> None:
        for d, r in enumerate(c.req):
            if r:
                node.used[d] += r * k
        first = c.id not in node.counts
        node.counts[c.id] = node.counts.get(c.id, 0) + k
        self.domains.add(self._key_values(node) if self.domains.keys else {}, c.id, k)
        node.placed.extend(c.take(k))
        node.cons[cons.id] = (c, cons)
        self._dirty[node.idx] = node
        if first and node.mask is not None:
            node.mask &= self.cons_mask(c, cons)[node.cand]

    def fill(self, c: PodClass, cons: Constraints, n: int, restrict: tuple[str, str] | None,
             skip_primary: bool, hint: int) -> int:
        placed = 0
        for node in self.open_nodes:
            if placed >= n:
                break
            if restrict is not None and node.domain(restrict[0], self.cols) != restrict[1]:
                continue
            k = node.fit(c.req)
            if k <= 0 or not self.compatible(c, cons, node):
                continue
            k = min(k, n - placed, self.topology_cap(c, cons, node, skip_primary))
            if k <= 0:
                continue
            self.place(c, cons, node, k)
            placed += k
        while placed < n:
            # A node opened in one spread domain is sized for about what must go there, not
            # for every pending pod: the others should not be drawn into a dearer domain.
            hint = DOMAIN_HINT * (n - placed) if restrict is not None else \
                max(self.pending_total - placed, n - placed)
            node = self.open_node(c, cons, restrict, skip_primary, hint)
            if node is None:
                break
            k = min(node.fit(c.req), n - placed, self.topology_cap(c, cons, node, skip_primary))
            if k <= 0:
                self._drop(node)
                break
            self.place(c, cons, node, k)
            placed += k
        return placed

    def open_node(self, c: PodClass, cons: Constraints, restrict: tuple[str, str] | None,
                  skip_primary: bool, hint: int) -> SimNode | None:
        base = self.cons_mask(c, cons)
        dom = self.domain_filter(c, cons, skip_primary)
        if dom is not None:
            base = base & dom
        if restrict is not None:
            base = base & self.cols.req_mask(Req(restrict[0], "In", (restrict[1],)))
        for p in self.pools:
            m = base & self._pool_mask[p.index]
            if not m.any():
                continue
            if p.node_limit is not None and self.pool_nodes[p.index] >= p.node_limit:
                continue
            for d, limit in p.limits.items():
                m &= self.cols.capacity[:, d] <= limit - self.pool_used[p.index][d]
            plain = m & ~self.cols.exotic
            m = plain if plain.any() else m
            idx = np.nonzero(m)[0]
            if not len(idx):
                continue
            score = self.cols.price[idx] / self._pods_per_node(idx, min(hint, self._host_share(c, cons)), c)
            col = int(idx[int(np.argmin(score))])
            return self._new_node(p, col)
        return None

    def _host_share(self, c: PodClass, cons: Constraints) -> int:
        """For pods limited per node by hostname rules: the pods of the group a new node may
        hold. Such a node is sized for them alone (the cheapest that holds them), not for a
        share of every other pending pod: measured on Karpenter's mix, sizing for a share
        bought bigger, pricier nodes that the other pods then filled at a worse price per pod
        than they would have found on their own nodes."""
        per_node, group = INF, None
        for key, ids in cons.forbid:
            if key == HOSTNAME and c.id in ids:
                per_node, group = 1, ids
        for s in cons.spreads:
            if s.key == HOSTNAME and s.max_skew < per_node:
                per_node, group = s.max_skew, s.matching
        if group is None:
            return INF
        return max(per_node, 1)

    def _pods_per_node(self, idx: np.ndarray, hint: int, c: PodClass) -> np.ndarray:
        """Pods a new node of each candidate column is expected to hold: "average" pending pods
        (the node will be shared by every class that comes after), never more than are pending;
        whole pods of this class when it is most of what is pending."""
        if len(c.pending) * 2 >= self.pending_total:
            return np.maximum(np.minimum(self.kfit(c.req)[idx], hint), 1).astype(float)
        total = max(self.pending_total, 1)
        cached = getattr(self, "_avg_fit", None)
        if cached is None or abs(cached[0] - total) > 0.05 * cached[0]:
            avg = self.pending_sum / total
            per = np.full(self.cols.n, np.inf)
            for d, a in enumerate(avg):
                if a > 0:
                    per = np.minimum(per, self.cols.alloc[:, d] / a)
            cached = self._avg_fit = (total, per)
        return np.maximum(np.minimum(cached[1][idx], hint), 1.0)

    def _new_node(self, p: PoolInfo, col: int) -> SimNode:
        cols = self.cols
        cand = self._groups[(p.index, int(cols.zone_idx[col]), int(cols.ct_idx[col]))]
        self._new_count += 1
        name = f"{p.name}-{self._new_count:05d}"
        node = SimNode(self._next_idx(), name, [int(v) for v in cols.alloc[col]], pool=p, col=col, cand=cand,
                       mask=np.ones(len(cand), dtype=bool))
        self.nodes.append(node)
        self.open_nodes.append(node)
        self.pool_nodes[p.index] += 1
        self.pool_used[p.index] += cols.capacity[col]
        return node

    def _next_idx(self) -> int:
        """A node id never given before (nodes are dropped, merged and repacked: not len(nodes))."""
        self._idx_count = getattr(self, "_idx_count", -1) + 1
        return self._idx_count

    def _drop(self, node: SimNode) -> None:
        self.nodes.remove(node)
        self.open_nodes.remove(node)
        self.pool_nodes[node.pool.index] -= 1
        self.pool_used[node.pool.index] -= self.cols.capacity[node.col]

    def place_class(self, c: PodClass, cons: Constraints, n: int) -> int:
        primary = cons.primary_spread
        if primary is None:
            return self.fill(c, cons, n, None, False, n)
        domains = self.spread_domains(c, cons, primary.key)
        if not domains:
            return 0
        global_zero = bool(primary.min_domains and len(domains) < primary.min_domains)
        # Domains nothing can ever be placed in stay at their count: everyone else is capped by it.
        alive = {d: self._domain_alive(c, cons, primary.key, d) for d in domains}
        blocked = {d for d, a in alive.items() if a == 0}
        # Big quotas at once are safe only when no domain can fall short midway (limits,
        # other topology rules); otherwise raise each domain by at most maxSkew per round so
        # a shortfall never leaves the others too far ahead.
        safe = not cons.affinities and all(k == HOSTNAME for k, _ in cons.forbid) and len(cons.spreads) == 1 \
            and not any(p.limits or p.node_limit is not None for p in self.pools if self.tolerates_pool(c, p)) \
            and all(a == 2 for a in alive.values() if a)
        placed = 0
        while placed < n:
            counts = {d: self.domains.count(primary.key, d, primary.matching) for d in domains}
            quotas = waterfill(counts, blocked, n - placed, primary.max_skew, global_zero)
            if not safe:
                floor = 0 if global_zero else min(counts.values())
                quotas = {d: min(q, floor + primary.max_skew - counts[d]) for d, q in quotas.items()}
                quotas = {d: q for d, q in quotas.items() if q > 0}
            if not quotas:
                break
            progress = 0
            for d, q in quotas.items():
                got = self.fill(c, cons, q, (primary.key, d), True, q)
                progress += got
                if got < q:
                    blocked.add(d)
            placed += progress
            if progress == 0:
                break
        return placed

    def _domain_alive(self, c: PodClass, cons: Constraints, key: str, value: str) -> int:
        """2: new nodes can be bought there; 1: only room on existing nodes; 0: nothing."""
        if (self.cons_mask(c, cons) & self.cols.req_mask(Req(key, "In", (value,)))).any():
            return 2
        return int(any(n.existing and n.domain(key, self.cols) == value and n.fit(c.req) > 0
                       and self.compatible(c, cons, n) for n in self.open_nodes))

    def zone_sensitive(self) -> set[int]:
        """Classes whose node's non-hostname domains (zone, capacity type, any label) matter:
        they have a non-hostname spread, affinity or anti-affinity, or such a rule counts them."""
        hit = getattr(self, "_zone_sensitive", None)
        if hit is None:
            hit = set()
            for cid, lv in self.levels.items():
                for cons in lv:
                    for key, ids in cons.forbid:
                        if key != HOSTNAME:
                            hit.add(cid)
                            hit |= ids
                    for s in cons.spreads:
                        if s.key != HOSTNAME:
                            hit.add(cid)
                            hit |= s.matching
                    for a in cons.affinities:
                        if a.key != HOSTNAME:
                            hit.add(cid)
                            hit |= a.matching
            for cid, sym in self.builder.symmetric.items():
                for key, ids in sym.items():
                    if key != HOSTNAME:
                        hit.add(cid)
                        hit |= ids
            self._zone_sensitive = hit
        return hit

    def pool_by_price(self, pool: int) -> tuple[np.ndarray, np.ndarray]:
        """The NodePool's non-exotic columns, cheapest first, and their prices."""
        cache = self.__dict__.setdefault("_by_price", {})
        hit = cache.get(pool)
        if hit is None:
            idx = np.nonzero(self._pool_mask[pool] & ~self.cols.exotic)[0]
            idx = idx[np.lexsort((self.cols.type_idx[idx], self.cols.price[idx]))]
            hit = cache[pool] = (idx, self.cols.price[idx])
        return hit

    def hostname_limited(self, c: PodClass) -> bool:
        cons = self.levels[c.id][0]
        return any(k == HOSTNAME and c.id in ids for k, ids in cons.forbid) or \
            any(s.key == HOSTNAME for s in cons.spreads)

    def run(self) -> None:
        # Pods limited per node by hostname rules (anti-affinity, host ports, hostname spread)
        # first, since they decide how many nodes there must be; then largest first (CPU,
        # then memory), filling the room those nodes have left.
        order = sorted((c for c in self.classes if c.pending),
                       key=lambda c: (not self.hostname_limited(c), -c.req[0], -c.req[1], c.id))
        self.pending_total = sum(len(c.pending) for c in order)
        self.pending_sum = np.zeros(len(self.dims), dtype=float)
        for c in order:
            self.pending_sum += np.array(c.req, dtype=float) * len(c.pending)
        # requests per class (ids are indices), and which still have pods pending
        self._reqs = np.array([c.req for c in self.classes], dtype=np.int64).reshape(len(self.classes), len(self.dims))
        self._waiting = np.array([bool(c.pending) for c in self.classes], dtype=bool)
        for _ in range(3):  # later passes: pods whose affinity targets were placed after them
            progress = False
            for c in order:
                for cons in self.levels[c.id]:
                    if not c.pending:
                        break
                    got = self.place_class(c, cons, len(c.pending))
                    self._waiting[c.id] = bool(c.pending)
                    self.pending_total -= got
                    self.pending_sum -= np.array(c.req, dtype=float) * got
                    progress |= got > 0
                    self._close_full()
                if c.pending:
                    self.unplaced[c.id] = self.levels[c.id][-1]
                else:
                    self.unplaced.pop(c.id, None)
            if not self.unplaced or not progress:
                break
            order = [c for c in order if c.pending]

    def _close_full(self) -> None:
        """Take nodes that cannot fit the smallest pending request off the open list."""
        if not self._waiting.any():
            return
        mins = self._reqs[self._waiting].min(axis=0).tolist()
        if mins != self._mins:
            check = self.open_nodes
            self._mins = mins
        else:
            check = [n for n in self._dirty.values() if not n.closed]
        self._dirty.clear()
        closed = False
        for n in check:
            if any(n.cap[d] - n.used[d] < mins[d] for d in range(len(mins))):
                n.closed = True
                closed = True
        if closed:
            self.open_nodes = [n for n in self.open_nodes if not n.closed]
