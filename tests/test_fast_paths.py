"""The engine's fast paths equal its general path to round-off (float64).

Fast paths: the fused GD step (learning rate folded into ∂L/∂β or ∂L/∂f, in-place update, blocks of
configurations), Σ = I detected and skipped, shared-parameter products as one GEMM, the reassociated
deep-linear gradient. The general path is the same run with a transform that does not declare ``lr``.
Tolerance: one step differs by a few ulps (rtol 1e-13); over 20 steps GD may amplify that round-off by
its Jacobian's growth, so the trajectories are compared at rtol 1e-10 (still 10⁵× below any modelling
change the regression tests would notice).
"""
import numpy as np
import pytest

from lpft_theory import dynamics
from lpft_theory.data import Moments, Samples
from lpft_theory.dynamics import Transform, gradient_descent, run, sgd
from lpft_theory.models import deep_linear, linear, two_layer, two_layer_relu

ARCHS = {"linear": linear(6, 2), "two_layer": two_layer(6, 4), "two_layer_p3": two_layer(6, 4, 3),
         "deep": deep_linear(6, (5, 4)), "deep_p2": deep_linear(6, (5, 3), 2)}


def _moments(rng, d, p, batch=(), identity=False):
    if identity:
        Sigma = np.eye(d)
    else:
        A = rng.standard_normal(batch + (d, d)) / np.sqrt(d)
        Sigma = A @ np.swapaxes(A, -1, -2) + 0.5 * np.eye(d)
    w = rng.standard_normal(batch + (d, p))
    return Moments(Sigma, Sigma @ w, np.sum(w * (Sigma @ w), axis=(-1, -2)))


def _general(transform):
    return Transform(transform.init, transform.update)  # no lr: the general path


def _assert_same(arch, p0, data, eta, steps=20, **kw):
    for n, rtol in ((1, 1e-13), (steps, 1e-10)):
        fast = gradient_descent(arch, p0, data, eta, n, **kw)
        ref = run(arch, p0, data, _general(sgd(eta)), n, **kw)
        np.testing.assert_allclose(fast.losses, ref.losses, rtol=rtol, atol=1e-15)
        for a, b in zip(fast.params, ref.params):
            assert a.shape == b.shape
            np.testing.assert_allclose(a, b, rtol=rtol, atol=1e-15)
    return fast


@pytest.mark.parametrize("name", sorted(ARCHS))
@pytest.mark.parametrize("case", ["identity_shared", "sigma_shared", "sigma_batched", "samples"])
def test_fused_gd_equals_general_path(name, case):
    arch = ARCHS[name]
    rng = np.random.default_rng(0)
    if case == "samples":
        data = Samples(rng.standard_normal((5, 30, arch.d)), rng.standard_normal((5, 30, arch.p)), rng.random((5, 30)))
    else:
        data = _moments(rng, arch.d, arch.p, (5,) if case == "sigma_batched" else (), identity=case == "identity_shared")
    p_shared = arch.init(1, scale=0.5)
    p_batched = arch.init(2, scale=0.5, batch=(5,))
    eta = np.linspace(0.01, 0.05, 5)
    if data.batch_shape:
        _assert_same(arch, p_shared, data, eta)    # one shared start broadcast to every configuration
    _assert_same(arch, p_batched, data, 0.03)       # a scalar learning rate
    _assert_same(arch, p_batched, data, eta, half=True)


def test_fused_gd_on_relu_and_cross_entropy():
    rng = np.random.default_rng(1)
    arch = two_layer_relu(6, 5, 3)
    data = Samples(rng.standard_normal((4, 25, 6)), rng.integers(0, 3, (4, 25)))
    _assert_same(arch, arch.init(0, batch=(4,)), data, 0.1, loss="ce")
    _assert_same(arch, arch.init(0), data, np.array([0.05, 0.1, 0.2, 0.3]), loss="mse")


def test_blocks_of_configurations_change_nothing(monkeypatch):
    """Tiny blocks (3 rows of a (7, 2) batch): the blocked fused step equals one block and the general path."""
    arch = two_layer(6, 4)
    rng = np.random.default_rng(2)
    data = _moments(rng, 6, 1, (2,))                      # broadcasts along the blocked axis
    p0 = arch.init(3, scale=0.5, batch=(7, 2))
    eta = np.linspace(0.01, 0.07, 7)                      # per row of the blocked axis
    one = gradient_descent(arch, p0, data, eta, 10)
    monkeypatch.setattr(dynamics, "BLOCK_BYTES", 3 * 2 * 4 * 6 * 8)
    assert len(dynamics._fused_blocks(arch, p0, data, eta)[1]) == 3
    blocked = _assert_same(arch, p0, data, eta, steps=10)
    np.testing.assert_array_equal(blocked.losses, one.losses)
    for a, b in zip(blocked.params, one.params):
        np.testing.assert_array_equal(a, b)


def test_fused_path_leaves_the_callers_params_alone_and_keeps_the_guards():
    arch = two_layer(6, 4)
    p0 = arch.init(0, batch=(3,))
    before = [p.copy() for p in p0]
    data = _moments(np.random.default_rng(0), 6, 1, identity=True)
    gradient_descent(arch, p0, data, 0.05, 5)
    for a, b in zip(p0, before):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(dynamics.DivergenceError, match="eta"):
        gradient_descent(arch, p0, data, np.array([0.05, 50.0, 0.05]), 200)


def test_identity_sigma_is_detected_once_and_skipping_it_is_exact():
    d = 5
    assert Moments(np.eye(d), np.ones((d, 1)), 1.0).identity
    assert Moments(np.broadcast_to(np.eye(d), (3, d, d)), np.ones((d, 1)), 1.0).identity
    almost = np.eye(d)
    almost[0, 1] = 1e-300
    assert not Moments(almost, np.ones((d, 1)), 1.0).identity
    assert not Moments(2 * np.eye(d), np.ones((d, 1)), 1.0).identity
    arch = deep_linear(d, (4, 3))
    mom = _moments(np.random.default_rng(4), d, 1, identity=True)
    slow = Moments(mom.Sigma, mom.C, mom.s)
    slow.__dict__["identity"] = False  # force the general Σβ product
    p = arch.init(0, batch=(2,))
    (v1, g1), (v2, g2) = arch.value_and_grad(p, mom), arch.value_and_grad(p, slow)
    np.testing.assert_array_equal(v1, v2)  # multiplying by exactly I changes no bit
    for a, b in zip(g1, g2):
        np.testing.assert_array_equal(a, b)


def test_sgd_declares_its_learning_rate_only_when_it_is_plain():
    assert sgd(0.1).lr == 0.1 and sgd(0.1, masks=True).lr == 0.1
    assert sgd((0.1, 0.2)).lr is None and sgd(0.1, masks=(True, False)).lr is None


@pytest.mark.parametrize("name", sorted(ARCHS))
def test_loss_alone_is_the_value_of_value_and_grad_bit_for_bit(name):
    arch = ARCHS[name]
    rng = np.random.default_rng(5)
    p = arch.init(0, batch=(3,))
    for data in (_moments(rng, arch.d, arch.p, (3,)), _moments(rng, arch.d, arch.p, identity=True),
                 Samples(rng.standard_normal((3, 10, arch.d)), rng.standard_normal((3, 10, arch.p)))):
        for half in (False, True):
            np.testing.assert_array_equal(arch.loss(p, data, half=half), arch.value_and_grad(p, data, half=half)[0])
