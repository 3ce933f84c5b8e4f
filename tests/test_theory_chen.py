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


# ------------------------------------------------------------------ the derived conditions at their boundaries
@pytest.mark.parametrize("omega,C", [(0.0, 3), (0.8, 4), (0.3, 2)])
def test_theorem_4_4_condition_within_1e_3_of_each_root(omega, C):
    """a = r ± 5e-4 for every root r of each reading: a threshold moved by 0.02 (a − 1 → a − 1.02) disagrees here."""
    lam = 0.6
    sc = synthetic.concept_shift(C + 4, 2, C, lam, overlap=omega, rng=11)
    v = float(sc.truth["V_com"] @ sc.truth["V_com"])
    for reading, key in (("others", "global"), ("mixture", "global_mixture")):
        for r in (1.0, chen.condition_root(omega, C, reading)):
            for a in (r - 5e-4, r + 5e-4):
                if a <= 0:
                    continue
                eta = a / chen.step_curvature(v)
                _, _, f = _engine(sc, ft(eta, 1))
                _, _, g = _engine(sc, lp_ft(eta, 1))
                if abs(f[key] - g[key]) < 1e-12:
                    continue  # a double root (omega = 1): a tie on both sides
                assert (g[key] < f[key]) == chen.lp_ft_wins(a, omega, C, reading), (reading, r, a)
                shifted = (a - 1.02) * (a - chen.condition_root(omega, C, reading)) > 0
                if 1.0 < a < 1.02:
                    assert shifted != (g[key] < f[key])


@given(geometry=st.sampled_from(["private", "shared", "random"]), eps=st.floats(0.1, 1.5), shift=st.floats(0.0, 2.5),
       p=instances, reading=st.sampled_from(["others", "mixture"]))
def test_gap_in_primitive_parameters_matches_the_structural_form_and_plain_gd(geometry, eps, shift, p, reading):
    sc = synthetic.combined_shift(p["m"] + p["C"] + p["extra"], p["m"], p["C"], 1.0, eps=eps, shift=shift,
                                  geometry=geometry, rng=p["seed"])
    t = sc.truth
    args = (t["B_star"], t["V_com"], t["shifts"], eps, p["eta"])
    q = chen.combined_gap_coeffs(*args, half=p["half"], reading=reading)
    poly = chen.combined_gap_poly(*args, half=p["half"], reading=reading)
    ex = chen.exact_gap_coeffs(*args, half=p["half"])
    scale = max(1.0, float(np.abs(q).max()))
    np.testing.assert_allclose(poly["q"], q, atol=1e-9 * scale)
    np.testing.assert_allclose(ex[reading]["q"], q, atol=1e-9 * scale)
    assert ex["residual"] < 1e-9 and poly["q"][2] >= 0 and poly["A"] > 0
    f = 0.5 if p["half"] else 1.0
    assert poly["q"][0] == pytest.approx(f * (poly["A"] * poly["s"] ** 2 - 2 * poly["B"] * poly["s"] - poly["D"]))
    assert chen.theorem_4_5_holds(*args, half=p["half"], reading=reading) == chen.lambda_star(q)["holds_small_lambda"]


def test_theorem_4_5_window_both_sides_against_the_engine():
    """η at s_± (1 ± 1e-3)/c: the engine's global losses at a small λ fall on the side the window predicts."""
    seen = 0
    for seed in range(40):
        sc = synthetic.combined_shift(9, 2, 3, 1.0, eps=0.6, shift=1.5, geometry="random", rng=seed)
        t = sc.truth
        for reading, key in (("others", "global"), ("mixture", "global_mixture")):
            w = chen.theorem_4_5_step_window(t["B_star"], t["V_com"], t["shifts"], 0.6, reading=reading)
            for s in (w["s_minus"], w["s_plus"]):
                if s is None or s <= 0:
                    continue
                for eta in (s * (1 - 1e-3) / 2, s * (1 + 1e-3) / 2):
                    small = synthetic.combined_shift(9, 2, 3, 1e-4, eps=0.6, shift=1.5, geometry="random", rng=seed)
                    assert np.array_equal(small.truth["shifts"], t["shifts"])  # the same draws at a small λ
                    _, _, f = _engine(small, ft(eta, 1))
                    _, _, g = _engine(small, lp_ft(eta, 1))
                    holds = chen.theorem_4_5_holds(t["B_star"], t["V_com"], t["shifts"], 0.6, eta, reading=reading)
                    assert (g[key] <= f[key]) == holds, (seed, reading, s, eta)
                    seen += 1
    assert seen >= 40


def test_private_shift_window_ends_at_aprime_one():
    sc = synthetic.combined_shift(10, 2, 3, 1.0, eps=0.6, shift=1.2, geometry="private", rng=4)
    t = sc.truth
    v = float(t["V_com"] @ t["V_com"])
    w = chen.theorem_4_5_step_window(t["B_star"], t["V_com"], t["shifts"], 0.6)
    assert w["s_plus"] == pytest.approx(1 / ((1.2 ** 2 + 0.6 ** 2) * (1 + v)), rel=1e-10)
    assert w["s_minus"] == pytest.approx(-w["s_plus"], rel=1e-10)


def test_descent_filter_needs_every_client():
    """Client 0's shift along its own feature makes one step overshoot past 2/β (its loss rises); client 1's does
    not: 'every client descends' is false while 'some client descends' is true; the engine agrees."""
    from paper_checks import chen2025 as C

    Vc = np.array([0.8, -0.5])
    sc0 = synthetic.combined_shift(8, 2, 2, 1.0, eps=0.3, shift=0.0, geometry="private", V_com=Vc, rng=2)
    B = sc0.truth["B_star"]
    shifts = np.stack([3.0 * B[2], np.zeros(8)])
    v = float(sc0.truth["V_com"] @ sc0.truth["V_com"])
    eta = 2.6 / (2 * (9.0 + 0.09) * (1 + v))  # a_0 = 2.6 > 2: client 0 ascends; a_1 ≈ 0.026: client 1 descends
    ex = chen.exact_gap_coeffs(B, sc0.truth["V_com"], shifts, 0.3, eta)
    assert not C._every_client_descends(ex["local0"], ex["start0"])
    assert np.any(ex["local0"] < ex["start0"])
    sc = synthetic.combined_shift(8, 2, 2, 1e-3, eps=0.3, shifts=shifts, V_com=Vc, rng=2)
    assert np.array_equal(sc.truth["B_star"], B)
    arch = two_layer(8, 4)
    pG = two_layer_params(*synthetic.idealised_init(sc))
    start = np.diag(cross_matrix(arch, ft(eta, 0)(arch, pG, sc.population).params, sc.population))
    after = np.diag(cross_matrix(arch, ft(eta, 1)(arch, pG, sc.population).params, sc.population))
    assert after[0] > start[0] and after[1] < start[1]


def test_engine_descent_agrees_with_the_small_lambda_limit_on_drawn_instances():
    from paper_checks import chen2025 as C

    g = np.random.default_rng(3)
    n = agree = 0
    for x in C.THM45_SPACE.sample(g, 25):
        p = C.THM45_SPACE.point(x)
        ex = C._exact45(p)
        ratio = ex["local0"] / ex["start0"]
        if np.min(np.abs(ratio - 1)) < 1e-3:
            continue  # a client on the edge of descent: λ = 1e-3 is not the limit there
        n += 1
        agree += C._engine_descends(p) == C._every_client_descends(ex["local0"], ex["start0"])
    assert n >= 15 and agree == n
