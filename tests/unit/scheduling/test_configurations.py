"""The configuration LP: exact pricing, a valid bound, whole nodes covering every pod."""

import itertools

import numpy as np
import pytest

from provisioner.scheduling import configurations as cfg, knapsack
from tests.unit.bench.test_gap_anatomy import _brute_force

NO_GROUP = np.full(3, -1)


def _best_by_enumeration(val, req, cap, maxcnt, group=None, gcap=None):
    best = 0.0
    for counts in itertools.product(*(range(int(m) + 1) for m in maxcnt)):
        a = np.array(counts)
        if np.any(a @ req > cap):
            continue
        if group is not None and any(a[group == g].sum() > c for g, c in enumerate(gcap)):
            continue
        best = max(best, float(a @ val))
    return best


@pytest.mark.parametrize("seed", range(12))
def test_pricing_is_exact_on_small_nodes(seed):
    rng = np.random.default_rng(seed)
    req = np.column_stack([rng.integers(1, 12, 3) * 100, rng.integers(1, 12, 3) * 256, np.ones(3, dtype=int)])
    pi = rng.random(3)
    cap = np.array([1930, 3300, 5])
    demand = np.array([3, 2, 4])
    group = np.array([0, 0, -1]) if seed % 2 else NO_GROUP
    gcap = np.array([1]) if seed % 2 else np.zeros(0, dtype=np.int64)
    worth, a, upper = knapsack.price_type(pi, req, cap, demand, np.ones(3, dtype=bool), group, gcap, 100_000)
    assert upper == pytest.approx(worth)
    assert np.all(a @ req <= cap) and np.all(a <= demand)
    assert worth == pytest.approx(float(a @ pi))
    assert worth == pytest.approx(_best_by_enumeration(pi, req, cap, demand, group if seed % 2 else None, gcap))


@pytest.mark.parametrize("seed", range(6))
def test_bound_is_valid_and_rounding_covers_every_pod(seed):
    rng = np.random.default_rng(seed)
    req = np.column_stack([rng.integers(2, 16, 3) * 100, rng.integers(1, 16, 3) * 128, np.ones(3, dtype=int)])
    demand = rng.integers(1, 3, 3)
    alloc = np.array([[2000, 2000, 10], [4000, 4000, 10], [2000, 8000, 10]])
    price = np.array([1.0, 1.9, 2.2])
    problem = cfg.Problem(req, demand, alloc, price, np.ones((3, 3), dtype=bool))
    sol = cfg.solve(problem, seconds=10)
    optimum = _brute_force(req, demand.astype(float), alloc, price)
    assert sol.bound <= optimum + 1e-9
    nodes = cfg.round_solution(sol, problem)
    assert np.all(sum(a for _, a in nodes) >= demand)
    assert all(np.all(a @ req <= alloc[t]) for t, a in nodes)


def test_a_size_that_fits_nowhere_is_refused():
    problem = cfg.Problem(np.array([[5000, 1, 1]]), np.array([1]), np.array([[2000, 2000, 10]]), np.array([1.0]),
                          np.ones((1, 1), dtype=bool))
    with pytest.raises(ValueError):
        cfg.solve(problem)
