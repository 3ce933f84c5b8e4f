"""Chen et al. Section 4: every closed form against simulation (rel. 1e-9), every condition on both sides."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import synthetic
from lpft_theory import two_layer, two_layer_params
from lpft_theory.metrics import cross_matrix, summarize
from lpft_theory.strategies import ft, lp, lp_ft
from lpft_theory.theory import chen

RTOL = 1e-9  # float64 closed form vs the GD engine: both O(1e-15) round-off on O(1) quantities


def _engine(sc, strategy, half=False):
    arch = two_layer(sc.d, sc.truth["B_star"].shape[0])
    pG = two_layer_params(*synthetic.idealised_init(sc))
    out = strategy(arch, pG, sc.population, half=half)
    return arch, out, summarize(cross_matrix(arch, out.params, sc.population, half=half))


instances = st.fixed_dictionaries({
    "m": st.integers(1, 3), "C": st.integers(2, 4), "extra": st.integers(0, 3), "lam": st.floats(0.05, 2.0),
    "eta": st.floats(0.01, 0.4), "half": st.booleans(), "seed": st.integers(0, 10_000)})


@given(p=instances)
def test_lemma_4_3_rows_match_one_gd_step(p):
    sc = synthetic.concept_shift(p["m"] + p["C"] + p["extra"], p["m"], p["C"], p["lam"], rng=p["seed"])
    arch, out, _ = _engine(sc, ft(p["eta"], 1), p["half"])
    B0, V0 = synthetic.idealised_init(sc)
    for i in range(p["C"]):
        B_pred = chen.lemma_4_3_rows(B0, V0, i, p["m"], p["lam"], p["eta"], p["half"])
        np.testing.assert_allclose(out.params[0][i], B_pred, rtol=RTOL, atol=1e-13)


@given(p=instances, omega=st.floats(0, 1), lp_kind=st.sampled_from(["exact", "step", "partial"]),
       alpha=st.floats(0, 1))
def test_theorem_4_4_closed_form_matches_simulation(p, omega, lp_kind, alpha):
    sc = synthetic.concept_shift(p["m"] + p["C"] + p["extra"], p["m"], p["C"], p["lam"], overlap=omega,
                                 rng=p["seed"])
    v = float(sc.truth["V_com"] @ sc.truth["V_com"])
    th = chen.theorem_4_4(v, p["lam"], p["eta"], p["C"], omega=omega, lp=lp_kind, alpha=alpha, half=p["half"])
    _, _, ft_sim = _engine(sc, ft(p["eta"], 1), p["half"])
    probe = {"exact": lp(), "step": lp("steps", eta=p["eta"], steps=1), "partial": lp("partial", alpha=alpha)}[lp_kind]
    _, _, lpft_sim = _engine(sc, lp_ft(p["eta"], 1, probe), p["half"])
    for key in ("local", "global", "global_mixture"):
        assert ft_sim[key] == pytest.approx(th["ft"][key], rel=RTOL, abs=1e-13)
        assert lpft_sim[key] == pytest.approx(th["lp_ft"][key], rel=RTOL, abs=1e-13)


@pytest.mark.parametrize("a,omega,lp_ft_wins", [
    (1.5, 0.0, True), (0.5, 0.0, False),            # Theorem 4.4: iff a = ηc(1 + v) > 1
    (0.2, 0.8, True), (0.9, 0.8, False), (1.2, 0.8, True),  # overlap ω > 1/2: also wins for a < 2ω − 1
])
def test_theorem_4_4_condition_both_sides(a, omega, lp_ft_wins):
    sc = synthetic.concept_shift(10, 2, 3, 0.7, overlap=omega, rng=1)
    v = float(sc.truth["V_com"] @ sc.truth["V_com"])
    eta = a / (2 * (1 + v))
    assert chen.theorem_4_4(v, 0.7, eta, 3, omega=omega)["condition_exact"] == lp_ft_wins
    _, _, f = _engine(sc, ft(eta, 1))
    _, _, g = _engine(sc, lp_ft(eta, 1))
    assert (g["global"] < f["global"]) == lp_ft_wins


@given(p=instances, omega=st.floats(0, 1), steps=st.integers(1, 12), alpha=st.one_of(st.none(), st.floats(0, 1)),
       frac=st.floats(0.01, 0.95))
def test_reduced_2x2_dynamics_match_full_simulation(p, omega, steps, alpha, frac):
    """Many steps: only stable step sizes, η = frac · 2/(c(1 + v + λ²)) with frac < 1, drawn per instance.

    The Gauss–Newton sharpness of ‖Nᵀz − t‖² is c(‖N‖₂² + ‖z‖²): ‖N‖ = 1 at the start and ‖z‖² runs
    from v (FT) towards ‖t‖² = v + λ² (the head takes up λ), so 2/(c(1 + v + λ²)) bounds the stable step along
    the run. A fixed η range (η up to 0.4 with v up to ~6) reaches a = ηc(1 + v) of 4–5, where the engine
    rightly raises DivergenceError (issue 26). Checked over 30,000 draws: the loss never rises above its start.
    """
    sc = synthetic.concept_shift(p["m"] + p["C"] + p["extra"], p["m"], p["C"], p["lam"], overlap=omega,
                                 rng=p["seed"])
    v = float(sc.truth["V_com"] @ sc.truth["V_com"])
    eta = frac * 2 / ((1 if p["half"] else 2) * (1 + v + p["lam"] ** 2))
    strat = ft(eta, steps) if alpha is None else lp_ft(eta, steps, lp("partial", alpha=alpha))
    _, _, sim = _engine(sc, strat, p["half"])
    run = chen.reduced_concept_run(v, p["lam"], eta, steps, lp_alpha=alpha, half=p["half"])
    red = chen.reduced_losses(run, v, p["lam"], p["C"], omega, half=p["half"])
    for key in ("local", "global", "global_mixture"):
        assert sim[key] == pytest.approx(red[key][-1], rel=1e-8, abs=1e-12)


@given(geometry=st.sampled_from(["private", "shared", "random"]), eps=st.floats(0.1, 1.5),
       shift=st.floats(0.0, 2.5), p=instances, reading=st.sampled_from(["others", "mixture"]))
def test_theorem_4_5_one_step_closed_form_matches_simulation(geometry, eps, shift, p, reading):
    sc = synthetic.combined_shift(p["m"] + p["C"] + p["extra"], p["m"], p["C"], p["lam"], eps=eps, shift=shift,
                                  geometry=geometry, rng=p["seed"])
    t = sc.truth
    cf = chen.combined_one_step(t["B_star"], t["V_com"], t["shifts"], eps, p["lam"], p["eta"], half=p["half"],
                                reading=reading)
    key = "global" if reading == "others" else "global_mixture"
    _, _, f = _engine(sc, ft(p["eta"], 1), p["half"])
    _, _, g = _engine(sc, lp_ft(p["eta"], 1), p["half"])
    assert f[key] == pytest.approx(cf["ft"].mean(), rel=RTOL, abs=1e-13)
    assert g[key] == pytest.approx(cf["lp_ft"].mean(), rel=RTOL, abs=1e-13)
    assert f["local"] == pytest.approx(cf["ft_local"].mean(), rel=RTOL, abs=1e-13)
    # the all-readings engine agrees with the structural closed form
    num = chen.pft_global_gap(t["B_star"], t["V_com"], t["shifts"], eps, p["lam"], p["eta"], half=p["half"],
                              reading=reading)
    assert num["gap"] == pytest.approx(cf["ft"].mean() - cf["lp_ft"].mean(), rel=1e-8, abs=1e-13)


@given(seed=st.integers(0, 5000), eta=st.floats(0.05, 0.5), eps=st.floats(0.2, 1.5), shift=st.floats(0.2, 3.0))
def test_gap_is_exactly_quadratic_in_lambda_with_nonnegative_leading_term(seed, eta, eps, shift):
    sc = synthetic.combined_shift(10, 2, 3, 1.0, eps=eps, shift=shift, geometry="random", rng=seed)
    t = sc.truth
    q = chen.combined_gap_coeffs(t["B_star"], t["V_com"], t["shifts"], eps, eta)
    assert q[2] >= -1e-10 * max(1.0, abs(q).max())
    for lam in (0.3, 5.0):
        gap = chen.pft_global_gap(t["B_star"], t["V_com"], t["shifts"], eps, lam, eta)["gap"] / lam ** 2
        assert gap == pytest.approx(q[0] + q[1] * lam + q[2] * lam ** 2, rel=1e-7, abs=1e-9)


# A rerunnable instance where Theorem 4.5's λ* is finite: LP-FT wins on (0, λ*], FT on (λ*, λ**).
LAMBDA_STAR_CASE = dict(seed=888118, eta=0.31375537916572976, eps=0.9203176528252481, shift=2.4671901725557777)


def _case():
    c = LAMBDA_STAR_CASE
    sc = synthetic.combined_shift(10, 2, 3, 1.0, eps=c["eps"], shift=c["shift"], geometry="random", rng=c["seed"])
    return sc.truth, c


def test_lambda_star_is_computable_and_correct_on_both_sides():
    t, c = _case()
    q = chen.combined_gap_coeffs(t["B_star"], t["V_com"], t["shifts"], c["eps"], c["eta"])
    r = chen.lambda_star(q)
    assert r["holds_small_lambda"] and 1 < r["lambda_star"] < r["lambda_star2"] < np.inf
    for lam, lp_ft_wins in [(0.5 * r["lambda_star"], True), (0.99 * r["lambda_star"], True),
                            (1.01 * r["lambda_star"], False), (0.5 * (r["lambda_star"] + r["lambda_star2"]), False),
                            (1.01 * r["lambda_star2"], True), (3 * r["lambda_star2"], True)]:
        sc = synthetic.combined_shift(10, 2, 3, lam, eps=c["eps"], shift=c["shift"], geometry="random", rng=c["seed"])
        _, _, f = _engine(sc, ft(c["eta"], 1))
        _, _, g = _engine(sc, lp_ft(c["eta"], 1))
        assert (g["global"] <= f["global"]) == lp_ft_wins, lam
    num = chen.gap_crossings(t["B_star"], t["V_com"], t["shifts"], c["eps"], c["eta"], np.geomspace(0.1, 200, 80))
    np.testing.assert_allclose(num["crossings"], [r["lambda_star"], r["lambda_star2"]], rtol=1e-8)


def test_theorem_4_5_fails_at_small_lambda_for_small_steps():
    """Counterexample: with a small step FT has the lower global loss at every small λ (q_0 < 0)."""
    t, c = _case()
    q = chen.combined_gap_coeffs(t["B_star"], t["V_com"], t["shifts"], c["eps"], 0.05)
    assert q[0] < 0 and not chen.lambda_star(q)["holds_small_lambda"]
    sc = synthetic.combined_shift(10, 2, 3, 0.01, eps=c["eps"], shift=c["shift"], geometry="random", rng=c["seed"])
    _, _, f = _engine(sc, ft(0.05, 1))
    _, _, g = _engine(sc, lp_ft(0.05, 1))
    assert f["global"] < g["global"]


@pytest.mark.parametrize("aprime,lp_ft_wins", [(1.3, True), (0.7, False)])
def test_private_geometry_threshold_both_sides(aprime, lp_ft_wins):
    sc0 = synthetic.combined_shift(10, 2, 3, 1.0, eps=0.6, shift=1.2, geometry="private", rng=4)
    v = float(sc0.truth["V_com"] @ sc0.truth["V_com"])
    eta = aprime / (2 * (1.2 ** 2 + 0.6 ** 2) * (1 + v))
    assert chen.private_geometry_threshold(v, 1.2, 0.6, eta) == pytest.approx(aprime)
    for lam in (0.1, 1.0, 10.0):  # λ-free: the verdict is the same at every heterogeneity level
        sc = synthetic.combined_shift(10, 2, 3, lam, eps=0.6, shift=1.2, geometry="private", rng=4)
        _, _, f = _engine(sc, ft(eta, 1))
        _, _, g = _engine(sc, lp_ft(eta, 1))
        assert (g["global"] < f["global"]) == lp_ft_wins


def test_exact_lp_ft_never_moves_and_interpolating_ft_has_the_same_global_loss():
    """Under concept shift with Σ = I, global loss depends only on w: once FT interpolates (local loss → 0)
    it has exactly LP-FT's global loss 2λ²(1 − ω); FT differs only before it converges."""
    sc = synthetic.concept_shift(10, 2, 3, 0.8, rng=2)
    v = float(sc.truth["V_com"] @ sc.truth["V_com"])
    run = chen.reduced_concept_run(v, 0.8, 0.05, 3000)
    red = chen.reduced_losses(run, v, 0.8, 3)
    assert red["local"][-1] < 1e-20
    assert red["global"][-1] == pytest.approx(2 * 0.8 ** 2, rel=1e-9)
    _, out, g = _engine(sc, lp_ft(0.05, 50))
    assert g["global"] == pytest.approx(2 * 0.8 ** 2, rel=1e-12)


def test_bad_readings_rejected():
    with pytest.raises(ValueError, match="lp must be one of"):
        chen.theorem_4_4(1.0, 1.0, 0.1, 3, lp="two-step")
    with pytest.raises(ValueError, match="needs alpha"):
        chen.theorem_4_4(1.0, 1.0, 0.1, 3, lp="partial")
    with pytest.raises(ValueError, match="reading must be one of"):
        chen.combined_gap_coeffs(np.eye(3), np.ones(1), np.zeros((2, 3)), 1.0, 0.1, reading="all")


# Both readings of "global": others (Chen et al.'s Global) and the mixture of all C clients. They agree at
# ω = 0 and differ with overlap; e.g. C = 2, ω = 0.3: the mixture root is 0.3, the others root −0.4.
@pytest.mark.parametrize("C,omega,a", [
    (2, 0.3, 0.2), (2, 0.3, 0.4), (2, 0.3, 0.95), (2, 0.3, 1.05),  # around r_mix = 0.3 and around 1
    (4, 0.8, 0.3), (4, 0.8, 0.65), (4, 0.8, 0.9),                  # r_others = 0.6, r_mix = 0.7
    (3, 0.0, 0.5), (3, 0.0, 1.5),                                  # ω = 0: both readings a > 1
])
def test_overlap_condition_each_reading_both_sides(C, omega, a):
    lam = 0.8
    sc = synthetic.concept_shift(C + 4, 2, C, lam, overlap=omega, rng=7)
    v = float(sc.truth["V_com"] @ sc.truth["V_com"])
    eta = a / chen.step_curvature(v)
    _, _, f = _engine(sc, ft(eta, 1))
    _, _, g = _engine(sc, lp_ft(eta, 1))
    for reading, key in (("others", "global"), ("mixture", "global_mixture")):
        r = chen.condition_root(omega, C, reading)
        assert chen.lp_ft_wins(a, omega, C, reading) == ((a - 1) * (a - r) > 0)
        assert (g[key] < f[key]) == chen.lp_ft_wins(a, omega, C, reading), (reading, r)


def test_the_readings_disagree_where_the_issue_says():
    """C = 2, ω = 0.3, a < 0.3: LP-FT wins the mixture reading, FT wins the others reading."""
    assert chen.condition_root(0.3, 2, "mixture") == pytest.approx(0.3)
    assert chen.lp_ft_wins(0.2, 0.3, 2, "mixture") and not chen.lp_ft_wins(0.2, 0.3, 2, "others")


@pytest.mark.parametrize("C,eps,shift,offset", [(2, 0.6, 1.2, -0.1), (2, 0.6, 1.2, 0.1), (3, 0.5, 1.5, -0.1),
                                                (3, 0.5, 1.5, 0.1), (4, 0.7, 0.4, 0.3)])
def test_private_shift_condition_each_reading_both_sides(C, eps, shift, offset):
    """Private shifts: the mixture root r' = (σ² − (C−2)ε²)/(σ² + Cε²); a' just below/above it, and a'
    above 1, at two heterogeneity levels (the condition is λ-free)."""
    r = chen.private_condition_root(shift, eps, C, "mixture")
    for aprime in ([r + offset] if r + offset > 0 else []) + [1.0 + abs(offset)]:
        for lam in (0.3, 3.0):
            sc = synthetic.combined_shift(C + 5, 2, C, lam, eps=eps, shift=shift, geometry="private", rng=4)
            v = float(sc.truth["V_com"] @ sc.truth["V_com"])
            eta = aprime / (2 * (shift ** 2 + eps ** 2) * (1 + v))
            assert chen.private_geometry_threshold(v, shift, eps, eta) == pytest.approx(aprime)
            _, _, f = _engine(sc, ft(eta, 1))
            _, _, g = _engine(sc, lp_ft(eta, 1))
            for reading, key in (("others", "global"), ("mixture", "global_mixture")):
                rr = chen.private_condition_root(shift, eps, C, reading)
                assert (g[key] <= f[key]) == ((aprime - 1) * (aprime - rr) >= 0), (reading, aprime, rr)
