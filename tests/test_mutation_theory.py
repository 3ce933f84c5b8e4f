"""Mutation tests for the theory checks: fed a wrong condition, rule or bound, a check must stop confirming.

Each check takes the statement it tests as a keyword argument (its default is the derived statement);
the unmutated check is asserted to confirm, so every test shows the check can come out both ways.
"""
import numpy as np
import pytest

from lpft_theory.theory import chen
from paper_checks import Context
from paper_checks import chen2025 as C
from paper_checks import claims as CL
from paper_checks import kumar2022 as KU
from paper_checks.verdict import HOLDS_UNDER_CONDITION

CTX = Context(quick=True, seed=0)
CONFIRMING = ("confirmed", "holds-under-condition")


def _final(fn, **kw):
    """The check's verdict as the run reports it (declaration attached, a holding condition resolved)."""
    v = fn(CTX, **kw)
    return CL.finalise(v, v.evidence.get("condition_uses", ()))


DERIVED = "holds-under-derived-condition"


def test_chen_lemma_4_3_with_a_wrong_step_size_is_refuted():
    assert _final(C.lemma_4_3).status == "confirmed"
    wrong = lambda B0, V0, i, m, lam, eta, half=False: chen.lemma_4_3_rows(B0, V0, i, m, lam, 1.5 * eta, half)  # noqa: E731
    v = C.lemma_4_3(CTX, rows=wrong)
    assert v.status == "refuted" and v.counterexample


@pytest.mark.parametrize("wrong", [
    lambda a, omega, n, reading: a > 0.5,                                  # a wrong threshold
    lambda a, omega, n, reading: not chen.lp_ft_wins(a, omega, n, reading),  # the negated condition
    lambda a, omega, n, reading: chen.lp_ft_wins(a, omega, n, "others"),     # "both readings agree" (false)
    lambda a, omega, n, reading: (a - 1.02) * (a - chen.condition_root(omega, n, reading)) > 0,  # a - 1 -> a - 1.02
    lambda a, omega, n, reading: (a - 1.0) * (a - chen.condition_root(omega, n, reading) - 0.02) > 0,  # r -> r + 0.02
    lambda a, omega, n, reading: True,                                     # the theorem as stated
], ids=["a>0.5", "negated", "others-for-mixture", "a-1.02", "r+0.02", "as-stated"])
def test_chen_theorem_4_4_with_a_wrong_condition_is_refuted(wrong):
    assert _final(C.theorem_4_4).status == DERIVED
    v = _final(C.theorem_4_4, condition=wrong)
    assert v.status == "refuted"
    assert "reading" in v.counterexample and "call" in v.counterexample


def test_chen_theorem_4_4_threshold_moved_by_0_02_is_caught_at_the_boundary_without_the_adversary():
    """Points 5e-4 from every boundary decide it alone: a in (1, 1.02) is predicted for FT while LP-FT wins."""
    wrong = lambda a, omega, n, reading: (a - 1.02) * (a - chen.condition_root(omega, n, reading)) > 0  # noqa: E731
    v = C.theorem_4_4(CTX, condition=wrong)
    b = v.evidence["boundary_points"]
    assert b["agree"] < b["points"] and v.counterexample["found_by"] in ("drawn", "boundary")
    assert 1.0 < v.counterexample["a"] < 1.02 or v.counterexample["found_by"] == "drawn"


def _shifted_window(factor):
    def cond(B, Vc, shifts, eps, eta, half=False, reading="others"):
        w = chen.theorem_4_5_step_window(B, Vc, shifts, eps, half=half, reading=reading)
        s = eta * (1.0 if half else 2.0)
        return w["s_plus"] is None or s > factor * w["s_plus"] or s < w["s_minus"]
    return cond


@pytest.mark.parametrize("wrong", [
    _shifted_window(1.02),                                                                  # s_+ moved up by 2 %
    _shifted_window(0.98),                                                                  # and down
    lambda *a, **k: not chen.theorem_4_5_holds(*a, **k),                                    # negated
    lambda *a, reading="others", **k: chen.theorem_4_5_holds(*a, reading="others", **k),    # others for mixture
    lambda *a, **k: True,                                                                   # as stated
], ids=["s+x1.02", "s+x0.98", "negated", "others-for-mixture", "as-stated"])
def test_chen_theorem_4_5_with_a_wrong_condition_is_refuted(wrong):
    assert _final(C.theorem_4_5).status == DERIVED
    v = _final(C.theorem_4_5, condition=wrong)
    assert v.status == "refuted" and v.counterexample["call"]


def test_chen_theorem_4_5_condition_that_restates_the_conclusion_is_refused():
    """``q_0 > 0`` (the gap at small λ) predicts every outcome, but it is the conclusion: declared honestly, the
    run refuses it; the derived condition uses the instance's own parameters and is accepted."""
    def restating(B, Vc, shifts, eps, eta, half=False, reading="others"):
        return chen.combined_gap_coeffs(B, Vc, shifts, eps, eta, half=half, reading=reading)[0] > 0

    restating.uses = ("q_0",)
    v = C.theorem_4_5(CTX, condition=restating)
    assert v.status == HOLDS_UNDER_CONDITION  # it never fails: it is the outcome itself
    with pytest.raises(ValueError, match="restates the conclusion"):
        CL.finalise(v, v.evidence["condition_uses"])
    ok = C.theorem_4_5(CTX)
    assert not set(ok.evidence["condition_uses"]) & set(CL.declaration("chen-thm-4.5").conclusion)
    assert ok.counterexample["meaning"].startswith("q_0 < 0")  # the statement as stated is broken


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
def test_chen_theorem_4_5_with_a_wrong_rule_is_refuted(rule):
    assert _final(C.theorem_4_5).status == DERIVED
    assert _final(C.theorem_4_5, rule=rule).status == "refuted"


@pytest.mark.parametrize("rule", [
    lambda q: chen.lambda_star((q[0], q[1], 0.0)),  # without the quadratic term: no second root
    _scaled_rule("lambda_star2", 1.5),              # lambda** too large by 1.5
], ids=["no-q2", "lambda**x1.5"])
def test_chen_remark_4_6_with_a_wrong_rule_is_refuted(rule):
    assert _final(C.beyond_lambda_star).status == DERIVED
    assert _final(C.beyond_lambda_star, rule=rule).status == "refuted"


def test_chen_theorem_4_5_descent_filter_any_instead_of_all_is_caught():
    """The descent regime needs every client's own loss to fall; 'any' admits instances the engine shows are not
    descent steps, and the check's engine verification breaks it."""
    ok = _final(C.theorem_4_5_descent)
    assert ok.status == DERIVED
    n_ok, n = map(int, ok.evidence["engine_verified_descent"].split()[0].split("/"))
    assert n_ok == n > 0
    v = _final(C.theorem_4_5_descent, descends=lambda local, start: bool(np.any(np.asarray(local) < np.asarray(start))))
    assert v.status == "refuted" and "engine has some client's own loss rising" in v.counterexample["meaning"]


def _flipped_frontier(local, lam, n_clients, omega=0.0, half=False):
    """The frontier with the sign of √ℓ flipped: (λ(1 − ω) + √ℓ)²."""
    f = 0.5 if half else 1.0
    ell = np.asarray(local, float)
    glob = f * (lam ** 2 * (1 - omega ** 2) + (lam * (1 - omega) + np.sqrt(ell / f)) ** 2)
    return {"global": glob, "global_mixture": (ell + (n_clients - 1) * glob) / n_clients}


def test_chen_frontier_with_its_sign_flipped_is_refuted():
    assert _final(C.frontier_gd).status == "confirmed"
    assert _final(C.ft_step_frontier).status == "confirmed"
    v = _final(C.frontier_gd, frontier=_flipped_frontier)
    assert v.status == "refuted" and v.counterexample
    assert _final(C.ft_step_frontier, frontier=_flipped_frontier).status == "refuted"


def test_chen_frontier_of_gd_is_not_the_frontier_of_every_method():
    """Outside its scope (Adam, preconditioned or finite-sample GD) methods go below G*: fed G* as the frontier of
    every predictor, the any-method check is refuted; fed the true G_any, it holds."""
    assert _final(C.frontier_any_method).status == "confirmed"

    def gstar_as_any(local, w_stars, i, half=False, reading="others"):
        W = np.asarray(w_stars)
        lam = np.linalg.norm(W[i] - W[(i + 1) % len(W)]) / np.sqrt(2)  # ω = 0 instances: |w_i* − w_j*| = λ√2
        fr = chen.pareto_frontier(local, lam, len(W), 0.0, half)
        return fr["global"] if reading == "others" else fr["global_mixture"]

    v = C.frontier_gd(CTX)
    assert v.evidence["outside_the_scope"]["least_excess_over_G*_per_lam2"] < -1e-3
    assert _final(C.frontier_any_method, frontier=gstar_as_any).status == "refuted"


def _last_root_matched(v, lam, n_clients, local, steps, etas, *, lp_alpha=None, lp_steps=0, omega=0.0, half=False,
                       descent_only=False):
    """Matched local loss reading the LAST root in η of local(η) = ℓ instead of the best (the mutation)."""
    from scipy.optimize import brentq

    def at(eta):
        with np.errstate(over="ignore", invalid="ignore"):
            run = chen.reduced_concept_run(v, lam, eta, steps, lp_alpha=lp_alpha, lp_steps=lp_steps, half=half)
            L = chen.reduced_losses(run, v, lam, n_clients, omega, half)
            loc = L["local"][run.lp_steps:]
            return loc[-1], L["global"][-1], bool(np.all(np.diff(loc) < 0))

    vals = np.array([at(e)[0] for e in etas])
    out = []
    for ell in np.atleast_1d(local):
        last = np.nan
        d = vals - ell
        for j in np.flatnonzero(np.isfinite(d[:-1]) & np.isfinite(d[1:]) & (np.sign(d[:-1]) != np.sign(d[1:]))):
            try:
                eta = brentq(lambda e: at(e)[0] - ell, etas[j], etas[j + 1], xtol=1e-14)
            except ValueError:
                continue
            _, g, dec = at(eta)
            if dec or not descent_only:
                last = g
        out.append(last)
    return {"global": np.array(out)}


def test_chen_matched_local_taking_the_last_root_is_caught():
    assert _final(C.matched_local).status == "equivalent"
    v = _final(C.matched_local, matched=_last_root_matched)
    assert v.status != "equivalent"


def test_chen_descent_frontier_gap_both_ways():
    """The 0.3 % sentence is refuted (the adversary finds more); a bound above the largest excess found holds."""
    v = _final(C.ft_descent_frontier_gap)
    assert v.status == "refuted" and v.evidence["largest_relative_excess_found"] > 0.003
    assert _final(C.ft_descent_frontier_gap, bound=1.0).status == "confirmed"


def test_chen_gap_quadratic_with_a_wrong_coefficient_is_refuted():
    assert _final(C.gap_quadratic).status == "confirmed"

    def wrong(*a, **k):
        r = chen.combined_gap_poly(*a, **k)
        return {**r, "q": r["q"] * np.array([1.0, -1.0, 1.0])}  # q_1's sign flipped

    assert _final(C.gap_quadratic, poly=wrong).status == "refuted"


def _kumar_final(v):
    """The Kumar check's verdict as the run reports it (declaration attached, a holding condition resolved)."""
    from paper_checks.claims import finalise
    return finalise(v, v.evidence.get("condition_uses", ()))


def test_kumar_lemma_a3_on_the_wrong_subspace_is_refuted():
    ok = KU.lemma_a3(CTX)
    assert ok.status == "confirmed" and ok.evidence["adversary"]["worst_margin"] >= 0
    bad = KU.lemma_a3(CTX, subspace=lambda t: t["S"])
    assert bad.status == "refuted" and bad.evidence["adversary"]["worst_margin"] < 0


def test_kumar_balancedness_claimed_for_gd_too_is_refuted():
    ok = _kumar_final(KU.balancedness(CTX))
    assert ok.status == "holds-under-paper-condition" and ok.evidence["adversary"]["worst_margin"] >= 0
    assert KU.balancedness(CTX, conserved=lambda method: True).status == "refuted"


@pytest.mark.parametrize("check", [KU.theorem_3_1_eps1, KU.theorem_3_1_eps2], ids=["eps1", "eps2"])
def test_kumar_theorem_3_1_as_stated_and_with_w_norm_at_most_1_refuted_by_admissible_instances(check):
    """The adversary breaks the bound as printed with a head admissible in both readings of φ (φ² >= 0 as printed),
    and the package's former restatement (|w*| <= 1): its worst instance there has |w*| <= 1 and a ratio below 1."""
    v = check(CTX)
    assert v.status == "refuted"
    inst = v.counterexample["instance"]
    adm = inst["admissibility"]
    assert adm["all"] and adm["admissible_with_phi_as_printed_(phi^2>=0)"]
    assert inst["min_sqrt_Lood"] < inst["bound"] and inst["ratio"] < 1
    low = v.evidence["adversary"]["|w*| <= 1 (ratio - 1)"]
    assert low["worst_margin"] < 0 and low["worst_instance"]["w_norm"] <= 1 + 1e-12
    assert low["worst_instance"]["admissibility"]["all"] and low["worst_instance"]["ratio"] < 1
    assert v.evidence["smallest_ratio_|w*|<=1_(largest_safe_c)"] < 1
    assert v.evidence["what_holds"]["statement"] == KU.CORRECTED_3_1


def test_kumar_corrected_theorem_3_1_survives_and_its_mutations_are_caught():
    """1/2 x the main term - eps max(1, |w*|): not broken; with 1/2 -> 0.51 (x 1.02) the adversary breaks it near
    |w*| -> 0; with -eps instead of -eps max(1, |w*|) the explicit instance breaks it."""
    import functools
    ok = KU.corrected_search(True, 0)
    assert ok["worst_margin"] >= -KU.EPS_TOL_3_1 and ok["evaluations"] == ok["budget"]
    bad = KU.corrected_search(True, 0, functools.partial(KU.corrected_bound, c=0.51))
    assert bad["worst_margin"] < -KU.EPS_TOL_3_1 and bad["worst_instance"]["admissibility"]["all"]
    e = KU.eps_term_instance()
    assert e["admissibility"]["all"] and e["min_sqrt_Lood"] < e["half_main_term_minus_eps"]
    assert e["min_sqrt_Lood"] >= e["corrected_bound"] and e["min_sqrt_Lood"] < e["bound_as_stated_(eps)"]


def test_kumar_theorem_3_1_closed_form_counterexample_at_t0():
    """k = 1, B_0 = B* orthogonal to the ID data (nothing moves), v_0 = (1 + δ)v* (φ² >= 0 as printed): the ratio of
    √L_ood to the bound tends to (1 + κ)²/(2κ²), below 1 exactly for κ > 1 + √2."""
    for kappa in (1.0, 2.0, 3.0, 5.0):
        c = KU.t0_counterexample(kappa, delta=1e-4)
        assert c["phi^2_as_printed_(v0.v*)^2-(v*.v*)^2"] > 0
        assert c["ratio"] == pytest.approx((1 + kappa) ** 2 / (2 * kappa ** 2), rel=1e-3)
        assert (c["ratio"] < 1) == (kappa > 1 + np.sqrt(2))


def test_kumar_theorem_3_2_with_too_fast_a_rate_is_refuted():
    ok = KU.theorem_3_2(CTX)
    assert ok.status == "confirmed" and 1.8 < ok.evidence["slope_of_log_ratio_vs_log_eps"]["mean"] < 2.2  # O(ε²)
    assert KU.theorem_3_2(CTX, rate=3.0).status == "refuted"


def test_kumar_proposition_3_1_paper_premise_fails_derived_condition_holds():
    v = KU.proposition_3_1(CTX)
    cx = v.evidence["paper_premise_counterexample"]
    assert cx["dist(w*, rowspace(B_0))"] > 0.1 and cx["FT_training_loss"] < 1e-20
    assert cx["FT_id_worst_case"] < 1e-20 and cx["LP_id_worst_case"] < 1e-20  # FT is not below LP
    n_ok, n = map(int, v.evidence["condition_predicts_outcome"].split("/"))
    assert n_ok == n and v.evidence["adversary"]["worst_margin"] >= 0
    assert v.status in ("refuted", "holds-under-condition")  # refuted while the declaration names the paper's premise
    assert KU.proposition_3_1(CTX, condition=lambda *args: True).status == "refuted"


def test_kumar_proposition_3_2_without_its_premise_is_refuted():
    assert _kumar_final(KU.proposition_3_2(CTX)).status == "holds-under-paper-condition"
    v = KU.proposition_3_2(CTX, condition=lambda *args: True)
    assert v.status == "refuted" and v.counterexample