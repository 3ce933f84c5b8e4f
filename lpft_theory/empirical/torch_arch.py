"""Torch models behind the engine's architecture interface, so every strategy runs on them unchanged.

A :class:`TorchArch` wraps a bias-free ``nn.Module`` whose ``forward(x, features=False)`` returns logits
(or the penultimate features). Parameters cross the interface as the engine's tuples of float64 numpy
arrays — each tensor stored as a 2-D matrix ``(shape[0], prod(shape[1:]))``, the head as ``V`` (``k × p``)
— and every leading batch axis (clients, soup ingredients, cross-evaluation) is flattened into one.
Three evaluation paths compute the same thing:

* ``"batched"`` (default where the module has ``batched_hidden``): one forward over all clients at once,
  written with batched matrix products (the CNN's convolution + max-pool as one product over im2col
  patches and one max, :class:`_ConvPoolReLU`), and one autograd call for the sum of the clients'
  losses — each client's gradient is its own block, since clients share no parameter;
* ``"vmap"``: the module's own forward mapped over clients with ``torch.func.vmap`` + ``functional_call``
  (any module; the reference the batched path is tested against);
* ``"loop"``: a Python loop over clients (``sequential=True``), for testing and benchmarking.

The batched path's products run on numpy's BLAS by default (``blas="numpy"``; ``"torch"``: ``torch.bmm``).
Why: on the machine of ``benchmarks/README.md`` (AMD EPYC) torch's bundled MKL runs these small, skinny
float64 products 2–4× slower than numpy's OpenBLAS (20 digits clients, the CNN's convolution ``(8 × 9) @
(9 × 4032)`` per client and its kernel gradient: ~0.6 + ~1.3 ms with torch, ~0.3 + ~0.35 ms with numpy).
Same products, so the two agree to rounding (tests/test_torch_paths.py) but not bit for bit; with
``blas="torch"`` the MLP's batched path is the previous ``torch.bmm`` code exactly. Torch and BLAS run with
the package's thread count (:mod:`lpft_theory.threads`, 1 by default).
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, grad_and_value, vmap

from .. import _validate as Vd
from .. import threads
from ..data import Samples
from ..models import _Architecture, per_config

PATHS = ("batched", "vmap", "loop")
BLAS = ("numpy", "torch")  # what runs the batched path's products
threads.apply_torch()  # torch is imported here first: give it the package's thread count


def _blas_ready(t):
    """``t`` as a numpy array (shared memory) whose matrices have a unit stride, so numpy's matmul uses BLAS."""
    t = t.detach()
    s = t.stride()
    return (t if s[-1] == 1 or s[-2] == 1 else t.contiguous()).numpy()


def _np_bmm(A, B):
    """``A @ B`` for ``(b, m, k)`` and ``(b, k, n)`` float64 tensors by numpy's BLAS (no autograd)."""
    return torch.from_numpy(np.matmul(_blas_ready(A), _blas_ready(B)))


_PRODUCTS = {"numpy": _np_bmm, "torch": torch.bmm}


class _NumpyBmm(torch.autograd.Function):
    """``torch.bmm`` with its forward and backward products (``dA = g Bᵀ``, ``dB = Aᵀ g``) by numpy's BLAS."""

    @staticmethod
    def forward(ctx, A, B):
        ctx.save_for_backward(A, B)
        return _np_bmm(A, B)

    @staticmethod
    def backward(ctx, g):
        A, B = ctx.saved_tensors
        return (_np_bmm(g, B.transpose(1, 2)) if ctx.needs_input_grad[0] else None,
                _np_bmm(A.transpose(1, 2), g) if ctx.needs_input_grad[1] else None)


def bmm(A, B, blas: str = "numpy"):
    """Batched matrix product with autograd; ``blas``: ``"numpy"`` (numpy's BLAS) or ``"torch"`` (``torch.bmm``)."""
    return _NumpyBmm.apply(A, B) if blas == "numpy" else torch.bmm(A, B)


class _Net(nn.Module):
    """Shared forward: ``hidden(x, depth)`` is the representation after ``depth`` body layers; the head
    ``V`` (``k × p``) reads the last one (``DEPTH``)."""

    DEPTH = 2

    def forward(self, x, features: bool = False, depth: int | None = None):
        if depth is not None:
            return self.hidden(x, depth)
        z = self.hidden(x, self.DEPTH)
        return z if features else z @ self.head


class MLP(_Net):
    """64 → h → h → p, ReLU; the head reads the second hidden layer."""

    def __init__(self, d: int = 64, h: int = 32, p: int = 10):
        super().__init__()
        self.fc1 = nn.Linear(d, h, bias=False)
        self.fc2 = nn.Linear(h, h, bias=False)
        self.head = nn.Parameter(torch.zeros(h, p, dtype=torch.float64))

    def hidden(self, x, depth: int):
        """Representation after ``depth`` body layers (0 = the input)."""
        for layer in (self.fc1, self.fc2)[:depth]:
            x = torch.relu(layer(x))
        return x

    SHARED_EVAL = True  # without autograd, batched_hidden reads shared image sets (``src``) in place

    @staticmethod
    def batched_hidden(P, x, depth: int, blas: str = "numpy", src=None):
        """:meth:`hidden` for ``b`` models at once: ``P`` maps names to ``(b, *shape)``, ``x`` is ``(b, n, d)``
        (``src (b,)``, optional: model ``i`` reads ``x[src[i]]``); products by ``blas`` (:data:`BLAS`). Without
        autograd, the models of a run reading one set share its first product: ``x_u @ [W_1 … W_m]ᵀ``."""
        if src is not None:
            src = torch.as_tensor(src, device=x.device)
            kind, runs = _groups(src)
            if depth >= 1 and kind == "runs" and not torch.is_grad_enabled():
                W = P["fc1.weight"]  # (b, h, d)
                b, h = W.shape[:2]
                z = x.new_empty(b, x.shape[1], h)
                for a, e, u in runs:
                    y = _PRODUCTS[blas](x[u:u + 1], W[a:e].reshape(1, -1, W.shape[-1]).transpose(1, 2))
                    z[a:e] = y.view(x.shape[1], e - a, h).transpose(0, 1)
                x = torch.relu_(z)
                for name in ("fc2.weight",)[:depth - 1]:
                    x = torch.relu(bmm(x, P[name].transpose(1, 2), blas))
                return x
            x = x[src]
        for name in ("fc1.weight", "fc2.weight")[:depth]:
            x = torch.relu(bmm(x, P[name].transpose(1, 2), blas))
        return x


class CNN(_Net):
    """8×8 image → conv3×3 (c channels) → ReLU → 2×2 max-pool → fc h → ReLU → head."""

    def __init__(self, c: int = 8, h: int = 32, p: int = 10):
        super().__init__()
        self.conv = nn.Conv2d(1, c, 3, padding=1, bias=False)
        self.fc = nn.Linear(c * 16, h, bias=False)
        self.head = nn.Parameter(torch.zeros(h, p, dtype=torch.float64))

    def hidden(self, x, depth: int):
        """Representation after ``depth`` body layers (0 = the input)."""
        if depth >= 1:
            x = torch.max_pool2d(torch.relu(self.conv(x.reshape(-1, 1, 8, 8))), 2).flatten(1)
        if depth >= 2:
            x = torch.relu(self.fc(x))
        return x

    SHARED_IMAGES = True  # batched_hidden takes ``src``: models reading shared image sets

    @staticmethod
    def patches(x):
        """The im2col patches ``(U, 9, 64·n)`` of image sets ``x (U, n, 64)`` (:func:`_pool_patches`): they
        depend on the images alone, so a caller may build them once (``batched_hidden(patches=…)``)."""
        return _pool_patches(_padded(x))

    @staticmethod
    def batched_hidden(P, x, depth: int, blas: str = "numpy", src=None, patches=None):
        """:meth:`hidden` for ``b`` models at once (``P``: names → ``(b, *shape)``, ``x``: ``(b, n, 64)``;
        products by ``blas``, :data:`BLAS`). ``src (b,)``, optional: model ``i`` reads the image set
        ``x[src[i]]`` (``x``: ``(U, n, 64)``, sets shared by many models, :class:`_ConvPoolReLUShared`;
        ``patches``: :meth:`patches` of ``x``, when the caller keeps them).

        The convolution and the 2×2 max-pool are one batched product and one max (:class:`_ConvPoolReLU`)
        over im2col patches laid out with the images innermost, so every kernel streams long contiguous
        rows; the fully connected layer is a product in that layout too (features × images). The result is
        ``(b, n, features)`` (a transposed view), features in the order of :meth:`hidden` (channel-major)."""
        b, n = (x.shape[:2] if src is None else (len(src), x.shape[1]))
        if depth >= 1:
            K = P["conv.weight"]  # (b, c, 1, 3, 3)
            c = K.shape[1]
            if src is None:
                x = _ConvPoolReLU.apply(K.reshape(b, c, 9), _padded(x), blas).view(b, c * 16, n)  # (b, c·16, n)
            else:
                pat = CNN.patches(x) if patches is None else patches
                x = _ConvPoolReLUShared.apply(K.reshape(b, c, 9), pat, _groups(src), blas).view(b, c * 16, n)
            if depth >= 2:
                x = torch.relu(bmm(P["fc.weight"], x, blas))  # (b, h, n)
            return x.transpose(1, 2)
        return x


def _padded(x):
    """``b × n`` 8×8 images ``(b, n, 64)`` → zero-padded and images innermost: ``(b, 10, 10, n)``."""
    b, n = x.shape[:2]
    pad = x.new_zeros(b, 10, 10, n)
    pad[:, 1:9, 1:9] = x.transpose(1, 2).view(b, 8, 8, n)
    return pad


def _pool_patches(pad):
    """im2col patches of padded images (:func:`_padded`) for a 3×3 convolution followed by a 2×2 max-pool:
    ``(b, 9, 4·16·n)``, indexed ``[b, tap (ky, kx), window offset (dy, dx), pooled cell (i, j), image]``,
    the entry being the padded image's pixel ``(2i + dy + ky, 2j + dx + kx)``."""
    b, n = pad.shape[0], pad.shape[-1]
    s = pad.stride(0)
    view = pad.as_strided((b, 3, 3, 2, 2, 4, 4, n), (s, 10 * n, n, 10 * n, n, 20 * n, 2 * n, 1), pad.storage_offset())
    return view.reshape(b, 9, 64 * n)


_relu_grad = torch.ops.aten.threshold_backward  # (g, z, 0): g where z > 0, else 0 — one fast pass


_CHUNK_BYTES = 1 << 19  # _ConvPoolReLU's chunks of clients: a chunk's pre-pool block stays near this size


def _chunk(c: int, L: int) -> int:
    """Clients per chunk for ``c`` channels and ``L`` pooled cells × images: pre-pool blocks of ~512 KiB
    (L2-sized, with the chunk's patches); at least one client."""
    return max(1, _CHUNK_BYTES // (c * 4 * L * 8))


class _ConvPoolReLU(torch.autograd.Function):
    """``relu(maxpool2×2(conv3×3(x)))`` for ``b`` models: ``K`` ``(b, c, 9)``, the padded images ``(b, 10, 10,
    n)`` (:func:`_padded`), ``blas`` → ``(b, c, L)`` with ``L`` = 16 pooled cells × n images; gradient in
    ``K`` only.

    Forward: ``Z = K @ patches`` (:func:`_pool_patches`; ``(b, c, 4, L)``: the four offsets of each pooling
    window are four contiguous blocks), max over the offsets, ReLU. Backward, the same arithmetic as
    torch's max-pool: a window's gradient goes to its *first* maximal offset in row-major order
    (``max_pool2d``'s tie rule), and is zero where the maximum is <= 0 (ReLU after the pool: ``relu`` is
    monotone, so ``pool(relu(z)) = relu(pool(z))`` with the same gradient); then ``dK = G @ patchesᵀ``.
    The offsets are picked by exact float arithmetic (``max − Z_o`` is 0 exactly where ``Z_o`` is the
    max), not by masks: a few fast passes, no scatter into a zero-filled buffer.

    Both passes run over chunks of clients (:func:`_chunk`), and the backward rebuilds a chunk's patches
    and ``Z`` (a copy and one small product) instead of keeping them: a chunk's patches and pre-pool block
    stay in cache through the product, the max and the gradient's passes, and no call allocates (and
    page-faults) blocks 9× or 4× the size of the images for all clients at once. The backward picks offsets
    against the max of *its own* ``Z``, so it never relies on the recomputed product being bit-identical
    to the forward's."""

    @staticmethod
    def forward(ctx, K, pad, blas="numpy"):
        b, c = K.shape[:2]
        L = 16 * pad.shape[-1]
        prod, step = _PRODUCTS[blas], _chunk(c, L)
        m = K.new_empty(b, c, L)
        for j in range(0, b, step):
            Z = prod(K[j:j + step], _pool_patches(pad[j:j + step])).view(-1, c, 4, L)
            torch.amax(Z, 2, out=m[j:j + step])
        ctx.save_for_backward(K, pad)
        ctx.blas = blas
        return m.clamp_min_(0.0)  # ReLU

    @staticmethod
    def backward(ctx, g):
        K, pad = ctx.saved_tensors
        b, c = K.shape[:2]
        L = 16 * pad.shape[-1]
        prod, step = _PRODUCTS[ctx.blas], _chunk(c, L)
        dK = K.new_empty(K.shape)
        for j in range(0, b, step):
            P = _pool_patches(pad[j:j + step])
            Z = prod(K[j:j + step], P).view(-1, c, 4, L)
            mj = Z.amax(2)
            r = _relu_grad(g[j:j + step], mj, 0.0)  # the gradient not yet given to an offset
            for o in range(3):  # Z becomes the pre-pool gradient G, offset by offset
                rest = _relu_grad(r, mj - Z[:, :, o], 0.0)  # r where Z_o < max: left for the later offsets
                torch.sub(r, rest, out=Z[:, :, o])  # G_o: r where Z_o == max (exact: r − r = 0, r − 0 = r)
                r = rest
            Z[:, :, 3] = r  # the maximum is at the last offset where at none before
            dK[j:j + step] = prod(Z.view(-1, c, 4 * L), P.transpose(1, 2))
        return dK, None, None


def _groups(src):
    """How :class:`_ConvPoolReLUShared` walks models ``src (b,)`` (each model's image set): ``("runs", [(start,
    stop, set), …])`` where models reading one set mostly sit next to each other (runs of at least 2 on
    average: slices, no copies), ``("rows", src)`` where every set has one model, else ``("sets", [(set,
    its models (index tensor)), …])``."""
    src = torch.as_tensor(src)
    cut = torch.nonzero(src[1:] != src[:-1]).flatten() + 1
    bounds = [0] + cut.tolist() + [len(src)]
    if 2 * (len(bounds) - 1) <= len(src):
        first = src[torch.as_tensor(bounds[:-1], device=src.device)].tolist()
        return ("runs", [(a, b, u) for a, b, u in zip(bounds[:-1], bounds[1:], first)])
    order = torch.argsort(src, stable=True)
    u, counts = torch.unique_consecutive(src[order], return_counts=True)
    if len(u) == len(src):
        return ("rows", src)
    return ("sets", list(zip(u.tolist(), torch.split(order, counts.tolist()))))


def _chunks(groups, step: int, pat):
    """``(model rows (a slice or an index tensor), their patches, one set?)`` per chunk of at most ``step``
    models: a set's models together (``"runs"``: slices; ``"sets"``: index tensors), or runs of rows each with
    its own set (``"rows"``: the patches a view where the sets are consecutive)."""
    kind, g = groups
    if kind == "runs":
        for a, b, u in g:
            for j in range(a, b, step):
                yield slice(j, min(j + step, b)), pat[u:u + 1], True
        return
    if kind == "sets":
        for u, idx in g:
            for j in range(0, len(idx), step):
                yield idx[j:j + step], pat[u:u + 1], True
        return
    for j in range(0, len(g), step):
        s = g[j:j + step]
        lo = int(s[0])
        run = bool(torch.equal(s, torch.arange(lo, lo + len(s), dtype=s.dtype, device=s.device)))
        yield slice(j, j + len(s)), (pat[lo:lo + len(s)] if run else pat[s]), False


def _pick_offsets(Z, mj, r):
    """In place: ``Z (m, c, 4, L)`` (pre-pool values, window maxima ``mj``) becomes the pre-pool gradient
    of the window gradients ``r`` (already zero where ReLU cut): each window's to its first maximal offset
    (:class:`_ConvPoolReLU`)."""
    for o in range(3):  # Z becomes the pre-pool gradient G, offset by offset
        rest = _relu_grad(r, mj - Z[:, :, o], 0.0)  # r where Z_o < max: left for the later offsets
        torch.sub(r, rest, out=Z[:, :, o])  # G_o: r where Z_o == max (exact: r − r = 0, r − 0 = r)
        r = rest
    Z[:, :, 3] = r  # the maximum is at the last offset where at none before
    return Z


class _ConvPoolReLUShared(torch.autograd.Function):
    """:class:`_ConvPoolReLU` for ``b`` models that read shared image sets: ``K (b, c, 9)``, the sets' patches
    ``(U, 9, 4·L)`` (:func:`_pool_patches`), ``groups`` (:func:`_groups`: set → its models) → ``(b, c, L)``.

    The models of one set are one product ``(m·c, 9) @ (9, 4·L)`` (in chunks of models, :func:`_chunk`):
    the patches are built once per set (or once per run, by the caller: ``CNN.patches``), not once per model
    and step. ``groups`` (:func:`_groups`) says how the models are walked: runs of neighbouring models of one
    set (slices, no copies — the batched grid sorts its rows so), one model per set (the patches a view), or
    a set's scattered models (index copies). The same arithmetic per model as :class:`_ConvPoolReLU` (max,
    ReLU, the first maximal offset of each window), so the two agree to rounding (bit for bit on the
    machine of benchmarks/README.md; tests/test_torch_paths.py)."""

    @staticmethod
    def forward(ctx, K, pat, groups, blas="numpy"):
        b, c = K.shape[:2]
        L = pat.shape[-1] // 4
        prod, step = _PRODUCTS[blas], _chunk(c, L)
        m = K.new_empty(b, c, L)
        for ix, Pu, shared in _chunks(groups, step, pat):
            Z = prod(K[ix].reshape(1, -1, 9) if shared else K[ix], Pu).view(-1, c, 4, L)
            if isinstance(ix, slice):
                torch.amax(Z, 2, out=m[ix])
            else:
                m.index_copy_(0, ix, torch.amax(Z, 2))
        ctx.save_for_backward(K, pat)
        ctx.groups, ctx.blas = groups, blas
        return m.clamp_min_(0.0)  # ReLU

    @staticmethod
    def backward(ctx, g):
        K, pat = ctx.saved_tensors
        b, c = K.shape[:2]
        L = pat.shape[-1] // 4
        prod, step = _PRODUCTS[ctx.blas], _chunk(c, L)
        dK = K.new_empty(K.shape)
        for ix, Pu, shared in _chunks(ctx.groups, step, pat):
            Z = prod(K[ix].reshape(1, -1, 9) if shared else K[ix], Pu).view(-1, c, 4, L)
            mj = Z.amax(2)
            G = _pick_offsets(Z, mj, _relu_grad(g[ix], mj, 0.0))
            d = prod(G.view(1, -1, 4 * L), Pu.transpose(1, 2)) if shared else prod(G.view(-1, c, 4 * L),
                                                                                    Pu.transpose(1, 2))
            if isinstance(ix, slice):
                dK[ix] = d.view(-1, c, 9)
            else:
                dK.index_copy_(0, ix, d.view(-1, c, 9))
        return dK, None, None, None


class TorchArch(_Architecture):
    """Engine interface over a torch module (see module docstring); classification or regression.

    ``path``: ``"batched"``, ``"vmap"`` or ``"loop"`` (default: batched when the module has
    ``batched_hidden``, else vmap); ``sequential=True`` is ``path="loop"``. ``blas``: what runs the batched
    path's products (:data:`BLAS`, module docstring).
    """

    def __init__(self, module: nn.Module, d: int, p: int, sequential: bool = False, path: str | None = None,
                 blas: str = "numpy"):
        self.module = module.double()
        self.d, self.p = d, p
        if path is None:
            path = "loop" if sequential else ("batched" if hasattr(module, "batched_hidden") else "vmap")
        self.path = Vd.choice("path", path, PATHS)
        self.blas = Vd.choice("blas", blas, BLAS)
        if path == "batched" and not hasattr(module, "batched_hidden"):
            raise ValueError(f"path='batched' needs a module with batched_hidden; {type(module).__name__} has none")
        self.sequential = path == "loop"
        named = dict(self.module.named_parameters())
        if "head" not in named:
            raise ValueError("the module needs a head parameter named 'head' (k × p)")
        self.block_names = tuple(n for n in named if n != "head") + ("head",)  # the head is the last block
        self._torch_shapes = [tuple(named[n].shape) for n in self.block_names]
        self._shapes = tuple((s[0], int(np.prod(s[1:]))) for s in self._torch_shapes)

    def shapes(self):
        return self._shapes

    def _pdict(self, flat, batched: bool = False):
        lead = (flat[0].shape[0],) if batched else ()
        return {n: t.reshape(lead + s) for n, t, s in zip(self.block_names, flat, self._torch_shapes)}

    # ---------------------------------------------------------------- batched evaluation machinery
    def _run(self, one, many, params, arrays, shapes=None):
        """Evaluate over the broadcast leading batch axes of ``params`` and ``arrays`` (pairs ``(array,
        trailing ndim)``): ``one(param_tensors, *array_tensors)`` for one model (mapped by vmap or a loop)
        or ``many`` for all models at once (tensors with a leading batch axis), by ``self.path``."""
        shapes = self._shapes if shapes is None else shapes
        arrays = [(a, a.shape[a.ndim - nd:]) for a, nd in arrays]
        bs = np.broadcast_shapes(*(p.shape[:-2] for p in params), *(a.shape[: a.ndim - len(t)] for a, t in arrays))
        P = [_flat_tensor(p, bs, s) for p, s in zip(params, shapes)]
        A = [_flat_tensor(a, bs, t) for a, t in arrays]
        if self.path == "batched":
            outs = many(P, *A)
        elif self.path == "vmap":
            outs = vmap(one)(P, *A)
        else:
            outs = [one([q[b] for q in P], *[x[b] for x in A]) for b in range(P[0].shape[0])]
            outs = tuple(torch.stack([o[i] for o in outs]) for i in range(len(outs[0]))) if isinstance(outs[0], tuple) \
                else torch.stack(outs)
        conv = lambda t: t.detach().numpy().reshape(bs + tuple(t.shape[1:]))  # noqa: E731
        return tuple(conv(o) for o in outs) if isinstance(outs, tuple) else conv(outs)

    def _forward(self, P, x, batched: bool, **kw):
        """The module's forward (``kw``: ``features`` / ``depth``) for one model, or all at once."""
        if not batched:
            return functional_call(self.module, self._pdict(P), (x,), kw)
        Pd = self._pdict(P, batched=True)
        if kw.get("depth") is not None:
            return self.module.batched_hidden(Pd, x, kw["depth"], self.blas)
        z = self.module.batched_hidden(Pd, x, self.module.DEPTH, self.blas)
        return z if kw.get("features") else bmm(z, Pd["head"], self.blas)

    def _eval(self, params, X, **kw):
        X = (np.asarray(X, dtype=np.float64), 2)
        return self._run(lambda P, x: self._forward(P, x, False, **kw), lambda P, x: self._forward(P, x, True, **kw),
                         params, [X])

    def features(self, params, X):
        return self._eval(params, X, features=True)

    def predict(self, params, X):
        return self._eval(params, X)

    @staticmethod
    def _value_and_grad_fns(objective, n_params: int | None = None):
        """``(one, many)`` for :meth:`_run` from ``objective(P, *rest)`` (summed over the points): value and
        gradient in the first ``n_params`` tensors of ``P`` (all by default) — for one model by
        ``torch.func``, for all models by one autograd call on the sum of their objectives."""

        def one(P, *rest):
            k = len(P) if n_params is None else n_params
            g, v = grad_and_value(lambda A, B, *r: objective(list(A) + list(B), *r))(list(P[:k]), list(P[k:]), *rest)
            return (v, *g)

        def many(P, *rest):
            leaves = [t.requires_grad_() for t in P[:n_params]]
            with torch.enable_grad():
                v = objective(leaves + list(P[len(leaves):]), *rest)
                g = torch.autograd.grad(v.sum(), leaves, allow_unused=True, materialize_grads=True)
            return (v, *g)

        return one, many

    def _objective(self, data, loss: str, half: bool):
        """The summed loss ``objective(P, x, y, w)`` of one model (or all, on the batched path) and its arrays."""
        Vd.choice("loss", loss, ("mse", "ce"))
        if not isinstance(data, Samples):
            raise ValueError("torch models need finite Samples (no population moments)")
        batched = self.path == "batched"
        if loss == "ce":  # labels become one-hot rows here: vmap cannot branch on data

            def objective(P, x, q, wt):
                lsm = torch.log_softmax(self._forward(P, x, batched), dim=-1)
                return -(wt[..., None] * lsm * q).sum((-2, -1))
            y_arr = (data.targets(self.p) if data.is_classification else np.asarray(data.Y, dtype=np.float64), 2)
        else:
            factor = 0.5 if half else 1.0

            def objective(P, x, y, wt):
                r = self._forward(P, x, batched) - y
                return factor * (wt[..., None] * r * r).sum((-2, -1))
            y_arr = (data.targets(self.p), 2)
        return objective, [(data.X, 2), y_arr, (data.point_weights(), 1)]

    def value_and_grad(self, params, data, loss: str = "mse", half: bool = False, scale=None):
        """As :meth:`_Architecture.value_and_grad` (``scale``: return ``scale·∇L``), for ``Samples``."""
        objective, arrays = self._objective(data, loss, half)
        out = self._run(*self._value_and_grad_fns(objective), params, arrays)
        grads = out[1:] if scale is None else (per_config(scale, g.ndim) * g for g in out[1:])
        return out[0], tuple(grads)

    def loss(self, params, data, loss: str = "mse", half: bool = False):
        """The value of :meth:`value_and_grad` — the same torch objective, without the backward pass."""
        objective, arrays = self._objective(data, loss, half)
        with torch.no_grad():
            return self._run(objective, objective, params, arrays)

    def alignment_grads(self, params, anchor, data, s: int, align: str = "mse", half: bool = False):
        """Gradient of split FT's alignment ``A = E‖h_s(θ) − h_s(θ_G)‖²`` (``align="kl"``: the KL form on
        softmax-normalised representations), by autograd; ``h_s`` = the module's ``hidden(x, s)``."""
        if not isinstance(data, Samples):
            raise ValueError("torch models need finite Samples")
        factor = 0.5 if half else 1.0
        n = len(params)
        batched = self.path == "batched"

        def objective(Q, x, wt):
            hp = self._forward(Q[:n], x, batched, depth=s)
            ha = self._forward(Q[n:], x, batched, depth=s).detach()
            if align == "kl":
                kl = torch.softmax(ha, -1) * (torch.log_softmax(ha, -1) - torch.log_softmax(hp, -1))
                return (wt * kl.sum(-1)).sum(-1)
            return factor * (wt[..., None] * (hp - ha) ** 2).sum((-2, -1))

        one, many = self._value_and_grad_fns(objective, n)
        return self._run(lambda Q, x, wt: one(Q, x, wt)[1:n + 1], lambda Q, x, wt: many(Q, x, wt)[1:],
                         tuple(params) + tuple(anchor), [(data.X, 2), (data.point_weights(), 1)], shapes=self.shapes() * 2)


def _flat_tensor(a, batch: tuple, tail: tuple):
    """``a`` broadcast to ``batch + tail``, its batch axes flattened into one, as a float64 tensor with memory of
    its own (a copy: the caller's arrays are never shared with torch)."""
    if a.shape != batch + tail:
        a = np.broadcast_to(a, batch + tail)
    return torch.from_numpy(np.array(a.reshape((-1,) + tail), dtype=np.float64))


def mlp(d: int = 64, h: int = 32, p: int = 10, sequential: bool = False, path: str | None = None,
        blas: str = "numpy") -> TorchArch:
    """:class:`MLP` ``f = Vᵀ relu(W_2 relu(W_1 x))`` behind the engine interface."""
    return TorchArch(MLP(d, h, p), d, p, sequential, path, blas)


def cnn(c: int = 8, h: int = 32, p: int = 10, sequential: bool = False, path: str | None = None,
        blas: str = "numpy") -> TorchArch:
    """:class:`CNN` ``f = Vᵀ relu(W pool(relu(K * x)))`` behind the engine interface."""
    return TorchArch(CNN(c, h, p), 64, p, sequential, path, blas)
