"""The adversary (lpft_theory.adversary) and the counterexample searches built on it.

A planted statement that fails only in a thin corner is found within the budget where random sampling of the
same budget misses it; both evaluation modes spend the budget on the same points; the Kumar Theorem 3.1 searches
find the violating region from a cold start, the corrected statement survives, and its mutations are caught.
"""
import numpy as np
import pytest

from lpft_theory.adversary import Space, search

# two unit vectors of R^3 in spherical coordinates (and a scale): the bound 1 - |cos| >= 1e-5 fails only when the
# two features are nearly parallel (or antiparallel): a corner of measure ~4e-5 of the box
PARALLEL = Space(("a1", "b1", "a2", "b2", "scale"), (0, 0, 0, 0, 0.5), (np.pi, 2 * np.pi, np.pi, 2 * np.pi, 2.0))


def _unit(a, b):
    return np.array([np.cos(a), np.sin(a) * np.cos(b), np.sin(a) * np.sin(b)])


def _parallel_margin(p):
    return p["scale"] * (1.0 - 1e-5 - abs(_unit(p["a1"], p["b1"]) @ _unit(p["a2"], p["b2"])))


def test_planted_corner_found_by_the_adversary_and_missed_by_random_sampling():
    g = np.random.default_rng(123)
    measure = np.mean([_parallel_margin(PARALLEL.point(x)) < 0 for x in PARALLEL.sample(g, 20_000)])
    assert measure < 0.01
    budget, seeds = 150, range(8)
    found = [search(_parallel_margin, PARALLEL, budget=budget, rng=s).worst_margin < 0 for s in seeds]
    rand = [min(_parallel_margin(PARALLEL.point(x)) for x in PARALLEL.sample(np.random.default_rng(100 + s), budget)) < 0
            for s in seeds]
    assert sum(found) >= 6 and sum(rand) <= 2


def test_batched_and_single_evaluation_spend_the_budget_on_the_same_points():
    one = search(_parallel_margin, PARALLEL, budget=80, rng=3)
    many = search(lambda ps: [_parallel_margin(p) for p in ps], PARALLEL, budget=80, rng=3, batched=True)
    assert one.evaluations == many.evaluations == 80
    assert one.worst_margin == pytest.approx(many.worst_margin, rel=1e-9, abs=1e-12)
    assert one.random_worst == many.random_worst and one.stages["random"] == many.stages["random"]


def test_failures_and_failing_box_and_stop_below():
    s = Space(("a", "b"), (0.0, 0.0), (1.0, 1.0))
    res = search(lambda p: p["a"] - 0.2, s, budget=60, rng=0)
    assert res.broken and res.failures > 0 and res.failing_box["a"][1] < 0.2
    assert res.to_dict()["failing_box"] == res.failing_box
    early = search(lambda p: p["a"] - 0.5, s, budget=200, rng=0, stop_below=-1e-9)
    assert early.evaluations < 200 and early.worst_margin < 0
    with pytest.raises(ValueError, match="one value per instance"):
        search(lambda ps: [0.0], s, budget=40, rng=0, batched=True)
    with pytest.raises(ValueError, match="budget"):
        search(lambda p: 1.0, s, budget=5)


def test_kumar_violating_region_found_from_a_cold_start_where_random_sampling_misses_it():
    """Theorem 3.1 as printed (heads with phi^2 >= 0): the adversary breaks it from uniform random starts within the
    quick budget; uniform sampling of the same budget, split the same way over the families, does not."""
    from paper_checks import kumar2022 as KU
    found, rand = [], []
    for seed in range(3):
        r = KU.search_3_1("as stated", 1, True, seed, kappa=(0.05, 30.0), printed_heads=True, budget=(400, 400))
        found.append(r["worst_margin"] < -KU.EPS_TOL_3_1)
        worst = min(KU.theorem_3_1_margin(f, [KU.theorem_space(f).point(x) for x in KU.theorem_space(f).sample(
            np.random.default_rng(1000 + seed), int(share * 400))], 1, printed_heads=True).min()
            for f, share in enumerate(KU.SHARES_3_1))
        rand.append(worst < -KU.EPS_TOL_3_1)
        if found[-1]:
            w = r["worst_instance"]
            assert w["admissibility"]["all"] and w["admissibility"]["admissible_with_phi_as_printed_(phi^2>=0)"]
            assert w["ratio"] < 1 and r["failures"] > 0 and r["per_family"]
    assert sum(found) >= 2 and sum(rand) <= 1
