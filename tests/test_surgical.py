"""Surgical fine-tuning (Lee et al. 2023): the first-layer-only strategy, its limit as one projection, the which-block
claim per shift type, and a wrong limit caught by the adversary."""
import numpy as np
import pytest

from lpft_theory import Samples, two_layer
from lpft_theory.strategies import first_layer_ft, ft, lp, surgical_ft
from lpft_theory.theory import surgical as S
from paper_checks import Context, run_checks, run_one
from paper_checks import claims_surgical as M
from paper_checks import plugin
from synthetic.base import orthonormal_rows

CTX = Context(quick=True, seed=0)


def _problem(seed=0, d=12, k=3, n=5):
    g = np.random.default_rng(seed)
    B0, v0 = orthonormal_rows(k, d, g), g.standard_normal(k)
    X = g.standard_normal((n, d))
    y = X @ g.standard_normal(d)
    return two_layer(d, k), (B0, v0[:, None]), Samples(X[None], y[None, :, None]), B0, v0, X, y


def test_surgical_reduces_to_ft_and_to_lp_by_gd():
    arch, p0, data, *_ = _problem()
    every = surgical_ft(0.01, 20, (0, 1))(arch, p0, data).params
    np.testing.assert_allclose(every[0], ft(0.01, 20)(arch, p0, data).params[0], rtol=1e-12, atol=1e-15)
    head = surgical_ft(0.01, 20, -1)(arch, p0, data).params
    ref = lp("steps", eta=0.01, steps=20)(arch, p0, data).params
    np.testing.assert_allclose(head[1], ref[1], rtol=1e-13)
    np.testing.assert_array_equal(head[0][0], p0[0])
    first = first_layer_ft(0.01, 20)(arch, p0, data).params
    np.testing.assert_array_equal(first[1][0], p0[1])  # the head never moves
    assert first_layer_ft(0.01, 1).name == "first-layer FT"


def test_bad_blocks_are_refused():
    arch, p0, data, *_ = _problem()
    with pytest.raises(ValueError, match="blocks must be in"):
        surgical_ft(0.01, 3, (2,))(arch, p0, data)
    with pytest.raises(TypeError, match="blocks"):
        surgical_ft(0.01, 3, ())
    with pytest.raises(TypeError, match="blocks"):
        surgical_ft(0.01, 3, (True,))


def test_first_layer_limit_is_the_engines_limit_and_the_predictor_moves_by_one_projection():
    arch, p0, data, B0, v0, X, y = _problem(1)
    h = 1.0 / (2 * np.linalg.eigvalsh(X.T @ X / 5)[-1])  # half the stable step of the predictor
    tr = first_layer_ft(h / (v0 @ v0), 4000)(arch, p0, data)
    B_fl, beta = S.first_layer_limit(B0, v0, X, y)
    np.testing.assert_allclose(tr.params[0][0], B_fl, rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(beta, B0.T @ v0 + np.linalg.pinv(X) @ (y - X @ B0.T @ v0), rtol=1e-12)
    np.testing.assert_allclose(X @ beta, y, rtol=1e-10)  # interpolates


def test_head_alone_recovers_an_output_level_shift_exactly():
    g = np.random.default_rng(4)
    B0, v0 = orthonormal_rows(4, 20, g), g.standard_normal(4)
    beta_t, L = S.shifted_task(B0, v0, "output", 0.5, g)
    X = g.standard_normal((10, 20))
    v = S.head_limit(B0, X, X @ beta_t)
    assert S.target_loss(B0.T @ v, beta_t, L) == pytest.approx(0.0, abs=1e-20)
    beta_in, A = S.shifted_task(B0, v0, "input", 0.5, g)
    z = g.standard_normal(20)
    assert beta_in @ (A @ z) == pytest.approx((B0.T @ v0) @ z, rel=1e-12)  # the corrupted input keeps its source label
    with pytest.raises(ValueError, match="shift"):
        S.shifted_task(B0, v0, "sideways")


def test_claims_first_layer_confirmed_and_which_block_decided_per_shift():
    vs = {v.id: v for v in run_checks(True, 0, fns=M.CHECKS)}
    assert vs["surgical-first-layer-projection"].status == "confirmed"
    wb = vs["surgical-which-block"]
    tests = wb.evidence["decision_tests"]
    output_level = [k for k in tests if "output-level" in k]
    assert len(output_level) == 3 and all(tests[k]["holm_for"] for k in output_level)  # the head wins there
    assert wb.status in ("inconclusive", "mixed", "confirmed")
    means = wb.evidence["mean_target_loss"]["idealised output-level (head change)"]
    assert means["head"] < 1e-6 < means["full FT"]


def test_a_wrong_first_layer_limit_is_refuted():
    def wrong(B0, v0, X, y):  # forgets to divide by ‖v_0‖²
        B, beta = S.first_layer_limit(B0, v0, X, y)
        return B0 + (B - B0) * (v0 @ v0), beta

    space = M.Space(tuple(M._FL), tuple(v[0] for v in M._FL.values()), tuple(v[1] for v in M._FL.values()),
                    ("n", "draw"))
    fn = plugin.for_all("test-mut-first-layer", "mutant", kind="identity", tol=1e-8, source="test", space=space,
                        margin=lambda p: -M.first_layer_gap(p, wrong), budget=20)
    v = run_one(fn, CTX)
    assert v.status == "refuted" and v.counterexample["instance"]["v_scale"] != 1.0


def test_the_which_block_study_trains_every_block_to_near_zero_training_loss_where_it_can():
    st = M.which_block(True, 0)["settings"]
    for name in ("idealised input-level (x_t = Ax)", "idealised output-level (head change)"):
        assert max(st[name]["full FT train loss"]) < 1e-5 and max(st[name]["first layer train loss"]) < 1e-5


def test_figure_numbers():
    from figures import surgical as fig

    data = fig.compute(quick=True, seed=0)
    st = M.which_block(True, 0)["settings"]
    for name, row in data["loss"].items():
        for m, est in row.items():
            assert est["mean"] == pytest.approx(np.mean(st[name][m]))
