"""Torch models behind the engine's architecture interface, so every strategy runs on them unchanged.

A :class:`TorchArch` wraps a bias-free ``nn.Module`` whose ``forward(x, features=False)`` returns logits
(or the penultimate features). Parameters cross the interface as the engine's tuples of float64 numpy
arrays — each tensor stored as a 2-D matrix ``(shape[0], prod(shape[1:]))``, the head as ``V`` (``k × p``)
— and every leading batch axis (clients, soup ingredients, cross-evaluation) is flattened into one.
Three evaluation paths compute the same thing:

* ``"batched"`` (default where the module has ``batched_hidden``): one forward over all clients at once,
  written with batched matrix products (``bmm``; the CNN's convolution as a grouped convolution), and
  one autograd call for the sum of the clients' losses — each client's gradient is its own block,
  since clients share no parameter;
* ``"vmap"``: the module's own forward mapped over clients with ``torch.func.vmap`` + ``functional_call``
  (any module; the reference the batched path is tested against);
* ``"loop"``: a Python loop over clients (``sequential=True``), for testing and benchmarking.

Torch runs with the package's thread count (:mod:`lpft_theory.threads`, 1 by default).
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
threads.apply_torch()  # torch is imported here first: give it the package's thread count


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

    @staticmethod
    def batched_hidden(P, x, depth: int):
        """:meth:`hidden` for ``b`` models at once: ``P`` maps names to ``(b, *shape)``, ``x`` is ``(b, n, d)``."""
        for name in ("fc1.weight", "fc2.weight")[:depth]:
            x = torch.relu(torch.bmm(x, P[name].transpose(1, 2)))
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

    @staticmethod
    def batched_hidden(P, x, depth: int):
        """:meth:`hidden` for ``b`` models at once (``P``: names → ``(b, *shape)``, ``x``: ``(b, n, 64)``): the
        ``b`` convolutions are one grouped convolution over the images stacked as channels. ReLU is applied
        after the pooling: ``relu`` is monotone, so ``pool(relu(z)) = relu(pool(z))``, with the same gradient
        (zero where a window's maximum is <= 0), on a tensor four times smaller."""
        b, n = x.shape[:2]
        if depth >= 1:
            K = P["conv.weight"]  # (b, c, 1, 3, 3)
            c = K.shape[1]
            z = torch.conv2d(x.transpose(0, 1).reshape(n, b, 8, 8), K.reshape(b * c, 1, 3, 3), padding=1, groups=b)
            x = torch.relu(torch.max_pool2d(z, 2)).reshape(n, b, c * 16).transpose(0, 1)
        if depth >= 2:
            x = torch.relu(torch.bmm(x, P["fc.weight"].transpose(1, 2)))
        return x


class TorchArch(_Architecture):
    """Engine interface over a torch module (see module docstring); classification or regression.

    ``path``: ``"batched"``, ``"vmap"`` or ``"loop"`` (default: batched when the module has
    ``batched_hidden``, else vmap); ``sequential=True`` is ``path="loop"``.
    """

    def __init__(self, module: nn.Module, d: int, p: int, sequential: bool = False, path: str | None = None):
        self.module = module.double()
        self.d, self.p = d, p
        if path is None:
            path = "loop" if sequential else ("batched" if hasattr(module, "batched_hidden") else "vmap")
        self.path = Vd.choice("path", path, PATHS)
        if path == "batched" and not hasattr(module, "batched_hidden"):
            raise ValueError(f"path='batched' needs a module with batched_hidden; {type(module).__name__} has none")
        self.sequential = path == "loop"
        named = dict(self.module.named_parameters())
        if "head" not in named:
            raise ValueError("the module needs a head parameter named 'head' (k × p)")
        self.block_names = tuple(n for n in named if n != "head") + ("head",)  # the head is the last block
        self._torch_shapes = [tuple(named[n].shape) for n in self.block_names]

    def shapes(self):
        return tuple((s[0], int(np.prod(s[1:]))) for s in self._torch_shapes)

    def _pdict(self, flat, batched: bool = False):
        lead = (flat[0].shape[0],) if batched else ()
        return {n: t.reshape(lead + s) for n, t, s in zip(self.block_names, flat, self._torch_shapes)}

    # ---------------------------------------------------------------- batched evaluation machinery
    def _run(self, one, many, params, arrays, shapes=None):
        """Evaluate over the broadcast leading batch axes of ``params`` and ``arrays`` (pairs ``(array,
        trailing ndim)``): ``one(param_tensors, *array_tensors)`` for one model (mapped by vmap or a loop)
        or ``many`` for all models at once (tensors with a leading batch axis), by ``self.path``."""
        shapes = self.shapes() if shapes is None else shapes
        p_batch = [p.shape[:-2] for p in params]
        a_batch = [a.shape[: a.ndim - nd] for a, nd in arrays]
        bs = np.broadcast_shapes(*p_batch, *a_batch)
        P = [torch.from_numpy(np.array(np.broadcast_to(p, bs + s).reshape((-1,) + s))) for p, s in zip(params, shapes)]
        A = [torch.from_numpy(np.array(np.broadcast_to(a, bs + a.shape[a.ndim - nd:]).reshape((-1,) + a.shape[a.ndim - nd:]),
                                       dtype=np.float64)) for a, nd in arrays]
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
            return self.module.batched_hidden(Pd, x, kw["depth"])
        z = self.module.batched_hidden(Pd, x, self.module.DEPTH)
        return z if kw.get("features") else torch.bmm(z, Pd["head"])

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


def mlp(d: int = 64, h: int = 32, p: int = 10, sequential: bool = False, path: str | None = None) -> TorchArch:
    """:class:`MLP` ``f = Vᵀ relu(W_2 relu(W_1 x))`` behind the engine interface."""
    return TorchArch(MLP(d, h, p), d, p, sequential, path)


def cnn(c: int = 8, h: int = 32, p: int = 10, sequential: bool = False, path: str | None = None) -> TorchArch:
    """:class:`CNN` ``f = Vᵀ relu(W pool(relu(K * x)))`` behind the engine interface."""
    return TorchArch(CNN(c, h, p), 64, p, sequential, path)
