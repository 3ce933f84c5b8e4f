"""Item 4 gaps: the λ-balanced Riccati closed form (Dominé et al. 2025) and Kunin et al.'s single neuron."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lpft_theory import gradient_flow
from lpft_theory.data import Moments
from lpft_theory.models import DeepLinear
from lpft_theory.theory import exact_dynamics as X
from paper_checks import Context
from paper_checks import foundations as F


@settings(max_examples=8)
@given(d=st.integers(2, 6), h=st.integers(1, 3), p=st.integers(1, 3), lam=st.floats(-0.5, 3.0),
       seed=st.integers(0, 10_000))
def test_riccati_gram_matches_flow(d, h, p, lam, seed):
    """Any λ-balanced start: W_1 = c·(orthonormal rows) with c² > −λ, W_2 = R(W_1W_1ᵀ + λI)^{1/2}."""
    g = np.random.default_rng(seed)
    h = min(h, p, d)  # W_2 = R(·)^{1/2} with orthonormal columns R needs h <= p
    M = g.standard_normal((p, d))
    W1 = 0.8 * np.linalg.qr(g.standard_normal((d, h)))[0].T  # W_1W_1ᵀ = 0.64 I > −λ
    W1, W2 = X.lambda_balanced_init(W1, lam, np.linalg.qr(g.standard_normal((p, h)))[0])
    t = np.array([0.0, 0.7, 3.0])
    P = X.riccati_gram(t, W1, W2, M, lam)
    flow = gradient_flow(DeepLinear(d, (h,), p), (W1, W2.T), Moments(np.eye(d), M.T, np.array(1.0)), t, half=True)
    for q, Pt in zip(flow.snapshots, P):
        np.testing.assert_allclose(F._gram(q), Pt, atol=1e-8 * max(1.0, np.abs(Pt).max()))
    np.testing.assert_allclose(P[0], F._gram((W1, W2.T)), atol=1e-14)


def test_checks_confirm_and_mutant_refutes():
    for fn in (F.lambda_balanced_general, F.kunin_single_neuron):
        v = fn(Context())
        assert v.status == "confirmed"
        assert all(r["flow_max_abs_error"] < F.FLOW_TOL and abs(r["gd_loglog_slope"] - 1) < 0.1 for r in v.evidence["settings"])
    wrong = F.riccati_check(Context(), "kunin-single-neuron", "t", "s", ((5, 1, 1, 1.0),),
                            closed=lambda t, *a: X.riccati_gram(1.01 * t, *a))
    assert wrong.status == "refuted" and wrong.counterexample


def test_riccati_bad_inputs():
    W1, W2 = X.lambda_balanced_init(np.ones((1, 3)), 0.5)
    with pytest.raises(ValueError, match="lam-balanced"):
        X.riccati_gram([1.0], W1, W2, np.ones((1, 3)), 0.4)
    with pytest.raises(ValueError, match="lam must be"):
        X.lambda_balanced_init(np.ones((1, 3)), -5.0)
    with pytest.raises(ValueError, match="t must be"):
        X.riccati_gram([-1.0], W1, W2, np.ones((1, 3)), 0.5)
    with pytest.raises(ValueError, match="shapes"):
        X.riccati_gram([1.0], W1, W2, np.ones((2, 3)), 0.5)


def test_exact_dynamics_adversaries_and_a_mutated_clock():
    for cid in ("saxe-mode-dynamics", "lambda-balanced-dynamics", "lambda-balanced-general", "kunin-single-neuron"):
        assert F.exact_search(cid, True, 0)["worst_margin"] >= 0
    late = F.exact_search("lambda-balanced-general", True, 0,
                          lambda t, W1, W2, M, lam: X.riccati_gram(1.01 * np.asarray(t), W1, W2, M, lam))
    assert late["worst_margin"] < 0
    assert F.exact_search("saxe-mode-dynamics", True, 0, lambda t, s, u0, d: X.saxe_mode(1.01 * np.asarray(t), s, u0))[
        "worst_margin"] < 0
