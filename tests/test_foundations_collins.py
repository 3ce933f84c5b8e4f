"""Collins et al. 2022 (FedAvg learns B* only with τ >= 2 and diverse tasks): closed forms and mutation tests."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lpft_theory.theory import collins as Co
from paper_checks import Context
from paper_checks import collins2022 as C
from synthetic.base import orthonormal_rows
from synthetic.multitask import multitask


@settings(max_examples=10)
@given(d=st.integers(4, 12), k=st.integers(1, 3), tau=st.integers(1, 4), seed=st.integers(0, 1000),
       eta=st.floats(0.01, 0.3))
def test_round_identity_is_exact(d, k, tau, seed, eta):
    sc = multitask(d, k, 7, head_mean=0.3, rng=seed)
    g = np.random.default_rng(seed + 1)
    B, v = orthonormal_rows(k, d, g), 0.3 * g.standard_normal(k)
    H, B_loc, _ = Co.local_round(B, v, sc.population, eta, tau)
    lhs = Co.off_part(B_loc.mean(0), sc.truth["B_star"])
    rhs = Co.round_operator(H, eta) @ Co.off_part(B, sc.truth["B_star"])
    assert np.allclose(lhs, rhs, atol=1e-12, rtol=0)


def test_tau_two_contraction_is_exact_and_tau_one_is_none():
    sc = multitask(10, 2, 20, rng=0)
    B = orthonormal_rows(2, 10, 1)
    H, _, _ = Co.local_round(B, np.zeros(2), sc.population, 0.05, 2)
    pred = Co.small_step_contraction(B, sc.truth["thetas"], 0.05, 2)
    assert np.allclose(np.eye(2) - Co.round_operator(H, 0.05), pred, rtol=1e-10, atol=1e-16)
    H1, _, _ = Co.local_round(B, np.zeros(2), sc.population, 0.05, 1)
    assert np.array_equal(Co.round_operator(H1, 0.05), np.eye(2))
    assert Co.S_tau(1) == 0 and Co.S_tau(3) == 5


def test_sin_angle_and_rank():
    B = orthonormal_rows(2, 6, 0)
    assert Co.sin_largest_angle(3 * B, B) < 1e-12
    Q = np.eye(6)[:2]
    assert abs(Co.sin_largest_angle(Q, np.eye(6)[[0, 2]]) - 1.0) < 1e-12
    assert Co.task_rank(np.array([[1.0, 0, 0], [2.0, 0, 0]])) == 1
    with pytest.raises(ValueError, match="columns"):
        Co.sin_largest_angle(np.eye(3), np.eye(4))


def test_multitask_rejects_bad_input():
    with pytest.raises(ValueError, match="n_per_client"):
        multitask(5, 2, 3, n_per_client=5)
    with pytest.raises(ValueError, match="head_scales"):
        multitask(5, 2, 3, head_scales=(1.0,))


def test_local_steps_check_and_its_mutants():
    ctx = Context(quick=True, seed=0)
    v = C.local_steps_check(ctx)
    assert v.status == "holds-under-condition", v.evidence
    # a wrong condition (local steps alone, no task diversity) must stop it confirming
    assert C.local_steps_check(ctx, condition=lambda tau, rank, k: tau >= 2).status == "refuted"
    # a wrong rate constant (τ² instead of S_τ) must fail the closed-form part
    wrong = lambda B, th, eta, tau: eta ** 3 * tau ** 2 * (B @ Co.task_matrix(th) @ B.T)  # noqa: E731
    assert C.local_steps_check(ctx, contraction=wrong).status == "refuted"


def test_premise_is_refuted_with_a_counterexample():
    v = C.chen_premise(Context(quick=True, seed=0))
    assert v.status == "refuted" and v.counterexample
    assert all(r == 5 for r in v.evidence["rank_Theta"]) and min(v.evidence["sin_theta_max_to_B_star"]) > 0.9


def test_round_identity_adversary_and_a_mutated_operator():
    """E_{r+1} = A_r E_r against the adversary (any B, head, tau <= 8, step up to 0.5, identical to diverse tasks):
    not broken; an operator with 1.001 eta is."""
    assert C.round_search(True, 0)["worst_margin"] >= 0
    assert C.round_search(True, 0, lambda H, eta: Co.round_operator(H, 1.001 * eta))["worst_margin"] < 0
