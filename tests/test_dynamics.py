"""GD and gradient flow: Kumar et al.'s Lemma A.3, balancedness, divergence, masks, batching."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import synthetic
from lpft_theory import DivergenceError, Moments, Samples, gradient_descent, gradient_flow, linear, two_layer
from lpft_theory.dynamics import stable_step


def _kumar_problem(seed, d=12, k=2, n=5):
    sc = synthetic.kumar(d, k, n, eps=0.3, rng=seed)
    t = sc.truth
    arch = two_layer(d, k)
    return sc, arch, (t["B_0"], t["v_0"][:, None])


@given(seed=st.integers(0, 10_000), eta=st.floats(1e-3, 2.0))
def test_lemma_a3_features_unchanged_on_S_perp_under_gd(seed, eta):
    """B_t u = B_0 u for u ∈ S⊥ at every step size — also divergent ones, as long as numbers are finite.

    GD by hand (the engine's divergence guard would stop large steps early): ∇_B L = 2 v rᵀ X/n has
    rows in S, so each step leaves B P_{S⊥} unchanged up to round-off relative to |B|.
    """
    sc, arch, p0 = _kumar_problem(seed)
    S_perp = sc.truth["S_perp"]
    params = p0
    for _ in range(50):
        value, grads = arch.value_and_grad(params, sc.train)
        if not np.isfinite(value) or value > 1e100:
            break
        params = tuple(p - eta * g[0] for p, g in zip(params, grads))
        B = params[0]
        assert np.max(np.abs(B @ S_perp.T - p0[0] @ S_perp.T)) <= 1e-12 * max(1.0, np.abs(B).max())


def test_lemma_a3_under_gradient_flow_and_balancedness():
    sc, arch, p0 = _kumar_problem(3)
    S_perp = sc.truth["S_perp"]
    traj = gradient_flow(arch, p0, sc.train, np.linspace(0, 20, 11))
    inv0 = p0[1] @ p0[1].T - p0[0] @ p0[0].T
    for B, v in traj.snapshots:
        B, v = B.reshape(p0[0].shape), v.reshape(p0[1].shape)
        np.testing.assert_allclose(B @ S_perp.T, p0[0] @ S_perp.T, atol=1e-12)
        # Du et al. 2018: v vᵀ − B Bᵀ is conserved by the flow (integration tolerance 1e-10 relative)
        np.testing.assert_allclose(v @ v.T - B @ B.T, inv0, atol=1e-8)
    assert traj.losses[-1] < 1e-3 * traj.losses[0]


def test_gd_converges_to_flow_as_eta_shrinks():
    """GD with step η for t/η steps approaches the flow at time t, error O(η)."""
    sc, arch, p0 = _kumar_problem(4)
    flow = gradient_flow(arch, p0, sc.train, np.array([0.5])).params
    errs = []
    for eta in (0.01, 0.005):
        gd = gradient_descent(arch, p0, sc.train, eta, int(round(0.5 / eta))).params
        errs.append(max(np.abs(a - b).max() for a, b in zip(gd, flow)))
    assert errs[1] < 0.6 * errs[0]  # first-order method: halving η roughly halves the error


def test_linear_model_stable_step_is_exact():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((4, 4))
    Sigma = A @ A.T + np.eye(4)
    mom = Moments(Sigma, Sigma @ np.ones((4, 1)), 4.0 * 0 + float(np.ones(4) @ Sigma @ np.ones(4)))
    arch = linear(4)
    p0 = (np.zeros((4, 1)),)
    eta_max, exact = stable_step(arch, p0, mom)
    assert exact and eta_max == pytest.approx(1.0 / np.linalg.eigvalsh(Sigma).max())
    assert gradient_descent(arch, p0, mom, 0.95 * eta_max, 2000).losses[-1] < 1e-10
    with pytest.raises(DivergenceError, match=r"largest stable step is"):
        gradient_descent(arch, p0, mom, 1.05 * eta_max, 20000)


def test_batched_learning_rates_equal_separate_runs():
    sc = synthetic.concept_shift(10, 2, 3, 1.0, rng=0)
    arch = two_layer(10, 5)
    p0 = arch.init(0)
    etas = np.array([0.01, 0.05, 0.1])
    batched = gradient_descent(arch, tuple(np.broadcast_to(p, (3,) + p.shape) for p in p0),
                               sc.population[0], etas, 7).params
    for i, eta in enumerate(etas):
        single = gradient_descent(arch, p0, sc.population[0], float(eta), 7).params
        for a, b in zip(batched, single):
            np.testing.assert_allclose(a[i], b, rtol=1e-13, atol=1e-15)


def test_freeze_masks_and_per_block_rates():
    sc = synthetic.concept_shift(10, 2, 3, 1.0, rng=0)
    arch = two_layer(10, 5)
    p0 = arch.init(0)
    frozen = gradient_descent(arch, p0, sc.population[0], 0.1, 5, masks=(False, True)).params
    np.testing.assert_array_equal(frozen[0], p0[0])
    assert not np.allclose(frozen[1], p0[1])
    mask = np.zeros_like(p0[0])
    mask[0, 0] = 1
    sparse = gradient_descent(arch, p0, sc.population[0], 0.1, 5, masks=(mask, True)).params
    changed = sparse[0] != p0[0]
    assert changed[0, 0] and changed.sum() == 1
    two_rates = gradient_descent(arch, p0, sc.population[0], (0.1, 1e-9), 1).params
    one_rate = gradient_descent(arch, p0, sc.population[0], 0.1, 1, masks=(True, False)).params
    np.testing.assert_allclose(two_rates[0], one_rate[0], rtol=1e-12)


@pytest.mark.parametrize("bad", [0.0, -1.0, np.nan, np.array([0.1, -0.2])])
def test_bad_learning_rates_rejected(bad):
    arch = linear(3)
    mom = Moments(np.eye(3), np.ones((3, 1)), 3.0)
    with pytest.raises(ValueError, match="eta"):
        gradient_descent(arch, arch.init(0), mom, bad, 1)


def test_bad_steps_and_t_eval_rejected():
    arch = linear(3)
    mom = Moments(np.eye(3), np.ones((3, 1)), 3.0)
    with pytest.raises(ValueError, match="steps must be in"):
        gradient_descent(arch, arch.init(0), mom, 0.1, -1)
    with pytest.raises(TypeError, match="steps must be an integer"):
        gradient_descent(arch, arch.init(0), mom, 0.1, 1.5)
    with pytest.raises(ValueError, match="t_eval"):
        gradient_flow(arch, arch.init(0), mom, [1.0, 0.5])


def test_samples_validation():
    with pytest.raises(ValueError, match="Y must have shape"):
        Samples(np.zeros((4, 3)), np.zeros((5, 1)))
    with pytest.raises(ValueError, match="labels Y must be >= 0"):
        Samples(np.zeros((4, 3)), np.array([0, 1, -1, 0]))
    with pytest.raises(ValueError, match="finite"):
        Moments(np.full((2, 2), np.inf), np.zeros((2, 1)), 0.0)


def test_a_loss_that_is_infinite_from_the_start_stops_at_step_0():
    arch = linear(3)
    mom = Moments(np.eye(3), np.zeros((3, 1)), 0.0)
    p0 = (np.array([[[1.0], [0.0], [0.0]], [[1e200], [0.0], [0.0]]]),)  # the second configuration overflows
    with np.errstate(over="ignore"), \
            pytest.raises(DivergenceError, match=r"at step 0.*1 configuration\(s\) \(first at batch index \(1,\)\)"):
        gradient_descent(arch, p0, mom, 0.1, 5)


@pytest.mark.parametrize("widths, p", [((3,), 1), ((), 1), ((4,), 2)])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("half", [False, True])
def test_gradient_flow_fast_gradient_is_value_and_grad(widths, p, weighted, half, monkeypatch):
    """The flow's right-hand side for the squared loss on Samples (prepared targets and weights, no loss value) is
    bit for bit value_and_grad's gradient, so every flow is the same with or without it."""
    from lpft_theory import dynamics
    from lpft_theory.models import DeepLinear

    g = np.random.default_rng(0)
    arch = DeepLinear(6, widths, p)
    data = Samples(g.standard_normal((30, 6)), g.standard_normal((30, p)), g.random(30) + 0.1 if weighted else None)
    p0, times = arch.init(1), np.linspace(0, 3, 7)
    fast = gradient_flow(arch, p0, data, times, half=half)
    monkeypatch.setattr(dynamics, "_flow_gradients",
                        lambda arch, params, data, loss, half: lambda q: arch.value_and_grad(q, data, loss, half)[1])
    general = gradient_flow(arch, p0, data, times, half=half)
    for a, b in zip(fast.snapshots, general.snapshots):
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)
