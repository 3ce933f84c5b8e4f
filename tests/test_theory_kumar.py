"""Kumar et al. 2022: Lemma A.3, Theorem 3.1 along trajectories, Theorem 3.2, Propositions 3.1–3.2."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import synthetic
from lpft_theory import gradient_descent, gradient_flow, two_layer
from lpft_theory.strategies import lp_ft
from lpft_theory.theory import kumar as K


def _problem(seed, eps=0.1, d=16, k=2, n=6, sigma_v0=0.5):
    sc = synthetic.kumar(d, k, n, eps=eps, sigma_v0=sigma_v0, rng=seed)
    return sc, two_layer(d, k), sc.truth


@settings(max_examples=12)
@given(seed=st.integers(0, 10_000), eps=st.floats(0.0, 0.4), kappa=st.floats(0.05, 5.0))
def test_corrected_theorem_3_1_never_violated_along_flow(seed, eps, kappa):
    """What holds instead of Theorem 3.1 (paper_checks.kumar2022.corrected_bound: 1/2 x the main term minus
    eps max(1, |w*|)); the bound as printed fails on admissible instances (tests/test_mutation_theory.py)."""
    from paper_checks.kumar2022 import corrected_bound
    sc, arch, t = _problem(seed, eps)
    t = {**t, "v_star": kappa * t["v_star"], "w_star": kappa * t["w_star"]}
    X = sc.train.X[0]
    data = type(sc.train)(X[None], (X @ t["w_star"])[None, :, None])
    traj = gradient_flow(arch, (t["B_0"], t["v_0"][:, None]), data[0], np.linspace(0, 20, 21))
    bound = corrected_bound(t["B_0"], t["S_perp"], t["v_0"], t["v_star"], t["w_star"], eps)
    for B, v in traj.snapshots:
        assert np.sqrt(K.ood_loss(v[:, 0], B, t["w_star"])) >= bound - 1e-12


def test_theorem_3_1_bound_is_informative_somewhere():
    """The bound is not vacuous: positive for perfect-ish features and a misaligned head."""
    sc, arch, t = _problem(3, eps=0.0, sigma_v0=0.1)
    assert K.cos_theta_k(t["B_0"], t["S_perp"]) > 0.3
    assert K.theorem_3_1_bound(t["B_0"], t["S_perp"], t["v_0"], t["v_star"], t["w_star"], 0.0) > 0


def test_theorem_3_2_ratio_vanishes_as_eps_shrinks():
    ratios = []
    for eps in (0.2, 0.05, 0.0125):
        vals = []
        for seed in range(5):
            sc, arch, t = _problem(seed, eps)
            v_lp = K.lp_infinity_head(t["B_0"], sc.train.X[0], sc.train.Y[0])
            lp_ood = K.ood_loss(v_lp, t["B_0"], t["w_star"])
            traj = gradient_flow(arch, (t["B_0"], t["v_0"][:, None]), sc.train[0], np.linspace(0, 20, 11))
            ft_ood = min(K.ood_loss(v[:, 0], B, t["w_star"]) for B, v in traj.snapshots)
            vals.append(lp_ood / ft_ood)
        ratios.append(np.median(vals))
    assert ratios[0] > ratios[1] > ratios[2]
    assert ratios[2] < 0.02 * ratios[0]  # O(ε²): a 16× smaller ε gives a far smaller ratio


def test_proposition_3_1_ft_beats_lp_in_distribution():
    sc, arch, t = _problem(7, eps=0.3)
    X, Y = sc.train.X[0], sc.train.Y[0]
    # w* ∉ rowspace(B_0) because ε > 0
    assert np.linalg.norm(t["w_star"] - t["B_0"].T @ t["B_0"] @ t["w_star"]) > 1e-3
    v_lp = K.lp_infinity_head(t["B_0"], X, Y)
    ft_end = gradient_descent(arch, (t["B_0"], t["v_0"][:, None]), sc.train[0], 0.05, 4000).params
    assert arch.loss(ft_end, sc.train[0]) < 1e-12  # converged to a global minimum of the training loss
    ft_id = K.id_worst_case_loss(ft_end[1][:, 0], ft_end[0], t["w_star"], X)
    lp_id = K.id_worst_case_loss(v_lp, t["B_0"], t["w_star"], X)
    assert ft_id < 1e-10 < lp_id


def test_proposition_3_2_lp_ft_zero_ood_ft_positive():
    sc, arch, t = _problem(11, eps=0.0)  # B_0 = B*: perfect features
    assert K.cos_theta_k(t["B_0"], t["S_perp"]) > 0 and K.cos_theta_k(t["B_0"], sc.train.X[0]) > 0
    lpft = lp_ft(0.05, 200)(arch, (t["B_0"], t["v_0"][:, None]), sc.train[0], record=True)
    ft = gradient_descent(arch, (t["B_0"], t["v_0"][:, None]), sc.train[0], 0.05, 200, record_params=True)
    for B, v in lpft.snapshots[1:]:  # [0] is the global model before LP; from LP on, t >= 0 of FT
        assert K.ood_loss(v[0, :, 0], B[0], t["w_star"]) < 1e-20
    assert min(K.ood_loss(v[:, 0], B, t["w_star"]) for B, v in ft.snapshots) > 1e-6


@given(seed=st.integers(0, 10_000), eta=st.floats(1e-3, 0.04))
def test_lemma_a3_drift_function(seed, eta):  # divergent steps: tests/test_dynamics.py, by hand
    sc, arch, t = _problem(seed)
    end = gradient_descent(arch, (t["B_0"], t["v_0"][:, None]), sc.train[0], eta, 30).params
    assert K.s_perp_drift(end[0], t["B_0"], t["S_perp"]) < 1e-12 * max(1, np.abs(end[0]).max())


def test_balancedness_conserved_by_flow_not_by_large_gd_steps():
    sc, arch, t = _problem(2)
    p0 = (t["B_0"], t["v_0"][:, None])
    inv0 = K.balancedness(t["v_0"], t["B_0"])
    flow = gradient_flow(arch, p0, sc.train[0], np.array([5.0])).params
    np.testing.assert_allclose(K.balancedness(flow[1][:, 0], flow[0]), inv0, atol=1e-8)
    gd = gradient_descent(arch, p0, sc.train[0], 0.2, 20).params
    assert np.abs(K.balancedness(gd[1][:, 0], gd[0]) - inv0).max() > 1e-4  # GD only conserves it to O(η²)


def test_reduced_batched_flow_matches_the_engine_and_a_tight_integration():
    """K.ft_flow_min_sqrt_ood (what the adversary integrates): the same min_t √L_ood as the engine's gradient flow
    on the original coordinates (after K.canonical), and within 1e-5 of itself at rtol 1e-12 with per-instance
    time scales."""
    S, B, V, W, ref = [], [], [], [], []
    for seed in range(4):
        sc, arch, t = _problem(seed, eps=0.1, d=8, k=2, n=3)
        s, B0, w = K.canonical(sc.train.X[0], t["B_0"], t["w_star"])
        S.append(s), B.append(B0), V.append(t["v_0"]), W.append(w)
        traj = gradient_flow(arch, (t["B_0"], t["v_0"][:, None]), sc.train[0],
                             np.concatenate([[0], np.geomspace(0.01, 300, 600)]), rtol=1e-10, atol=1e-12, method="LSODA")
        ref.append(min(float(np.sqrt(K.ood_loss(v[:, 0], Bt, t["w_star"]))) for Bt, v in traj.snapshots))
    args = [np.array(a) for a in (S, B, V, W)]
    r = K.ft_flow_min_sqrt_ood(*args)
    assert r["converged"].all()
    np.testing.assert_allclose(r["min_sqrt_ood"], ref, rtol=1e-7)
    scale = 1.0 / (args[0].min(1) * (np.sum(args[3] ** 2, 1) + np.sum(args[2] ** 2, 1)))
    fast = K.ft_flow_min_sqrt_ood(*args, rtol=1e-6, atol=1e-9, scale=scale)
    tight = K.ft_flow_min_sqrt_ood(*args, rtol=1e-12, atol=1e-16, scale=scale)
    np.testing.assert_allclose(fast["min_sqrt_ood"], tight["min_sqrt_ood"], rtol=1e-5)
    np.testing.assert_allclose(tight["min_sqrt_ood"], ref, rtol=1e-7)
    with pytest.raises(ValueError, match="shapes"):
        K.ft_flow_min_sqrt_ood(args[0], args[1], args[2][:, :1], args[3])
