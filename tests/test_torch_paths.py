"""The torch adapter's three evaluation paths (batched bmm, vmap, loop) agree, and the thread policy holds."""
import numpy as np
import pytest
import torch

from lpft_theory import threads
from lpft_theory.data import Samples
from lpft_theory.empirical.torch_arch import PATHS, cnn, mlp


def _outputs(arch, params, anchor, data):
    v, g = arch.value_and_grad(params, data, "ce")
    v2, g2 = arch.value_and_grad(params, data, "mse", half=True)
    out = [v, *g, v2, *g2, arch.predict(params, data.X), arch.features(params, data.X)]
    for depth, align in ((1, "mse"), (2, "kl")):
        out += list(arch.alignment_grads(params, anchor, data, depth, align))
    return out


@pytest.mark.parametrize("make", [mlp, cnn])
def test_batched_vmap_and_loop_paths_agree(make):
    """Same float64 math in a different summation order: equal to a few ulps (rtol 1e-12)."""
    rng = np.random.default_rng(0)
    data = Samples(rng.random((2, 3, 20, 64)), rng.integers(0, 10, (2, 3, 20)), rng.random((2, 3, 20)))
    params, anchor = make().init(1, batch=(2, 3)), make().init(2, batch=(3,))
    ref = _outputs(make(path="vmap"), params, anchor, data)
    for path in ("batched", "loop"):
        for a, b in zip(_outputs(make(path=path), params, anchor, data), ref):
            assert a.shape == b.shape
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("path", PATHS)
def test_loss_alone_is_the_value_of_value_and_grad_bit_for_bit(path):
    rng = np.random.default_rng(3)
    data = Samples(rng.random((4, 15, 64)), rng.integers(0, 10, (4, 15)))
    for make in (mlp, cnn):
        arch = make(path=path)
        params = arch.init(0, batch=(4,))
        np.testing.assert_array_equal(arch.loss(params, data, "ce"), arch.value_and_grad(params, data, "ce")[0])


def test_path_choice():
    assert mlp().path == "batched" and mlp(sequential=True).path == "loop" and set(PATHS) == {"batched", "vmap", "loop"}
    with pytest.raises(ValueError, match="path"):
        mlp(path="fast")


def test_thread_policy(monkeypatch):
    from threadpoolctl import threadpool_info

    default = threads.count()  # 1 unless LPFT_THREADS says otherwise
    assert torch.get_num_threads() == default  # applied when the torch models were first used above
    try:
        assert threads.configure(2) == 2
        assert torch.get_num_threads() == 2
        assert all(p["num_threads"] == 2 for p in threadpool_info() if p["user_api"] == "blas")
        monkeypatch.setenv(threads.ENV, "3")
        assert threads.configure() == 3
        monkeypatch.setenv(threads.ENV, "zero")
        with pytest.raises(ValueError, match="LPFT_THREADS"):
            threads.configure()
        with pytest.raises(ValueError, match="threads"):
            threads.configure(0)
    finally:
        monkeypatch.undo()
        threads.configure()
    assert torch.get_num_threads() == default
