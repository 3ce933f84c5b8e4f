"""Tomihari & Sato 2024 (paper_checks/tomihari2024.py): one-step features, head scaling, LoRA vs FT kernels."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lpft_theory.data import Samples
from lpft_theory.models import DeepLinear
from lpft_theory.strategies import ft
from lpft_theory.theory import ntk as N
from paper_checks import Context
from paper_checks import tomihari2024 as T


@settings(max_examples=15)
@given(d=st.integers(3, 10), k=st.integers(1, 5), p=st.integers(2, 4), seed=st.integers(0, 10_000),
       eta=st.floats(0.01, 1.0))
def test_one_step_feature_change_closed_form(d, k, p, seed, eta):
    """Engine FT step vs η Σ_i (1/n) ⟨x, x_i⟩ V_0 δ_i (mean CE); the summed-loss form is n times larger."""
    g = np.random.default_rng(seed)
    n = int(g.integers(1, d))
    X, Y = g.standard_normal((n, d)), g.integers(0, p, n)
    B0, V0 = g.standard_normal((k, d)), g.standard_normal((k, p))
    tr = ft(eta, 1).fit(DeepLinear(d, (k,), p), (B0, V0), Samples(X[None], Y[None]), loss="ce")
    x = g.standard_normal((4, d))
    sim = x @ (tr.params[0][0] - B0).T
    cf = N.one_step_feature_change(x, X, Y, B0, V0, eta)
    # Absolute floors from the magnitudes compared (the change can be ~1e-8 when the softmax saturates,
    # and entries can cancel to ~0): sim reads the change off B_1 − B_0 with |B_0| ~ 1, so each entry of it
    # carries a rounding of ~eps·|B_0| (summed over d through x); both sides sum n·k products whose
    # size is eta·|x||X_i|·|V_0 δ_i|/n, so their round-off is ~eps times that sum, not times the result.
    eps = np.finfo(float).eps
    delta = N.residual_directions(X @ B0.T @ V0, Y)
    terms = eta * (np.abs(x) @ np.abs(X).T) @ (np.abs(delta) @ np.abs(V0).T) / n
    floor = 8 * eps * (np.abs(x) @ np.abs(B0).T + (d + n + k) * terms)
    np.testing.assert_array_less(np.abs(sim - cf), 1e-10 * np.abs(cf) + floor)
    summed = N.one_step_feature_change(x, X, Y, B0, V0, eta, np.ones(n))
    np.testing.assert_array_less(np.abs(summed - n * cf), 1e-12 * np.abs(n * cf) + 8 * eps * (d + n + k) * n * terms)


def test_one_step_check_and_normalisation_mutant():
    v = T.one_step(Context())
    assert v.status == "confirmed" and v.evidence["max_rel_error"] < 1e-12
    assert v.evidence["max_rel_change_orthogonal"] < 1e-12
    bad = T.one_step_check(Context(), weights_of=np.ones)  # the summed loss against the mean-loss engine
    assert bad.status == "refuted" and bad.counterexample


def test_head_scaling_and_mutant():
    v = T.head_scaling(Context())
    assert v.status == "holds-under-condition" and v.evidence["agree"] == v.evidence["instances"]
    fixed = [r for r in v.evidence["slopes"] if r["f0_fixed"]]
    assert all(abs(r["feature_slope"] - 1) < 1e-9 and abs(r["logit_slope"] - 2) < 1e-9 for r in fixed)
    assert T.head_scaling_check(Context(), predicted=(1.0, 1.0)).status == "refuted"


def test_lora_kernel_stated_refuted_proof_confirmed():
    s = T.lora_kernel_stated(Context())
    assert s.status == "refuted"
    row = next(r for r in s.evidence["settings"] if r["r"] == 2000 and r["eps"] == 0.25 and r["sigma"] == "1")
    assert row["failure_freq"] > 0.98 and row["allowed_failure_prob"] < 1e-9 and row["violated"]
    assert not any(r["violated"] for r in s.evidence["settings"] if r["sigma"] == "1/sqrt(r)")  # σ²r = 1
    p = T.lora_kernel_proof(Context())
    assert p.status == "confirmed" and p.evidence["lora_strategy_vs_kernel_rel_error"] < 1e-12


def test_lora_kernel_mutant_bound_too_small():
    assert T.kernel_check(Context(), "tomihari-lora-kernel-proof", scaled=True, c=0.2).status == "refuted"


def test_jl_probability_and_bad_inputs():
    assert N.jl_failure_probability(2000, 0.25) == pytest.approx(4 * np.exp(-(0.25 ** 2 - 0.25 ** 3) * 500))
    assert N.jl_failure_probability(1, 0.5) == 1.0
    with pytest.raises(ValueError, match="eps"):
        N.jl_failure_probability(10, 1.0)
    with pytest.raises(ValueError, match="r must be"):
        N.jl_failure_probability(0, 0.5)
    with pytest.raises(ValueError, match="eta"):
        N.one_step_feature_change(np.ones((1, 2)), np.ones((1, 2)), [0], np.ones((1, 2)), np.ones((1, 2)), 0.0)


def test_lora_kernel_figure_numbers():
    from figures import lora_kernel
    data = lora_kernel.compute(quick=True, seed=0)
    assert np.mean(np.asarray(data["stated_ratio"]) > 1) == 1.0
    assert np.max(data["proof_ratio"]) < 1.0


def test_lora_kernel_exact_failure_probability_matches_monte_carlo():
    """⟨A_2x, A_2x'⟩/σ² = λ₊X − |λ₋|Y with X, Y ~ χ²_r: the exact tail against 200k draws of A_2."""
    g = np.random.default_rng(0)
    for r, sig, a, b, rho, tau in [(10, 1.0, 1.0, 0.5, 0.3, 2.0), (1, 1.0, 1.0, 1.0, 0.2, 0.5), (20, 1.0, 1.0, 1.0, -1.0, 5.0)]:
        x = np.array([np.sqrt(a), 0.0])
        c = rho / np.sqrt(a)
        xp = np.array([c, np.sqrt(max(b - c * c, 0.0))])
        A = sig * g.standard_normal((200_000, r, 2))
        gap = np.abs(np.sum(np.einsum("nrd,d->nr", A, x) * np.einsum("nrd,d->nr", A, xp), 1) - sig ** 2 * r * rho)
        mc = float(np.mean(gap > tau))
        exact = N.lora_kernel_failure_probability(r, sig, a, b, rho, tau)
        assert abs(exact - mc) < 4 * np.sqrt(mc * (1 - mc) / gap.size) + 1e-4


def test_lora_kernel_as_printed_refuted_by_the_adversary_proof_version_survives():
    s = T.kernel_check(Context(), "tomihari-lora-kernel-stated", scaled=False)
    w = s.evidence["adversary"]["worst_instance"]
    assert s.status == "refuted" and s.counterexample["instance"]["admissible"]
    assert w["failure_probability"] > w["allowed"] and w["sigma^2 r c"] > 1
    assert s.claim.startswith("Prop. 4.4 as printed: ||F^LoRA(x, x') - sigma^2 r F^FT(x, x')||")
    p = T.kernel_check(Context(), "tomihari-lora-kernel-proof", scaled=True)
    assert p.status == "confirmed" and p.evidence["adversary"]["worst_margin"] >= 0
    assert p.evidence["adversary"]["evaluations"] > 0.9 * p.evidence["adversary"]["budget"]


def test_one_step_and_head_scaling_adversaries_and_their_mutants():
    ok = T.one_step_check(Context())
    assert ok.evidence["adversary"]["worst_margin"] > 0
    assert T.one_step_check(Context(), weights_of=np.ones).evidence["adversary"]["worst_margin"] < 0
    hs = T.head_scaling_check(Context())
    assert hs.evidence["adversary"]["worst_margin"] > 0
    assert T.head_scaling_search(True, 0, (1.0005, 2.0))["worst_margin"] < 0  # an exponent off by 5e-4
