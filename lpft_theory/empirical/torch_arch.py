"""Torch models behind the engine's architecture interface, so every strategy runs on them unchanged.

A :class:`TorchArch` wraps a bias-free ``nn.Module`` whose ``forward(x, features=False)`` returns logits
(or the penultimate features). Parameters cross the interface as the engine's tuples of float64 numpy
arrays — each tensor stored as a 2-D matrix ``(shape[0], prod(shape[1:]))``, the head as ``V`` (``k × p``)
— and are rebuilt into the module's shapes inside ``torch.func.functional_call``. Every leading batch
axis (clients, soup ingredients, cross-evaluation) is flattened and mapped with ``torch.func.vmap``:
clients train in parallel, not in a Python loop. ``sequential=True`` evaluates the same thing with a
loop, for testing and benchmarking.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, grad_and_value, vmap

from .. import _validate as Vd
from ..data import Samples
from ..models import _Architecture


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


class TorchArch(_Architecture):
    """Engine interface over a torch module (see module docstring); classification or regression."""

    def __init__(self, module: nn.Module, d: int, p: int, sequential: bool = False):
        self.module = module.double()
        self.d, self.p = d, p
        self.sequential = sequential
        named = dict(self.module.named_parameters())
        if "head" not in named:
            raise ValueError("the module needs a head parameter named 'head' (k × p)")
        self.block_names = tuple(n for n in named if n != "head") + ("head",)  # the head is the last block
        self._torch_shapes = [tuple(named[n].shape) for n in self.block_names]

    def shapes(self):
        return tuple((s[0], int(np.prod(s[1:]))) for s in self._torch_shapes)

    def _pdict(self, flat):
        return {n: t.reshape(s) for n, t, s in zip(self.block_names, flat, self._torch_shapes)}

    # ---------------------------------------------------------------- batched evaluation machinery
    def _batched(self, fn, params, arrays, shapes=None):
        """Apply ``fn(param_tensors, *array_tensors)`` over the broadcast leading batch axes."""
        shapes = self.shapes() if shapes is None else shapes
        p_batch = [p.shape[:-2] for p in params]
        a_batch = [a.shape[: a.ndim - nd] for a, nd in arrays]
        bs = np.broadcast_shapes(*p_batch, *a_batch)
        P = [torch.from_numpy(np.array(np.broadcast_to(p, bs + s).reshape((-1,) + s))) for p, s in zip(params, shapes)]
        A = [torch.from_numpy(np.array(np.broadcast_to(a, bs + a.shape[a.ndim - nd:]).reshape((-1,) + a.shape[a.ndim - nd:]),
                                       dtype=np.float64)) for a, nd in arrays]
        if self.sequential:
            outs = [fn([q[b] for q in P], *[x[b] for x in A]) for b in range(P[0].shape[0])]
            outs = tuple(torch.stack([o[i] for o in outs]) for i in range(len(outs[0]))) if isinstance(outs[0], tuple) \
                else torch.stack(outs)
        else:
            outs = vmap(fn)(P, *A)
        conv = lambda t: t.detach().numpy().reshape(bs + tuple(t.shape[1:]))  # noqa: E731
        return tuple(conv(o) for o in outs) if isinstance(outs, tuple) else conv(outs)

    def features(self, params, X):
        return self._batched(lambda P, x: functional_call(self.module, self._pdict(P), (x,), {"features": True}),
                             params, [(np.asarray(X, dtype=np.float64), 2)])

    def predict(self, params, X):
        return self._batched(lambda P, x: functional_call(self.module, self._pdict(P), (x,)),
                             params, [(np.asarray(X, dtype=np.float64), 2)])

    def value_and_grad(self, params, data, loss: str = "mse", half: bool = False):
        Vd.choice("loss", loss, ("mse", "ce"))
        if not isinstance(data, Samples):
            raise ValueError("torch models need finite Samples (no population moments)")
        w = data.point_weights()
        if loss == "ce":  # labels become one-hot rows here: vmap cannot branch on data

            def objective(P, x, q, wt):
                lsm = torch.log_softmax(functional_call(self.module, self._pdict(P), (x,)), dim=-1)
                return -(wt[:, None] * lsm * q).sum()
            y_arr = (data.targets(self.p) if data.is_classification else np.asarray(data.Y, dtype=np.float64), 2)
        else:
            factor = 0.5 if half else 1.0

            def objective(P, x, y, wt):
                r = functional_call(self.module, self._pdict(P), (x,)) - y
                return factor * (wt[:, None] * r * r).sum()
            y_arr = (data.targets(self.p), 2)

        def fn(P, x, y, wt):
            g, v = grad_and_value(objective)(P, x, y, wt)
            return (v, *g)

        out = self._batched(fn, params, [(data.X, 2), y_arr, (w, 1)])
        return out[0], tuple(out[1:])


    def alignment_grads(self, params, anchor, data, s: int, align: str = "mse", half: bool = False):
        """Gradient of split FT's alignment ``A = E‖h_s(θ) − h_s(θ_G)‖²`` (``align="kl"``: the KL form on
        softmax-normalised representations), by autograd; ``h_s`` = the module's ``hidden(x, s)``."""
        if not isinstance(data, Samples):
            raise ValueError("torch models need finite Samples")
        factor = 0.5 if half else 1.0
        n = len(params)

        def objective(P, A, x, wt):
            hp = functional_call(self.module, self._pdict(P), (x,), {"depth": s})
            ha = functional_call(self.module, self._pdict(A), (x,), {"depth": s}).detach()
            if align == "kl":
                kl = torch.softmax(ha, -1) * (torch.log_softmax(ha, -1) - torch.log_softmax(hp, -1))
                return (wt * kl.sum(-1)).sum()
            return factor * (wt[:, None] * (hp - ha) ** 2).sum()

        def fn(Q, x, wt):
            return tuple(torch.func.grad(objective)(Q[:n], Q[n:], x, wt))

        return self._batched(fn, tuple(params) + tuple(anchor), [(data.X, 2), (data.point_weights(), 1)],
                             shapes=self.shapes() * 2)


def mlp(d: int = 64, h: int = 32, p: int = 10, sequential: bool = False) -> TorchArch:
    """:class:`MLP` ``f = Vᵀ relu(W_2 relu(W_1 x))`` behind the engine interface."""
    return TorchArch(MLP(d, h, p), d, p, sequential)


def cnn(c: int = 8, h: int = 32, p: int = 10, sequential: bool = False) -> TorchArch:
    """:class:`CNN` ``f = Vᵀ relu(W pool(relu(K * x)))`` behind the engine interface."""
    return TorchArch(CNN(c, h, p), 64, p, sequential)
