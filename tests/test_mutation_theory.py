"""Mutation tests for the theory checks: fed a wrong condition, rule or bound, a check must stop confirming.

Each check takes the statement it tests as a keyword argument (its default is the derived statement);
the unmutated check is asserted to confirm, so every test shows the check can come out both ways.
"""
import numpy as np
import pytest

from lpft_theory.theory import chen
from lpft_theory.theory import kumar as K
from paper_checks import Context
from paper_checks import chen2025 as C
from paper_checks import kumar2022 as KU

CTX = Context(quick=True, seed=0)
CONFIRMING = ("confirmed", "confirmed-under-condition")


def test_lemma_4_3_with_a_wrong_step_size_is_refuted():
    assert C.lemma_4_3(CTX).status == "confirmed"
    wrong = lambda B0, V0, i, m, lam, eta, half=False: chen.lemma_4_3_rows(B0, V0, i, m, lam, 1.5 * eta, half)  # noqa: E731
    v = C.lemma_4_3(CTX, rows=wrong)
    assert v.status == "refuted" and v.counterexample


@pytest.mark.parametrize("wrong", [
    lambda a, omega, n, reading: a > 0.5,                                  # a wrong threshold
    lambda a, omega, n, reading: not chen.lp_ft_wins(a, omega, n, reading),  # the negated condition
    lambda a, omega, n, reading: chen.lp_ft_wins(a, omega, n, "others"),     # "both readings agree" (false)
], ids=["a>0.5", "negated", "others-for-mixture"])
def test_theorem_4_4_with_a_wrong_condition_is_refuted(wrong):
    assert C.theorem_4_4(CTX).status == "confirmed-under-condition"
    v = C.theorem_4_4(CTX, condition=wrong)
    assert v.status == "refuted"
    assert "reading" in v.counterexample and "call" in v.counterexample


def _scaled_rule(which, factor):
    def rule(q):
        r = dict(chen.lambda_star(q))
        if r[which] is not None and np.isfinite(r[which]) and r[which] > 0:
            r[which] *= factor
        return r
    return rule


@pytest.mark.parametrize("rule", [
    lambda q: chen.lambda_star(-np.asarray(q)),  # the negated condition (q_0 < 0)
    _scaled_rule("lambda_star", 1.5),            # lambda* too large by 1.5
], ids=["negated", "lambda*x1.5"])
def test_theorem_4_5_with_a_wrong_rule_is_refuted(rule):
    assert C.theorem_4_5(CTX).status == "confirmed-under-condition"
    assert C.theorem_4_5(CTX, rule=rule).status == "refuted"


@pytest.mark.parametrize("rule", [
    lambda q: chen.lambda_star((q[0], q[1], 0.0)),  # without the quadratic term: no second root
    _scaled_rule("lambda_star2", 1.5),              # lambda** too large by 1.5
], ids=["no-q2", "lambda**x1.5"])
def test_remark_4_6_with_a_wrong_rule_is_refuted(rule):
    assert C.beyond_lambda_star(CTX).status == "confirmed-under-condition"
    assert C.beyond_lambda_star(CTX, rule=rule).status == "refuted"


def test_kumar_lemma_a3_on_the_wrong_subspace_is_refuted():
    assert KU.lemma_a3(CTX).status == "confirmed"
    assert KU.lemma_a3(CTX, subspace=lambda t: t["S"]).status == "refuted"


def test_kumar_balancedness_claimed_for_gd_too_is_refuted():
    assert KU.balancedness(CTX).status == "confirmed-under-condition"
    assert KU.balancedness(CTX, conserved=lambda method: True).status == "refuted"


def _times_1_5(*args):
    return 1.5 * K.theorem_3_1_bound(*args)


def _phi_not_min(B0, S_perp, v0, v_star, w_star, eps, p):
    """φ in place of min(φ, φ²/‖w*‖)."""
    nw = np.linalg.norm(w_star)
    return K.cos_theta_k(B0, S_perp) / np.sqrt(B0.shape[0]) * K.phi(v0, v_star) / (1 + nw) ** 2 - eps ** p


def _without_sqrt_k(B0, S_perp, v0, v_star, w_star, eps, p):
    return np.sqrt(B0.shape[0]) * (K.theorem_3_1_bound(B0, S_perp, v0, v_star, w_star, eps, p) + eps ** p) - eps ** p


@pytest.mark.parametrize("check", [KU.theorem_3_1_eps1, KU.theorem_3_1_eps2], ids=["eps1", "eps2"])
@pytest.mark.parametrize("wrong", [_times_1_5, _phi_not_min], ids=["x1.5", "phi-not-min"])
def test_kumar_theorem_3_1_with_a_larger_bound_is_refuted(check, wrong):
    """In the regime where the bound holds (|w*| <= 1, with ε > 0 and |w*| != 1 among the informative
    instances) the check confirms it, and a larger bound is refuted."""
    eps_power = 1 if check is KU.theorem_3_1_eps1 else 2
    ok = KU.theorem_3_1(CTX, eps_power, w_norm_max=1.0)
    assert ok.status == "confirmed"
    assert ok.evidence["informative_(bound > 0)"] >= ok.evidence["required_informative"]
    assert ok.evidence["informative_with_eps>0"] > 0 and ok.evidence["informative_with_|w*|!=1"] > 0
    v = KU.theorem_3_1(CTX, eps_power, bound=wrong, w_norm_max=1.0)
    assert v.status == "refuted" and v.counterexample["min_sqrt_Lood"] < v.counterexample["bound"]


@pytest.mark.parametrize("check", [KU.theorem_3_1_eps1, KU.theorem_3_1_eps2], ids=["eps1", "eps2"])
def test_kumar_theorem_3_1_as_stated_fails_for_a_large_target_with_the_head_near_it(check):
    v = check(CTX)
    assert v.status == "refuted" and v.counterexample["min_sqrt_Lood"] < v.counterexample["bound"] - 1e-9
    assert "v_0=" in v.counterexample["instance"]  # a near-target head
    assert float(v.counterexample["instance"].split("|w*|=")[1].split()[0]) >= 1.5


def test_kumar_theorem_3_1_closed_form_counterexample_at_t0():
    """k = 1, B_0 = B* orthogonal to the ID data (nothing moves), v_0 = (1 - δ)v*: the ratio of √L_ood to
    the bound tends to (1 + κ)²/(2κ²), below 1 exactly for κ > 1 + √2."""
    for kappa in (1.0, 2.0, 3.0, 5.0):
        c = KU.t0_counterexample(kappa, delta=1e-4)
        assert c["ratio"] == pytest.approx((1 + kappa) ** 2 / (2 * kappa ** 2), rel=1e-3)
        assert (c["ratio"] < 1) == (kappa > 1 + np.sqrt(2))


def test_kumar_theorem_3_1_without_one_over_sqrt_k_is_not_caught_and_the_margin_is_reported():
    """A measured limit, not a passing mutation: where the bound holds (|w*| <= 1) no instance tried (k = 2
    Gaussian, near-target heads, block copies of the tightest k = 1 problem) makes the bound without 1/√k
    fail, so the check cannot tell the two apart there. (Beyond, the true bound itself fails first: at t = 0
    with cos θ = 1, √k × the bound is the k = 1 bound.) The tightest k >= 2 margin is pinned so a change in
    the instance family is noticed."""
    v = KU.theorem_3_1(CTX, 1, bound=_without_sqrt_k, w_norm_max=1.0)
    assert v.status == "confirmed"
    ratios = [root.min() / _without_sqrt_k(t["B_0"], t["S_perp"], t["v_0"], t["v_star"], t["w_star"], eps, 1)
              for label, t, eps, root in KU._bound_trajectories(True, 0)
              if t["B_0"].shape[0] >= 2 and np.linalg.norm(t["w_star"]) <= 1.0 + 1e-12
              and _without_sqrt_k(t["B_0"], t["S_perp"], t["v_0"], t["v_star"], t["w_star"], eps, 1) > 0]
    assert 1.0 < min(ratios) < 1.15


def test_kumar_theorem_3_2_with_too_fast_a_rate_is_refuted():
    ok = KU.theorem_3_2(CTX)
    assert ok.status == "confirmed" and 1.8 < ok.evidence["slope_of_log_ratio_vs_log_eps"]["mean"] < 2.2  # O(ε²)
    assert KU.theorem_3_2(CTX, rate=3.0).status == "refuted"


@pytest.mark.parametrize("check", [KU.proposition_3_1, KU.proposition_3_2], ids=["prop-3.1", "prop-3.2"])
def test_kumar_propositions_without_their_premise_are_refuted(check):
    assert check(CTX).status == "confirmed-under-condition"
    v = check(CTX, condition=lambda *args: True)
    assert v.status == "refuted" and v.counterexample
