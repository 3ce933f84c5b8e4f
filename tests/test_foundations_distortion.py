"""LP-FT vs FT distortion (exact one-step condition, head-norm bound), exact dynamics and balancedness."""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from lpft_theory import gradient_descent, two_layer
from lpft_theory.data import Moments
from lpft_theory.theory import exact_dynamics as X
from lpft_theory.theory import lpft_distortion as D
from paper_checks import Context
from paper_checks import foundations as F

CTX = Context(quick=True, seed=0)


@settings(max_examples=15)
@given(d=st.integers(2, 8), k=st.integers(1, 4), seed=st.integers(0, 10_000), eta=st.floats(1e-3, 0.2),
       half=st.booleans())
def test_one_step_distortion_closed_form(d, k, seed, eta, half):
    g = np.random.default_rng(seed)
    A = g.standard_normal((d, d))
    mom = Moments(A @ A.T / d + 0.1 * np.eye(d), g.standard_normal((d, 1)), np.array(3.0))
    B, V = g.standard_normal((k, d)), g.standard_normal(k)
    B1 = gradient_descent(two_layer(d, k), (B, V[:, None]), mom, eta, 1, half=half).params[0]
    assert np.isclose(np.linalg.norm(B1 - B), D.one_step_distortion(B, V, mom, eta, half), rtol=1e-10, atol=1e-14)


def test_one_step_condition_and_mutant():
    assert F.one_step_check(CTX).status == "holds-under-condition"
    # "LP-FT never distorts more, its starting loss is lower" is wrong: instances exist where it does
    never = lambda B0, V0, Vlp, pop: np.zeros(B0.shape[:-2], bool)  # noqa: E731
    assert F.one_step_check(CTX, condition=never).status == "refuted"


def test_distortion_bound_and_mutant():
    assert F.bound_check(CTX).status == "confirmed"
    # the bound is tight at T = 1 when Sigma = lambda I: 5% less must be violated
    assert F.bound_check(CTX, bound=lambda *a, **k: 0.95 * D.distortion_bound(*a, **k)).status == "refuted"


def test_distorts_less_reports_counts():
    v = F.distorts_less(CTX)
    counts = v.evidence["per_client_counts"]
    assert counts["random-init"]["frac_LPFT_more"] > 0  # LP-FT moves B more for some clients
    assert v.status in ("confirmed", "mixed", "inconclusive", "equivalent")


def test_saxe_and_lambda_balanced_closed_forms():
    t = np.linspace(0, 5, 11)
    assert np.allclose(X.lambda_balanced_mode(t, 1.3, 0.02, 1e-10), X.saxe_mode(t, 1.3, 0.02), atol=1e-12)
    u = X.lambda_balanced_mode(t, 1.3, 0.02, 0.7)
    assert np.allclose(X.lambda_balanced_time(u[1:], 1.3, 0.02, 0.7), t[1:], rtol=1e-9)
    assert F.saxe(CTX).status == "confirmed"


def test_exact_check_mutant_stops_confirming():
    wrong = lambda t, s, u0, d: s * np.exp(s * np.asarray(t)) / (np.exp(s * np.asarray(t)) - 1 + s / u0)  # noqa: E731
    v = F.exact_check(CTX, "saxe-mode-dynamics", "mutant", "test", (0.0,), ((4, 1, (1.5,)),), wrong)
    assert v.status == "refuted"


def test_balance_exact_and_mutant():
    assert F.balance_check(CTX).status == "confirmed"
    assert F.balance_check(CTX, drift=lambda gb, gv, eta: X.balance_drift(gb, gv, eta) * 0.0).status == "refuted"


def test_adversaries_of_the_distortion_claims_and_their_mutations():
    """The one-step condition and the multi-step bound against the adversary (steps through 1/β past 2/β,
    ill-conditioned Σ, heads near and far from the probed head): not broken; the negated condition and the bound
    × 0.98 (tight at T = 1 when Σ = λI, a face of the box) are."""
    from lpft_theory.theory import lpft_distortion as D
    assert F.dist_search("one-step", True, 0)["worst_margin"] >= 0
    assert F.dist_search("one-step", True, 0, lambda *a, **k: ~D.lp_ft_distorts_more(*a, **k))["worst_margin"] < 0
    ok = F.dist_search("bound", True, 0)
    assert 0 <= ok["worst_margin"] < 1e-6  # tight
    assert F.dist_search("bound", True, 0, lambda *a, **k: 0.98 * D.distortion_bound(*a, **k))["worst_margin"] < 0
    assert F.balance_search(True, 0)["worst_margin"] >= 0
    assert F.balance_search(True, 0, lambda gb, gv, eta: X.balance_drift(gb, gv, 1.01 * eta))["worst_margin"] < 0
