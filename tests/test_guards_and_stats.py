"""The instability guard, the plateau stopping rule and the dependence-respecting statistics."""
import numpy as np
import pytest

from lpft_theory.dynamics import InstabilityError, gradient_descent, loss_rise
from lpft_theory.federated import to_plateau
from lpft_theory.models import linear
from lpft_theory.stats import best_of, spearman_by_seed
from synthetic import concept_shift


def _linear_problem():
    sc = concept_shift(6, 2, 2, 1.0, rng=0)
    arch = linear(sc.d)
    return arch, (np.zeros((sc.d, 1)),), sc.population[0]


def test_loss_rise_is_zero_for_monotone_and_exact_for_a_rise():
    assert loss_rise([[3.0], [2.0], [1.0]]).tolist() == [0.0]
    assert loss_rise([[2.0, 1.0], [1.0, 1.5], [1.5, 1.0]]) == pytest.approx([0.5, 0.5])


def test_guard_trips_on_a_too_large_step_and_not_on_a_stable_one():
    arch, p0, data = _linear_problem()
    eta_max = 2 / (2 * np.linalg.eigvalsh(data.Sigma).max())  # exact for E(f - y)^2
    ok = gradient_descent(arch, p0, data, 0.5 * eta_max, 20)
    assert not ok.unstable().any() and ok.max_rise == 0.0
    bad = gradient_descent(arch, p0, data, 1.2 * eta_max, 20)  # oscillates and grows, stays finite
    assert bad.unstable().all() and np.isfinite(bad.losses).all()
    from lpft_theory.dynamics import run, sgd
    with pytest.raises(InstabilityError, match=r"eta=.*largest stable step is"):
        run(arch, p0, data, sgd(1.2 * eta_max), 20, stop_on_rise=1e-9)
    run(arch, p0, data, sgd(0.5 * eta_max), 20, stop_on_rise=1e-9)  # no error


def test_plateau_stops_when_the_score_stops_improving():
    scores = iter([1.0, 0.5, 0.3, 0.29999, 0.29999, 0.29999, 0.1])
    res = to_plateau(lambda p, n: p + n, lambda p: next(scores), 0, chunk=10, max_rounds=1000, patience=3)
    assert res.converged and res.rounds == 50 and res.params == 50 and res.curve[-1] == (50, 0.29999)
    res = to_plateau(lambda p, n: p + n, lambda p: 1.0 / (1 + p), 0, chunk=10, max_rounds=30, patience=3)
    assert not res.converged and res.rounds == 30


def test_spearman_by_seed_uses_one_number_per_seed():
    g = np.random.default_rng(0)
    # within each seed y falls with x, but seed offsets make the pooled correlation positive
    x = np.concatenate([np.arange(5) + 10 * s for s in range(6)]).astype(float)
    y = np.concatenate([-np.arange(5) + 30 * s for s in range(6)]) + 1e-3 * g.normal(size=30)
    r = spearman_by_seed(x, y, np.repeat(np.arange(6), 5))
    assert r["n"] == 6 and r["hi"] < 0 and r["mean"] == pytest.approx(-1.0)


def test_best_of_names_a_winner_only_when_every_interval_clears_zero():
    base = np.arange(6.0)
    assert best_of({"a": base + 1, "b": base, "c": base + 0.5})["best"] == "a"
    noisy = base + np.array([0.3, -0.3, 0.3, -0.3, 0.3, -0.2])
    r = best_of({"a": noisy + 0.05, "b": base, "c": base - 2})
    assert r["best"] is None and set(r["tied"]) == {"a", "b"}
    assert best_of({"a": base, "b": base + 1}, higher_is_better=False)["best"] == "a"
