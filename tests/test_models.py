"""Gradients of every model and loss: finite differences, torch autograd, moments vs samples."""
import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from lpft_theory import Moments, Samples, deep_linear, linear, two_layer, two_layer_relu
from lpft_theory.losses import mse_of_predictor

ARCHS = {
    "linear": lambda d, p: linear(d, p),
    "two-layer": lambda d, p: two_layer(d, 4, p),
    "deep": lambda d, p: deep_linear(d, (4, 3), p),
    "relu": lambda d, p: two_layer_relu(d, 6, p),
}


def _data(rng, d, p, n=30, cls=False, batch=()):
    X = rng.standard_normal(batch + (n, d))
    Y = rng.integers(0, p, size=batch + (n,)) if cls else rng.standard_normal(batch + (n, p))
    return Samples(X, Y)


def _fd_grads(arch, params, data, loss, half, h=1e-6):
    """Central differences: error O(h²) ≈ 1e-10 relative for these smooth losses."""
    out = []
    for b, P in enumerate(params):
        g = np.zeros_like(P)
        for idx in np.ndindex(P.shape):
            plus = [q.copy() for q in params]
            minus = [q.copy() for q in params]
            plus[b][idx] += h
            minus[b][idx] -= h
            g[idx] = (arch.loss(tuple(plus), data, loss, half) - arch.loss(tuple(minus), data, loss, half)) / (2 * h)
        out.append(g)
    return out


@pytest.mark.parametrize("name", list(ARCHS))
@pytest.mark.parametrize("loss,half", [("mse", False), ("mse", True), ("ce", False)])
def test_gradients_match_finite_differences(name, loss, half):
    rng = np.random.default_rng(0)
    p = 3
    arch = ARCHS[name](5, p)
    data = _data(rng, 5, p, cls=(loss == "ce"))
    params = arch.init(1)
    _, grads = arch.value_and_grad(params, data, loss, half)
    for g, fd in zip(grads, _fd_grads(arch, params, data, loss, half)):
        # ReLU kinks are measure-zero for Gaussian data; 1e-6 absolute covers O(h²) truncation error.
        np.testing.assert_allclose(g, fd, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", list(ARCHS))
def test_gradients_match_torch_autograd(name):
    rng = np.random.default_rng(1)
    arch = ARCHS[name](6, 2)
    data = _data(rng, 6, 2)
    params = arch.init(2)
    value, grads = arch.value_and_grad(params, data)
    tp = [torch.tensor(q, requires_grad=True) for q in params]
    X, Y = torch.tensor(data.X), torch.tensor(data.Y)
    if name == "relu":
        pred = torch.relu(X @ tp[0].T) @ tp[1]
    else:
        h = X
        for W in tp[:-1]:
            h = h @ W.T
        pred = h @ tp[-1]
    tl = ((pred - Y) ** 2).sum() / X.shape[0]
    tl.backward()
    assert value == pytest.approx(tl.item(), rel=1e-12)
    for g, t in zip(grads, tp):
        np.testing.assert_allclose(g, t.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", ["linear", "two-layer", "deep"])
def test_moment_form_equals_sample_form_batched(name):
    """The exact-moment loss/gradients equal the per-sample ones, over a batch of 3 clients."""
    rng = np.random.default_rng(2)
    arch = ARCHS[name](5, 2)
    data = _data(rng, 5, 2, batch=(3,))
    params = arch.init(3, batch=(3,))
    v1, g1 = arch.value_and_grad(params, data)
    v2, g2 = arch.value_and_grad(params, data.moments())
    np.testing.assert_allclose(v1, v2, rtol=1e-12)
    for a, b in zip(g1, g2):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13)


@given(d=st.integers(2, 6), p=st.integers(1, 3), seed=st.integers(0, 2**16))
def test_population_loss_matches_monte_carlo(d, p, seed):
    """Exact population MSE vs a 200k-point Monte Carlo mean: within 6 standard errors."""
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((d, d))
    mu = rng.standard_normal(d)
    beta_true = rng.standard_normal((d, p))
    beta = rng.standard_normal((d, p))
    Sigma = A @ A.T + np.outer(mu, mu)
    mom = Moments(Sigma, Sigma @ beta_true, np.sum(beta_true * (Sigma @ beta_true)))
    X = mu + rng.standard_normal((200_000, d)) @ A.T
    err = np.sum((X @ (beta - beta_true)) ** 2, axis=1)
    exact = mse_of_predictor(beta, mom)
    assert abs(err.mean() - exact) <= 6 * err.std() / np.sqrt(err.size) + 1e-12


def test_check_params_rejects_wrong_shapes():
    arch = two_layer(5, 3)
    with pytest.raises(ValueError, match="trailing shape"):
        arch.check_params((np.zeros((3, 4)), np.zeros((3, 1))))
    with pytest.raises(ValueError, match="tuple of 2 arrays"):
        arch.check_params((np.zeros((3, 5)),))
    with pytest.raises(ValueError, match="finite"):
        arch.check_params((np.full((3, 5), np.nan), np.zeros((3, 1))))


def test_population_moments_reject_relu_and_ce():
    mom = Moments(np.eye(3), np.ones((3, 1)), 1.0)
    with pytest.raises(ValueError, match="Monte Carlo"):
        two_layer_relu(3, 2).loss(two_layer_relu(3, 2).init(0), mom)
    with pytest.raises(ValueError, match="loss='mse' only"):
        linear(3).loss(linear(3).init(0), mom, loss="ce")


@pytest.mark.parametrize("name", list(ARCHS))
@pytest.mark.parametrize("loss", ["mse", "ce"])
def test_zero_weight_padding_changes_nothing(name, loss):
    """Ragged clients padded with zero-weight points give exactly the unpadded losses and gradients."""
    from lpft_theory.data import stack_clients

    rng = np.random.default_rng(4)
    arch = ARCHS[name](5, 3)
    clients = [_data(rng, 5, 3, n=n, cls=(loss == "ce")) for n in (7, 12, 4)]
    stacked = stack_clients(clients)
    params = arch.init(0)
    v_all, g_all = arch.value_and_grad(params, stacked, loss)
    for i, c in enumerate(clients):
        v, g = arch.value_and_grad(params, c, loss)
        assert v_all[i] == pytest.approx(v, rel=1e-12)
        for a, b in zip(g_all, g):
            np.testing.assert_allclose(a[i], b, rtol=1e-10, atol=1e-14)
    if loss == "mse" and name != "relu":
        for i, c in enumerate(clients):
            np.testing.assert_allclose(stacked.moments()[i].Sigma, c.moments().Sigma, rtol=1e-12)


def test_shared_sigma_gemm_path_equals_broadcast_matmul():
    from lpft_theory.losses import mse_value_and_grad_predictor, shared_times

    rng = np.random.default_rng(5)
    A = rng.standard_normal((6, 6))
    Sigma = A @ A.T
    beta = rng.standard_normal((4, 3, 6, 2))
    np.testing.assert_allclose(shared_times(Sigma, beta), Sigma @ beta, rtol=1e-13, atol=1e-13)
    mom = Moments(Sigma, rng.standard_normal((4, 3, 6, 2)), rng.random((4, 3)))
    v, g = mse_value_and_grad_predictor(beta, mom, half=True)
    np.testing.assert_allclose(v, mse_of_predictor(beta, mom, half=True), rtol=1e-12)
    np.testing.assert_allclose(g, Sigma @ beta - mom.C, rtol=1e-12, atol=1e-13)


def _one_hot_cross_entropy(logits, labels, weights=None):
    """The textbook formula with an explicit one-hot matrix and row reductions (the reference)."""
    p = logits.shape[-1]
    q = np.eye(p)[labels]
    w = (np.full(logits.shape[:-1], 1.0 / logits.shape[-2]) if weights is None
         else weights / weights.sum(axis=-1, keepdims=True))[..., None]
    z = logits - logits.max(axis=-1, keepdims=True)
    lsm = z - np.log(np.sum(np.exp(z), axis=-1, keepdims=True))
    return -np.sum(w * lsm * q, axis=(-1, -2)), w * (np.exp(lsm) - q)


@given(p=st.integers(1, 40), n=st.integers(1, 12), layout=st.integers(0, 4), seed=st.integers(0, 2**16))
def test_cross_entropy_equals_the_one_hot_formula(p, n, layout, seed):
    """The fast path (no one-hot array; log-softmax on a transposed copy for few classes) against the
    textbook formula, with batch axes that broadcast between logits, labels and weights."""
    from lpft_theory.losses import cross_entropy, log_softmax
    g = np.random.default_rng(seed)
    logits_shape, label_shape, weight_shape = [((n, p), (n,), None), ((3, n, p), (3, n), (3, n)),
                                               ((2, 3, n, p), (3, n), (3, n)), ((3, n, p), (2, 3, n), None),
                                               ((3, n, p), (3, n), (2, 3, n))][layout]
    F = 20.0 * g.standard_normal(logits_shape)
    Y = g.integers(0, p, label_shape)
    W = None if weight_shape is None else g.random(weight_shape) + 0.01
    (v, dF), (v_ref, dF_ref) = cross_entropy(F, Y, W), _one_hot_cross_entropy(F, Y, W)
    assert v.shape == v_ref.shape and dF.shape == dF_ref.shape
    np.testing.assert_allclose(v, v_ref, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(dF, dF_ref, rtol=0, atol=1e-15)
    z = F - F.max(-1, keepdims=True)
    np.testing.assert_allclose(log_softmax(F), z - np.log(np.exp(z).sum(-1, keepdims=True)), rtol=1e-14, atol=1e-13)
