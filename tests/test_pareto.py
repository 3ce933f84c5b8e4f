"""The local/global Pareto frontier of the 2×2 concept-shift family, against brute force and simulation;
the stable-step quantities (curvature along the step, exact Hessian); the reduced gradient flow."""
import numpy as np
import pytest

import synthetic
from lpft_theory import gradient_flow, two_layer, two_layer_params
from lpft_theory.metrics import cross_matrix, summarize
from lpft_theory.strategies import ft, lp, lp_ft
from lpft_theory.theory import chen


def _engine(sc, strategy, half=False):
    arch = two_layer(sc.d, sc.truth["B_star"].shape[0])
    pG = two_layer_params(*synthetic.idealised_init(sc))
    return summarize(cross_matrix(arch, strategy(arch, pG, sc.population, half=half).params, sc.population, half=half))


@pytest.mark.parametrize("omega,half", [(0.0, False), (0.6, False), (0.3, True)])
def test_frontier_bounds_every_simulated_run_and_is_attained(omega, half):
    """Brute force over the simulator: FT and LP-FT (exact, partial, one-step LP) for many (η, T) never go
    below the frontier (both readings); one FT step with a <= 1 lies on it, with a > 1 exactly
    4λ²(a−1)(1−ω) above it (times ½ with the ½ convention)."""
    lam, C = 0.9, 4
    sc = synthetic.concept_shift(9, 2, C, lam, overlap=omega, rng=3)
    v = float(sc.truth["V_com"] @ sc.truth["V_com"])
    beta = chen.step_curvature(v, half)
    gaps, mix_gaps, n = [], [], 0
    for a in np.linspace(0.1, 2.4, 12):
        eta = a / beta
        for T in (1, 2, 4, 8):
            for strat in (ft(eta, T), lp_ft(eta, T), lp_ft(eta, T, lp("partial", alpha=0.4)),
                          lp_ft(eta, T, lp("steps", eta=eta, steps=1))):
                s = _engine(sc, strat, half)
                fr = chen.pareto_frontier(s["local"], lam, C, omega, half)
                gaps.append(s["global"] - fr["global"])
                mix_gaps.append(s["global_mixture"] - fr["global_mixture"])
                n += 1
        s = _engine(sc, ft(eta, 1), half)
        excess = s["global"] - chen.pareto_frontier(s["local"], lam, C, omega, half)["global"]
        assert excess == pytest.approx(chen.ft_frontier_excess(a, lam, omega, half), abs=1e-10)
    # tolerance: G* depends on √ℓ, so round-off of 1e-17 in ℓ ≈ 0 moves it by ~1e-8
    assert n == 192 and min(gaps) > -1e-7 and min(mix_gaps) > -1e-7
    assert max(gaps) > 0.1  # the runs do spread above it


@pytest.mark.parametrize("omega", [0.0, 0.5])
def test_frontier_is_the_minimum_over_the_plane(omega):
    """Independent of the derivation: every predictor at local loss ℓ (a circle around the client's
    optimum in the (e, A) plane), searched on a fine angular grid."""
    lam, C = 1.3, 5
    theta = np.linspace(0, 2 * np.pi, 20001)
    for ell in (0.0, 0.05, 0.4, 1.2, 3.0):
        e, A = np.sqrt(ell) * np.cos(theta), lam + np.sqrt(ell) * np.sin(theta)
        L = chen.concept_losses(A, lam, C, omega, shared_error=e)
        assert np.allclose(L["local"], ell)
        fr = chen.pareto_frontier(ell, lam, C, omega)
        assert L["global"].min() == pytest.approx(float(fr["global"]), abs=1e-7)
        assert L["global_mixture"].min() == pytest.approx(float(fr["global_mixture"]), abs=1e-7)


def test_frontier_efficiency_ends():
    fr = chen.pareto_frontier(np.array([0.0, 0.24, 0.5 ** 2 * 1.01]), 1.0, 3, omega=0.5)
    assert fr["efficient"].tolist() == [True, True, False]  # efficient iff √ℓ <= λ(1 − ω) = 0.5
    with pytest.raises(ValueError, match="local"):
        chen.pareto_frontier(-1.0, 1.0, 3)


def test_matched_local_loss_one_step_is_on_the_frontier_and_more_steps_lie_above():
    v, lam, C = 0.4, 1.0, 5
    etas = np.linspace(0.02, 2.2, 60) / chen.step_curvature(v)
    ells = np.array([0.05, 0.2, 0.6])
    front = chen.pareto_frontier(ells, lam, C)["global"]
    one = chen.matched_global_exact(v, lam, C, ells, 1, etas)
    np.testing.assert_allclose(one["global"], front, rtol=1e-10)
    a = one["eta"] * chen.step_curvature(v)
    np.testing.assert_allclose(a, 1 - np.sqrt(ells) / lam, rtol=1e-8)  # the undershooting root a = 1 − √ℓ/λ
    # half-way LP (local 0.25 λ²) then one FT step: e = 0 still, so on the frontier below 0.25 λ², and
    # above it where only an overshoot reaches ℓ
    lp_half = chen.matched_global_exact(v, lam, C, ells, 1, etas, lp_alpha=0.5)
    np.testing.assert_allclose(lp_half["global"][:2], front[:2], rtol=1e-10)
    assert lp_half["global"][2] > front[2] + 1
    five = chen.matched_global_exact(v, lam, C, ells, 5, etas, descent_only=True)
    assert np.all(five["global"] > front + 1e-6)  # the shared predictor is distorted from the 2nd step on
    # the grid interpolation used by the figure agrees with the exact roots to the grid's resolution
    cur = chen.concept_curves(v, lam, C, np.linspace(0.02, 2.2, 400) / chen.step_curvature(v), 1)
    np.testing.assert_allclose(chen.matched_global(cur["FT"], ells), front, atol=1e-4)


def test_reduced_flow_matches_full_gradient_flow():
    lam = 0.7
    sc = synthetic.concept_shift(8, 2, 3, lam, rng=5)
    v = float(sc.truth["V_com"] @ sc.truth["V_com"])
    times = np.array([0.0, 0.1, 0.5, 2.0])
    arch = two_layer(8, 5)
    pG = two_layer_params(*synthetic.idealised_init(sc))
    pG = tuple(np.repeat(p[None], 3, axis=0) for p in pG)  # one copy per client
    full = gradient_flow(arch, pG, sc.population, times)
    red = chen.reduced_losses(chen.reduced_concept_flow(v, lam, times), v, lam, 3)
    for k, params in enumerate(full.snapshots):
        s = summarize(cross_matrix(arch, params, sc.population))
        assert s["local"] == pytest.approx(red["local"][k], rel=1e-7, abs=1e-12)
        assert s["global"] == pytest.approx(red["global"][k], rel=1e-7)


@pytest.mark.parametrize("half", [False, True])
def test_curvature_along_the_step_and_exact_hessian(half):
    """Local loss along FT's first step is λ²(ηβ − 1)² (β = c(1+v)); the Hessian matches finite differences."""
    lam = 0.8
    sc = synthetic.concept_shift(7, 2, 3, lam, rng=2)
    v = float(sc.truth["V_com"] @ sc.truth["V_com"])
    beta = chen.step_curvature(v, half)
    for a in (0.5, 1.0, 1.7, 2.3):
        s = _engine(sc, ft(a / beta, 1), half)
        assert s["local"] == pytest.approx((0.5 if half else 1.0) * lam ** 2 * (a - 1) ** 2, rel=1e-9, abs=1e-14)
    B0, V0 = synthetic.idealised_init(sc)
    w = sc.truth["V_stars"][0] @ sc.truth["B_star"]
    H = chen.hessian(B0, V0, np.eye(7), w, half)
    c = 1.0 if half else 2.0
    loss = lambda th: c / 2 * np.sum((th[:35].reshape(5, 7).T @ th[35:] - w) ** 2)  # noqa: E731
    th0 = np.concatenate([B0.ravel(), V0])
    g = np.random.default_rng(0).standard_normal(40)
    h = 1e-4
    fd = (loss(th0 + h * g) - 2 * loss(th0) + loss(th0 - h * g)) / h ** 2
    assert g @ H @ g == pytest.approx(fd, rel=1e-6)
    assert chen.sharpness(B0, V0, np.eye(7), w, half) >= beta - 1e-12  # the step direction is one direction


def test_pareto_figure_numbers():
    """The plotted numbers (quick, seed 0): the frontier curve is the closed form, one FT step with a <= 1
    lies on it, and after T descent steps LP-FT stays closer to it than FT at the smallest local loss."""
    import figures

    d = figures.module("pareto_frontier").compute(quick=True, seed=0)
    ell = np.array(d["ell_line"])
    np.testing.assert_allclose(d["frontier"], 1 + (1 - np.sqrt(ell)) ** 2, rtol=1e-12)
    a, L1, G1 = (np.array(d[k]) for k in ("a", "one_step_local", "one_step_global"))
    on = a <= 1
    np.testing.assert_allclose(G1[on], chen.pareto_frontier(L1[on], 1.0, 5)["global"], rtol=1e-12)
    for T, ex in d["excess"].items():
        ft_ex, lp_ex = np.array(ex["FT"], float), np.array(ex["LP-FT"], float)
        assert np.nanmin(ft_ex) > -1e-12 and np.nanmin(lp_ex) > -1e-12
        assert ft_ex[0] > 5 * lp_ex[0] > 0, T


def test_bad_inputs_name_the_parameter():
    with pytest.raises(ValueError, match="omega"):
        chen.pareto_frontier(0.1, 1.0, 3, omega=1.5)
    with pytest.raises(ValueError, match="n_clients"):
        chen.condition_root(0.2, 1, "mixture")
    with pytest.raises(ValueError, match="reading"):
        chen.private_condition_root(1.0, 0.5, 3, "all")
    with pytest.raises(ValueError, match="times"):
        chen.reduced_concept_flow(0.5, 1.0, [1.0, 0.5])


# ------------------------------------------------------------------ the frontier's scope, and the one beyond it
@pytest.mark.parametrize("C,omega", [(2, 0.0), (3, 0.4), (5, 0.9), (4, 1.0)])
def test_frontier_of_every_predictor_closed_form_brute_force_and_below_gstar(C, omega):
    """G_any from the targets equals its closed form in (C, ω); no predictor of R^d at local loss ℓ (a sphere
    around w_i*, sampled densely) goes below it and the minimiser attains it; it is below G* for ℓ > 0 unless ω = 1."""
    lam = 0.8
    sc = synthetic.concept_shift(C + 4, 2, C, lam, overlap=omega, rng=5)
    ws = sc.truth["V_stars"] @ sc.truth["B_star"]
    g = np.random.default_rng(0)
    for ell in (0.0, 0.05, 0.3, 1.0):
        any_ = chen.frontier_any(ell, ws, 0)
        cf = chen.pareto_frontier_any(ell, lam, C, omega)
        assert float(cf["global"]) == pytest.approx(float(any_), abs=1e-12)
        assert float(cf["global_mixture"]) == pytest.approx(float(chen.frontier_any(ell, ws, 0, reading="mixture")),
                                                            abs=1e-12)
        dirs = g.standard_normal((20000, ws.shape[1]))
        dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
        W = ws[0] + np.sqrt(ell) * dirs
        glob = np.mean(np.sum((W[:, None, :] - ws[None, 1:, :]) ** 2, axis=2), axis=1)
        assert glob.min() >= float(any_) - 1e-12
        gstar = float(chen.pareto_frontier(ell, lam, C, omega)["global"])
        assert float(any_) <= gstar + 1e-12
        if ell > 0 and omega < 1:
            assert float(any_) < gstar - 1e-3


def _client0(omega=0.5, lam=0.9, C=4, seed=3):
    sc = synthetic.concept_shift(9, 2, C, lam, overlap=omega, rng=seed)
    v = float(sc.truth["V_com"] @ sc.truth["V_com"])
    return sc, v, sc.truth["V_stars"] @ sc.truth["B_star"], synthetic.idealised_init(sc)


def test_client_optimizer_gd_is_the_engine():
    sc, v, ws, (B0, V0) = _client0()
    for T, a in ((1, 0.7), (4, 1.3)):
        eta = a / chen.step_curvature(v)
        w = chen.client_optimizer_run(B0, V0, ws[0], T, eta)
        s = cross_matrix(two_layer(9, 6), ft(eta, T)(two_layer(9, 6), two_layer_params(B0, V0), sc.population).params,
                         sc.population)
        L = chen.predictor_losses(w, ws, 0)
        assert L["local"] == pytest.approx(s[0, 0], rel=1e-10)
        assert L["global"] == pytest.approx(np.delete(s[0], 0).mean(), rel=1e-10)


def test_in_scope_methods_never_go_below_gstar_and_out_of_scope_ones_do_but_not_below_g_any():
    """Brute force: heavy ball, Nesterov and GD with decaying steps (in scope) stay on or above G*; Adam,
    a preconditioner and finite-sample GD (out of scope) reach below G* and never below G_any."""
    omega, lam, C = 0.5, 0.9, 4
    sc, v, ws, (B0, V0) = _client0(omega, lam, C)
    beta = chen.step_curvature(v)
    g = np.random.default_rng(1)
    low = {"in": np.inf, "out": np.inf, "any": np.inf}
    for k in range(240):
        a, T, decay = g.uniform(0.05, 2.0), int(g.integers(1, 20)), g.uniform(0.8, 1.05)
        kw = {"decay": decay}
        if k % 2 == 0:
            side = "in"
            kw.update(method=chen.IN_SPAN_METHODS[k // 2 % 3], momentum=g.uniform(0, 0.9))
            eta = a / beta
        else:
            side = "out"
            which = k // 2 % 3
            eta = a / beta
            if which == 0:
                kw["method"], eta = "adam", 0.05 * a * lam
            elif which == 1:
                Q = np.linalg.qr(g.standard_normal((9, 9)))[0]
                kw.update(method="precond", precond=Q @ np.diag(np.geomspace(1, 30, 9)) @ Q.T / np.sqrt(30))
            else:
                n = int(g.integers(4, 40))
                X = g.standard_normal((n, 9))
                kw.update(Sigma=X.T @ X / n, xty=X.T @ (X @ ws[0]) / n)
        with np.errstate(over="ignore", invalid="ignore"):
            L = chen.predictor_losses(chen.client_optimizer_run(B0, V0, ws[0], T, eta, **kw), ws, 0)
        if not (np.isfinite(L["local"]) and L["local"] < 100):
            continue
        low[side] = min(low[side], L["global"] - float(chen.pareto_frontier(L["local"], lam, C, omega)["global"]))
        low["any"] = min(low["any"], L["global"] - float(chen.frontier_any(L["local"], ws, 0)))
    assert low["in"] > -1e-9 and low["out"] < -1e-2 and low["any"] > -1e-9


@pytest.mark.parametrize("half", [False, True])
def test_one_ft_step_excess_within_1e_3_of_a_equal_one(half):
    lam, C, omega = 0.7, 3, 0.3
    sc = synthetic.concept_shift(8, 2, C, lam, overlap=omega, rng=6)
    v = float(sc.truth["V_com"] @ sc.truth["V_com"])
    for a in (1 - 5e-4, 1 + 5e-4, 2 - 5e-4, 2 + 5e-4):
        s = _engine(sc, ft(a / chen.step_curvature(v, half), 1), half)
        fr = chen.pareto_frontier(s["local"], lam, C, omega, half)
        ex = chen.ft_frontier_excess(a, lam, omega, half)
        assert s["global"] - fr["global"] == pytest.approx(ex, abs=1e-9)
        assert s["global_mixture"] - fr["global_mixture"] == pytest.approx((C - 1) / C * ex, abs=1e-9)
