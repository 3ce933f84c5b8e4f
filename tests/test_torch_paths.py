"""The torch adapter's three evaluation paths (batched bmm, vmap, loop) agree, and the thread policy holds."""
import numpy as np
import pytest
import torch

from lpft_theory import threads
from lpft_theory.data import Samples, stack_clients
from lpft_theory.empirical import torch_arch
from lpft_theory.empirical.digits import split
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
    for path, blas in (("batched", "numpy"), ("batched", "torch"), ("loop", "numpy")):
        for a, b in zip(_outputs(make(path=path, blas=blas), params, anchor, data), ref):
            assert a.shape == b.shape
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def _assert_paths_agree(make, params, anchor, data):
    ref = _outputs(make(path="loop"), params, anchor, data)
    for path, blas in (("batched", "numpy"), ("batched", "torch"), ("vmap", "numpy")):
        for a, b in zip(_outputs(make(path=path, blas=blas), params, anchor, data), ref):
            assert a.shape == b.shape
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("make", [mlp, cnn])
def test_paths_agree_on_ragged_real_clients(make):
    """Unequal client sizes padded with zero-weight images (stack_clients), real digits: values, gradients,
    predictions, features and the alignment gradients agree across the three paths."""
    data = stack_clients(split("covariate", 4, seed=0).train[:3])
    assert np.any(data.point_weights() == 0)  # really ragged: some clients are padded
    params, anchor = make().init(1, batch=(3,)), make().init(2, batch=(3,))
    _assert_paths_agree(make, params, anchor, data)


def test_cnn_pooling_ties_follow_max_pool2d():
    """Exact ties inside 2×2 pooling windows between *different* patches (binary images, kernels with zero
    taps): the batched path gives a window's gradient to its first maximal offset, as torch's max_pool2d
    does — splitting it, or giving it to another tied offset, changes the kernels' gradient."""
    rng = np.random.default_rng(5)
    X = (rng.random((3, 40, 64)) < 0.5).astype(float)
    data = Samples(X, rng.integers(0, 10, (3, 40)))
    params = list(cnn().init(1, batch=(3,)))
    K = params[0].reshape(3, 8, 3, 3)
    K[:, :, :, 1:] = 0.0  # only the left column of taps: horizontally adjacent outputs often tie
    K[:, :, :, 0] = np.abs(K[:, :, :, 0]) + 0.1  # positive maxima, so ReLU does not hide the ties
    params = tuple(params)
    arch = cnn(path="batched")
    Xt = torch.from_numpy(X)
    Z = torch.bmm(torch.from_numpy(params[0]), torch_arch._pool_patches(torch_arch._padded(Xt))).view(3, 8, 4, -1)
    ties = (Z == Z.amax(2, keepdim=True)).sum(2) > 1
    assert ties.float().mean() > 0.2  # the test has teeth: many windows have tied maxima
    _assert_paths_agree(cnn, params, cnn().init(2, batch=(3,)), data)
    assert np.abs(arch.value_and_grad(params, data, "ce")[1][0]).max() > 0


@pytest.mark.parametrize("clients_per_chunk", [1, 2, 5])
def test_cnn_chunks_of_clients_change_nothing(monkeypatch, clients_per_chunk):
    """The batched CNN runs its convolution + pool over chunks of clients (one, two with a remainder, all
    five): values and gradients agree with the per-client loop whatever the chunking."""
    rng = np.random.default_rng(9)
    data = Samples(rng.random((5, 12, 64)), rng.integers(0, 10, (5, 12)), rng.random((5, 12)))
    params = cnn().init(3, batch=(5,))
    bytes_per_client = 8 * 4 * 16 * 12 * 8  # c · 4 offsets · L · 8 bytes
    monkeypatch.setattr(torch_arch, "_CHUNK_BYTES", clients_per_chunk * bytes_per_client)
    assert torch_arch._chunk(8, 16 * 12) == clients_per_chunk
    v, g = cnn(path="batched").value_and_grad(params, data, "ce")
    v0, g0 = cnn(path="loop").value_and_grad(params, data, "ce")
    for a, b in zip((v, *g), (v0, *g0)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("blas", torch_arch.BLAS)
def test_cnn_conv_pool_function_matches_torch_ops(blas):
    """The batched CNN's fused convolution + max-pool + ReLU against conv2d / max_pool2d / relu, client by
    client: forward and the kernels' gradient (random cotangent)."""
    rng = np.random.default_rng(7)
    b, n, c = 3, 11, 5
    x = torch.from_numpy(rng.standard_normal((b, n, 64)))
    K = torch.from_numpy(rng.standard_normal((b, c, 9))).requires_grad_()
    out = torch_arch._ConvPoolReLU.apply(K, torch_arch._padded(x), blas)  # (b, c, 16·n)
    g = torch.from_numpy(rng.standard_normal(out.shape))
    (dK,) = torch.autograd.grad(out, K, g)
    for i in range(b):
        Ki = K[i].detach().clone().requires_grad_()
        ref = torch.relu(torch.max_pool2d(torch.conv2d(x[i].reshape(n, 1, 8, 8), Ki.reshape(c, 1, 3, 3), padding=1), 2))
        ref = ref.reshape(n, c * 16).T  # (c·16, n): the batched layout, channel-major features × images
        np.testing.assert_allclose(out[i].detach().reshape(c * 16, n), ref.detach(), rtol=1e-13, atol=1e-14)
        (dKi,) = torch.autograd.grad(ref, Ki, g[i].reshape(c * 16, n))
        np.testing.assert_allclose(dK[i], dKi, rtol=1e-12, atol=1e-13)


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
    assert cnn().blas == "numpy" and cnn(blas="torch").blas == "torch"
    with pytest.raises(ValueError, match="path"):
        mlp(path="fast")
    with pytest.raises(ValueError, match="blas"):
        cnn(blas="mkl")


def test_numpy_bmm_is_torch_bmm_with_gradients():
    """The numpy-BLAS product and its backward against torch.bmm, on contiguous and transposed operands."""
    rng = np.random.default_rng(11)
    A0, B0 = torch.from_numpy(rng.standard_normal((4, 6, 5))), torch.from_numpy(rng.standard_normal((4, 7, 6)))
    G = torch.from_numpy(rng.standard_normal((4, 7, 5))).transpose(1, 2)  # a transposed cotangent
    for transposed in (False, True):
        out = {}
        for blas in torch_arch.BLAS:
            A, B = A0.clone().requires_grad_(), B0.clone().requires_grad_()
            a, b = (A.transpose(1, 2), B.transpose(1, 2)) if transposed else (A.transpose(1, 2).contiguous(),
                                                                              B.transpose(1, 2).contiguous())
            C = torch_arch.bmm(a, b, blas)  # (4, 5, 7)
            out[blas] = (C, *torch.autograd.grad(C, (A, B), G))
        for x, y in zip(out["numpy"], out["torch"]):
            np.testing.assert_allclose(x.detach(), y.detach(), rtol=1e-13, atol=1e-14)


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


@pytest.mark.parametrize("layout", ["runs", "rows", "sets"])
def test_cnn_shared_image_sets_equal_the_per_model_op(layout):
    """Models reading shared image sets (``src``; the batched grid's rows, the evaluation's test sets): the
    convolution + pool over each set's patches, built once, equals the per-model op on gathered images —
    forward and the kernels' gradient, whichever way the models are walked (runs of one set, one model per
    set, scattered models of a set), with ties inside pooling windows."""
    rng = np.random.default_rng(13)
    U, n, c = 3, 9, 4
    x = torch.from_numpy((rng.random((U, n, 64)) < 0.5).astype(float))  # binary images: tied windows
    src = {"runs": [0, 0, 0, 1, 1, 2, 2, 2], "rows": [2, 0, 1], "sets": [0, 1, 0, 2, 1, 0, 2, 1]}[layout]
    src = torch.as_tensor(src)
    assert torch_arch._groups(src)[0] == layout
    K0 = rng.standard_normal((len(src), c, 9))
    K0[:, :, 1::3] = 0.0  # zero taps: adjacent outputs tie
    K = torch.from_numpy(K0).requires_grad_()
    out = torch_arch._ConvPoolReLUShared.apply(K, torch_arch.CNN.patches(x), torch_arch._groups(src), "numpy")
    g = torch.from_numpy(rng.standard_normal(out.shape))
    (dK,) = torch.autograd.grad(out, K, g)
    K2 = K.detach().clone().requires_grad_()
    ref = torch_arch._ConvPoolReLU.apply(K2, torch_arch._padded(x[src]), "numpy")
    (dK2,) = torch.autograd.grad(ref, K2, g)
    np.testing.assert_allclose(out.detach(), ref.detach(), rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(dK, dK2, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("make", [mlp, cnn])
def test_shared_sets_in_the_batched_engine(make):
    """batched.train and batched.evaluate on rows that share data rows (shared image sets, LP rows as the
    head alone, rows of every kind mixed) equal the same run with every row's images its own copy."""
    from lpft_theory.empirical import batched as B

    rng = np.random.default_rng(4)
    arch = make(h=6) if make is mlp else make(c=2, h=6)
    data = Samples(rng.random((2, 7, 64)), rng.integers(0, 10, (2, 7)))
    D = B.Data.of(data, 10)
    st = tuple(np.broadcast_to(p, (6,) + p.shape).copy() for p in arch.init(3))
    rows = B.Rows.cat([B.Rows.block([0, 1], eta=0.3), B.Rows.block([0, 1], eta=0.3, head_until=10 ** 9, mu=0.5),
                       B.Rows.block([1, 0], eta=0.2, head_until=2)])
    run = B.train(arch, st, st, rows, D, 4, record={2, 4})
    for i in range(6):  # each row alone, on its own copy of its data row: the per-model path
        one = B.Rows.block([0], eta=rows.eta[i], head_until=rows.head_until[i], mu=rows.mu[i])
        own = B.Data.of(Samples(data.X[rows.data[i]][None], data.Y[rows.data[i]][None]), 10)
        ref = B.train(arch, tuple(p[i:i + 1] for p in st), tuple(p[i:i + 1] for p in st), one, own, 4, record={4})
        for a, b in zip(run.snapshots[4], ref.snapshots[4]):
            np.testing.assert_allclose(a[i:i + 1], b, rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(run.losses[:, i], ref.losses[:, 0], rtol=1e-12, atol=1e-13)
    P = run.snapshots[4]
    F, pred = B.evaluate(arch, P, D.X, src=rows.data)
    F0, pred0 = B.evaluate(arch, P, D.X[torch.as_tensor(rows.data)])
    np.testing.assert_allclose(F, F0, rtol=1e-12, atol=1e-13)
    np.testing.assert_array_equal(pred, pred0)
