"""Domain counting and the water-filling of topology spread quotas."""

from __future__ import annotations

from collections import defaultdict


class DomainCounts:
    """Pods per (topology key, domain value, class), for the keys constraints use. Sums over a
    set of classes (a selector's matches) are kept up to date once they have been asked for."""

    def __init__(self, keys: set[str]) -> None:
        self.keys = keys
        self.counts: dict[str, dict[str | None, dict[int, int]]] = {k: defaultdict(dict) for k in keys}
        self.totals: dict[int, int] = defaultdict(int)
        self._agg: dict[tuple[str, frozenset[int]], dict[str | None, int]] = {}
        self._tot: dict[frozenset[int], int] = {}
        self._watch: dict[int, list[tuple[str, frozenset[int]]]] = defaultdict(list)
        self._watch_tot: dict[int, list[frozenset[int]]] = defaultdict(list)

    def add(self, key_values: dict[str, str | None], cls: int, k: int) -> None:
        self.totals[cls] += k
        for key, value in key_values.items():
            per = self.counts[key][value]
            per[cls] = per.get(cls, 0) + k
        for key, classes in self._watch.get(cls, ()):
            agg = self._agg[(key, classes)]
            v = key_values[key]
            agg[v] = agg.get(v, 0) + k
        for classes in self._watch_tot.get(cls, ()):
            self._tot[classes] += k

    def count(self, key: str, value: str | None, classes: frozenset[int]) -> int:
        agg = self._agg.get((key, classes))
        if agg is None:
            agg = defaultdict(int)
            for v, per in self.counts[key].items():
                agg[v] = sum(n for c, n in per.items() if c in classes)
            agg = dict(agg)
            self._agg[(key, classes)] = agg
            for c in classes:
                self._watch[c].append((key, classes))
        return agg.get(value, 0)

    def total(self, classes: frozenset[int]) -> int:
        t = self._tot.get(classes)
        if t is None:
            t = self._tot[classes] = sum(self.totals.get(c, 0) for c in classes)
            for c in classes:
                self._watch_tot[c].append(classes)
        return t

    def values_with(self, key: str, classes: frozenset[int]) -> set[str | None]:
        self.count(key, None, classes)
        return {v for v, n in self._agg[(key, classes)].items() if n}


def waterfill(counts: dict[str, int], blocked: set[str], n: int, max_skew: int,
              global_min_zero: bool = False) -> dict[str, int]:
    """Spread n pods over domains, lowest count first, never letting any domain exceed the
    minimum over all domains (blocked ones included) by more than max_skew. Returns the
    number of pods per domain (only domains that get some)."""
    cur = dict(counts)
    open_domains = [d for d in cur if d not in blocked]
    blocked_min = min((cur[d] for d in blocked if d in cur), default=None)
    quota: dict[str, int] = {}
    left = n
    while left > 0 and open_domains:
        low = min(cur[d] for d in open_domains)
        floor = 0 if global_min_zero else (low if blocked_min is None else min(low, blocked_min))
        limit = floor + max_skew
        if blocked_min is not None and not global_min_zero:
            limit = min(limit, blocked_min + max_skew)
        if low + 1 > limit:
            break
        lowest = [d for d in open_domains if cur[d] == low]
        higher = [cur[d] for d in open_domains if cur[d] > low]
        if higher:
            step = min(min(higher) - low, limit - low)
        elif global_min_zero or blocked_min is not None:
            step = min(max(left // len(lowest), 1), limit - low)
        else:
            step = max(left // len(lowest), 1)  # all open domains level: raise together
        if step * len(lowest) > left:
            step = left // len(lowest)
            if step == 0:
                for d in lowest[:left]:
                    cur[d] += 1
                    quota[d] = quota.get(d, 0) + 1
                break
        for d in lowest:
            cur[d] += step
            quota[d] = quota.get(d, 0) + step
        left -= step * len(lowest)
    return quota
