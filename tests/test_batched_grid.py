"""The batched concept-shift grid: the exact 2×2 reduction equals the full engine and Theorem 4.4."""
import numpy as np
import pytest

from lpft_theory.sweep.batched import concept_grid
from lpft_theory.theory import chen


@pytest.mark.parametrize("steps,half", [(1, False), (7, True), (25, False)])
def test_reduced_grid_equals_the_full_engine(steps, half):
    # Steps at which GD is stable at exact LP: beyond, the full engine's round-off (1e-16) off the exact
    # fixed point grows geometrically, while the reduction's gradient there is exactly zero.
    etas, lams = np.array([0.02, 0.1, 0.2]), np.array([0.5, 1.0, 2.0])
    kw = dict(steps=steps, seeds=(0, 1), d=12, m=2, n_clients=4, half=half, chunk=5)
    red = concept_grid(etas, lams, **kw)
    full = concept_grid(etas, lams, method="engine", **kw)
    assert red["method"] == "reduced" and full["method"] == "engine"
    # The reduction is exact; both sides are float64 GD, the full one on 6×12 instead of 2×2 matrices.
    for key in ("ft_global", "lp_ft_global"):
        np.testing.assert_allclose(red[key], full[key], rtol=1e-10, atol=1e-13)


def test_reduced_grid_matches_theorem_4_4_and_the_reduced_run():
    import synthetic

    etas, lams = np.array([0.05, 0.4]), np.array([0.7, 1.5])
    g = concept_grid(etas, lams, steps=1, seeds=(3,), d=10, m=2, n_clients=3)
    v = float(np.sum(synthetic.concept_shift(10, 2, 3, 1.0, rng=3).truth["V_com"] ** 2))
    for a, eta in enumerate(etas):
        for b, lam in enumerate(lams):
            th = chen.theorem_4_4(v, lam, eta, 3)
            assert g["ft_global"][a, b, 0] == pytest.approx(th["ft"]["global"], rel=1e-12)
            assert g["lp_ft_global"][a, b, 0] == pytest.approx(th["lp_ft"]["global"], rel=1e-12)
    many = concept_grid([0.05], [0.7], steps=9, seeds=(3,), d=10, m=2, n_clients=3)
    run = chen.reduced_concept_run(v, 0.7, 0.05, 9)
    assert many["ft_global"][0, 0, 0] == pytest.approx(chen.reduced_losses(run, v, 0.7, 3)["global"][-1], rel=1e-12)


def test_method_choice():
    assert concept_grid([0.1], [1.0], m=0, n_clients=3, d=6)["method"] == "engine"  # no shared predictor
    with pytest.raises(ValueError, match="m >= 1"):
        concept_grid([0.1], [1.0], m=0, n_clients=3, d=6, method="reduced")
    with pytest.raises(ValueError, match="method"):
        concept_grid([0.1], [1.0], method="fast")
