"""Random instances of the two-layer GD step, shared by tests/test_kernels.py and tests/test_kernels_compiled.py."""
import numpy as np

from lpft_theory.data import Moments
from lpft_theory.models import two_layer


def moments(rng, d, batch=(), identity=False, w_scale=1.0):
    """Population moments of ``y = wᵀx`` with ``w ~ N(0, w_scale²)`` per entry (a batch of them), ``Σ = I``
    or a random well-conditioned ``Σ``."""
    Sigma = np.eye(d)
    if not identity:
        A = rng.standard_normal((d, d)) / np.sqrt(d)
        Sigma = A @ A.T + 0.5 * np.eye(d)
    w = rng.standard_normal(batch + (d, 1)) * w_scale
    return Moments(Sigma, Sigma @ w, np.sum(w * (Sigma @ w), axis=(-1, -2)))


def case(seed, d, k, batch, data_batch, identity, eta_kind, w_scale=1.0):
    """``(arch, p0, data, eta)``: parameters with ``batch`` axes, data with ``data_batch`` axes, and a step size
    that is a scalar, one per entry of the first batch axis, or one per configuration."""
    rng = np.random.default_rng(seed)
    arch = two_layer(d, k)
    p0 = arch.init(rng, scale=0.7, batch=batch)
    data = moments(rng, d, data_batch, identity, w_scale)
    bs = np.broadcast_shapes(batch, data_batch)
    if eta_kind == "scalar" or not bs:
        eta = 0.04
    elif eta_kind == "first_axis":
        eta = rng.uniform(0.01, 0.06, bs[:1])
    else:
        eta = rng.uniform(0.01, 0.06, bs)
    return arch, p0, data, eta
