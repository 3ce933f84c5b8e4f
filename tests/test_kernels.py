"""The specialised two-layer GD step (lpft_theory.kernels) against the engine's general paths.

Claims: (1) where it applies, its losses and parameters are bit for bit those of the general fused step
(``dynamics.USE_KERNELS = False``) — whatever the block size and whether torch or numpy does the rank-1
update; (2) they equal the unfused general path (a transform without ``lr``) to round-off, at the
tolerances of tests/test_fast_paths.py; (3) ``dynamics.run`` uses it exactly where :func:`kernels.applies`
says, and keeps its guards.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lpft_theory import dynamics, kernels
from lpft_theory.data import Moments, Samples
from lpft_theory.dynamics import DivergenceError, InstabilityError, Transform, gradient_descent, run, sgd
from lpft_theory.models import deep_linear, linear, two_layer, two_layer_relu

from _kernel_cases import case as _case  # noqa: E402  (tests/ is on sys.path under pytest)
from _kernel_cases import moments as _moments  # noqa: E402


def _fused(arch, p0, data, eta, steps, monkeypatch, **kw):
    with monkeypatch.context() as m:
        m.setattr(dynamics, "USE_KERNELS", False)
        return gradient_descent(arch, p0, data, eta, steps, **kw)


def _kernel(arch, p0, data, eta, steps, half=False, block_bytes=1 << 19, update_with="auto"):
    kern = kernels.TwoLayerMoments(arch, p0, data, eta, half, block_bytes=block_bytes, update_with=update_with)
    losses = [kern.step(update=t < steps) for t in range(steps + 1)]
    return np.asarray(losses), kern.params


def _assert_bits(a, b):
    assert a.shape == b.shape
    np.testing.assert_array_equal(a, b)


SHAPES = [(1, 1), (3, 2), (6, 4), (20, 8), (17, 33)]
BATCHES = [((), ()), ((5,), ()), ((), (4,)), ((7, 2), (2,)), ((3,), (3,))]


@pytest.mark.parametrize("d,k", SHAPES)
@pytest.mark.parametrize("batch,data_batch", BATCHES)
@pytest.mark.parametrize("identity", [True, False])
def test_kernel_is_the_fused_step_bit_for_bit(d, k, batch, data_batch, identity, monkeypatch):
    for half, eta_kind in ((False, "per_config"), (True, "first_axis"), (False, "scalar")):
        arch, p0, data, eta = _case(d * 100 + k, d, k, batch, data_batch, identity, eta_kind)
        assert kernels.applies(arch, p0, data, "mse", eta)
        ref = _fused(arch, p0, data, eta, 12, monkeypatch, half=half)
        for block_bytes, how in ((1 << 19, "numpy"), (8 * k * d * 2, "numpy"), (8 * k * d * 3, "torch"), (1, "auto")):
            losses, params = _kernel(arch, p0, data, eta, 12, half, block_bytes, how)
            _assert_bits(losses, ref.losses)
            for a, b in zip(params, ref.params):
                _assert_bits(a, b)


@pytest.mark.parametrize("identity", [True, False])
@pytest.mark.parametrize("half", [False, True])
def test_run_with_the_kernel_equals_the_unfused_general_path(identity, half):
    """The tolerances of test_fast_paths: one step to 1e-13, twenty steps to 1e-10 (GD's Jacobian may
    amplify round-off over the steps)."""
    arch, p0, data, eta = _case(7, 6, 4, (5,), (5,), identity, "per_config")
    for n, rtol in ((1, 1e-13), (20, 1e-10)):
        fast = gradient_descent(arch, p0, data, eta, n, half=half)
        ref = run(arch, p0, data, Transform(sgd(eta).init, sgd(eta).update), n, half=half)
        np.testing.assert_allclose(fast.losses, ref.losses, rtol=rtol, atol=1e-15)
        for a, b in zip(fast.params, ref.params):
            assert a.shape == b.shape
            np.testing.assert_allclose(a, b, rtol=rtol, atol=1e-15)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2 ** 20), d=st.integers(1, 24), k=st.integers(1, 24), n=st.integers(1, 40),
       steps=st.integers(1, 15), rows=st.integers(1, 50), identity=st.booleans(), half=st.booleans())
def test_kernel_bit_for_bit_on_random_shapes(seed, d, k, n, steps, rows, identity, half):
    rng = np.random.default_rng(seed)
    arch = two_layer(d, k)
    p0 = arch.init(rng, scale=0.5, batch=(n,))
    data = _moments(rng, d, (n,), identity)
    eta = rng.uniform(0.005, 0.03, n)
    dynamics.USE_KERNELS = False
    try:
        ref = gradient_descent(arch, p0, data, eta, steps, half=half)
    finally:
        dynamics.USE_KERNELS = True
    losses, params = _kernel(arch, p0, data, eta, steps, half, block_bytes=8 * k * d * rows)
    _assert_bits(losses, ref.losses)
    for a, b in zip(params, ref.params):
        _assert_bits(a, b)


def test_run_uses_the_kernel_exactly_where_it_applies(monkeypatch):
    made = []
    real = kernels.TwoLayerMoments

    def spy(*a, **kw):
        made.append(1)
        return real(*a, **kw)

    monkeypatch.setattr(kernels, "TwoLayerMoments", spy)
    rng = np.random.default_rng(0)
    mom = _moments(rng, 6, (3,))
    arch = two_layer(6, 4)
    p = arch.init(0, batch=(3,))

    def uses(a, params, data, **kw):
        made.clear()
        gradient_descent(a, params, data, kw.pop("eta", 0.02), 3, **kw)
        return bool(made)

    assert uses(arch, p, mom) and uses(arch, p, mom, half=True) and uses(arch, p, mom, eta=np.full(3, 0.02))
    assert not uses(arch, p, mom, masks=(True, False))            # no declared lr
    assert not uses(arch, p, mom, eta=(0.01, 0.02))                # one lr per block
    assert not uses(arch, p, mom, record_params=True)              # snapshots
    assert not uses(two_layer(6, 4, 2), two_layer(6, 4, 2).init(0), _moments2(rng, 6, 2))  # p = 2
    assert not uses(deep_linear(6, (5, 4)), deep_linear(6, (5, 4)).init(0), mom)           # two hidden layers
    assert not uses(linear(6), linear(6).init(0), mom)                                    # no hidden layer
    samples = Samples(rng.standard_normal((3, 20, 6)), rng.standard_normal((3, 20, 1)))
    assert not uses(arch, p, samples)                                                      # finite samples
    batched_sigma = Moments(np.broadcast_to(2 * np.eye(6), (3, 6, 6)).copy(), mom.C, mom.s)
    assert not uses(arch, p, batched_sigma)                                                # one Σ per config
    assert not kernels.applies(two_layer_relu(6, 4), p, mom, "mse", 0.1)
    assert not kernels.applies(arch, p, mom, "ce", 0.1)
    assert not kernels.applies(arch, p, mom, "mse", np.full(4, 0.1))                       # lr does not broadcast
    monkeypatch.setattr(dynamics, "USE_KERNELS", False)
    assert not uses(arch, p, mom)


def _moments2(rng, d, p):
    w = rng.standard_normal((d, p))
    return Moments(np.eye(d), w, np.sum(w * w))


def test_kernel_keeps_the_guards_and_leaves_the_callers_params_alone():
    arch = two_layer(6, 4)
    p0 = arch.init(0, batch=(3,))
    before = [p.copy() for p in p0]
    data = _moments(np.random.default_rng(0), 6, identity=True)
    assert kernels.applies(arch, p0, data, "mse", 0.05)
    traj = gradient_descent(arch, p0, data, 0.05, 5)
    for a, b in zip(p0, before):
        np.testing.assert_array_equal(a, b)
    assert traj.losses.shape == (6, 3) and traj.params[0].shape == (3, 4, 6) and traj.params[1].shape == (3, 4, 1)
    with pytest.raises(DivergenceError, match="eta"):
        gradient_descent(arch, p0, data, np.array([0.05, 50.0, 0.05]), 200)
    with pytest.raises(InstabilityError):
        run(arch, p0, data, sgd(np.array([0.05, 0.9, 0.05])), 50, stop_on_rise=0.0)


def test_unbatched_run_returns_unbatched_shapes():
    arch = two_layer(5, 3)
    p0 = arch.init(1)
    data = _moments(np.random.default_rng(1), 5)
    traj = gradient_descent(arch, p0, data, 0.03, 4)
    assert traj.losses.shape == (5,) and traj.params[0].shape == (3, 5) and traj.params[1].shape == (3, 1)
