"""The energy bound on feature distortion: flow, GD under sufficient decrease, and where it needs that."""
import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import synthetic
from lpft_theory import gradient_descent, gradient_flow, two_layer, two_layer_params
from lpft_theory.metrics import distortion
from lpft_theory.strategies import lp
from lpft_theory.theory import distortion as D


def _start(seed, lam=1.0):
    sc = synthetic.combined_shift(10, 2, 3, lam, eps=0.7, shift=1.0, geometry="random", rng=seed)
    arch = two_layer(10, 5)
    B0, V0 = synthetic.idealised_init(sc)
    B0 = B0 + 0.1 * np.random.default_rng(seed).standard_normal(B0.shape)
    return sc, arch, two_layer_params(B0, V0)


@given(seed=st.integers(0, 5000), t_end=st.floats(0.1, 5.0))
def test_flow_bound_holds(seed, t_end):
    sc, arch, p0 = _start(seed)
    traj = gradient_flow(arch, p0, sc.population[0], np.linspace(0, t_end, 6))
    for s, t, L in zip(traj.snapshots, traj.times, traj.losses):
        assert distortion(s[0], p0[0]) <= D.flow_bound(t, traj.losses[0], L) * (1 + 1e-8) + 1e-12


@given(seed=st.integers(0, 5000), eta=st.floats(0.001, 0.05), T=st.integers(1, 40))
def test_gd_bound_holds_under_sufficient_decrease(seed, eta, T):
    sc, arch, p0 = _start(seed)
    traj = gradient_descent(arch, p0, sc.population[0], eta, T, record_params=True)
    g2 = [sum(np.sum(g * g) for g in arch.value_and_grad(s, sc.population[0])[1]) for s in traj.snapshots]
    ok = D.sufficient_decrease(traj.losses, g2, eta)
    n_ok = int(np.argmin(ok)) if not ok.all() else T  # the bound is claimed up to the first failing step
    B_T = traj.snapshots[n_ok][0]
    assert distortion(B_T, p0[0]) <= D.gd_bound(eta, n_ok, traj.losses[0], traj.losses[n_ok]) * (1 + 1e-9) + 1e-12


def test_gd_bound_can_fail_without_sufficient_decrease():
    """Counterexample: one overshooting step raises the loss (no sufficient decrease), so the bound
    √(2η(L_0 − L_1))_+ = 0 while B has moved by η‖∇_B L‖ > 0."""
    sc, arch, p0 = _start(1)
    data = sc.population[0]
    from lpft_theory.dynamics import stable_step
    eta = 4 * stable_step(arch, p0, data)[0]
    traj = gradient_descent(arch, p0, data, eta, 1, record_params=True)
    g2 = [sum(np.sum(g * g) for g in arch.value_and_grad(s, data)[1]) for s in traj.snapshots]
    assert traj.losses[1] > traj.losses[0]
    assert not D.sufficient_decrease(traj.losses, g2, eta).all()
    assert distortion(traj.params[0], p0[0]) > D.gd_bound(eta, 1, traj.losses[0], traj.losses[1]) == 0


def test_lp_lowers_the_starting_loss_hence_the_bound():
    sc, arch, p0 = _start(3)
    probed = lp()(arch, p0, sc.population).params
    L_ft = arch.loss(tuple(np.broadcast_to(p, (3,) + p.shape) for p in p0), sc.population)
    L_lpft = arch.loss(probed, sc.population)
    assert np.all(L_lpft <= L_ft + 1e-12)
    assert np.all(D.flow_bound(1.0, L_lpft) <= D.flow_bound(1.0, L_ft))


def test_bound_is_tight_to_a_constant_on_short_times():
    """For short time the movement is ‖∇L‖t and the bound √(t·ΔL) ≈ ‖∇L‖t: ratio → 1."""
    sc, arch, p0 = _start(5)
    data = sc.population[0]
    traj = gradient_flow(arch, p0, data, np.array([0.0, 1e-4]))
    moved = np.sqrt(sum(np.sum((a - b) ** 2) for a, b in zip(traj.params, p0)))
    bound = D.flow_bound(1e-4, traj.losses[0], traj.losses[-1])
    assert moved <= bound and moved > 0.99 * bound
