"""A tuning grid as one batched run: every (configuration, seed, client) is a row of one torch GD loop.

The engine's strategies (:mod:`lpft_theory.strategies`) personalize the clients of *one* configuration per
call. Here every method of the real-data study is one GD update with per-row settings, so the whole grid —
all methods, step sizes, knobs, seeds and clients — advances together, one batched forward and one
autograd call per step (:func:`train`). Per row ``r`` (all tensors of shape ``(R,)``), with ``A_r`` the
row's anchor (its seed's global model), ``s_r = sign(L_r − b_r)`` the flood sign (``b_r = 0``: no flood)
and ``M_r`` its SNIP mask (:func:`lpft_theory.strategies.regularized.snip_masks`, at the anchor; ones
without one):

    g     = s_r · M_r ⊙ ∇L_r(θ),  the body's blocks zeroed while t < head_until_r   (LP, LP-FT's LP stage)
    η     = eta_lp_r while t < head_until_r, else eta_r
    θ    ← θ − η (g + μ_r (θ − A_r)) / (1 + η μ_r)                                 (proximal; μ = 0: GD)

which is FT (``head_until = 0``), LP (``head_until ≥ T``; with μ: LP regularised toward the global head),
LP-FT (``head_until = k``), Proximal FT (μ), Sparse FT (a mask), a soup's ingredients (perturbed starts,
averaged by the caller) and loss flooding (``b``) — each equal, configuration by configuration, to the
engine's strategy (tests/test_torch_paths.py: 1e-10 in float64). LSS has its own loop (:func:`train_lss`),
batched the same way; FedAvg over seeds is :func:`fedavg_to_plateau`.

Every row records the objective it descends, ``L_r + (μ_r/2)‖θ − A_r‖²``, at every step (the stability
guard reads it). ``device``: where the tensors live (``"cpu"`` by default; ``"cuda"`` where present, with
the architecture's products on torch, ``blas="torch"``).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ..data import Samples
from ..strategies.regularized import snip_masks
from .torch_arch import bmm


# ---------------------------------------------------------------------------- data rows
@dataclass
class Data:
    """Rows of classification data as tensors: ``X (D, n, d)``, one-hot ``Q (D, n, p)``, labels ``Y (D, n)``
    and point weights ``W (D, n)`` normalised to sum 1 per row (zero on padding)."""

    X: torch.Tensor
    Q: torch.Tensor
    Y: torch.Tensor
    W: torch.Tensor

    @classmethod
    def of(cls, s: Samples, p: int, device="cpu") -> "Data":
        """From ``Samples`` with one leading row axis (or several, flattened)."""
        X = np.asarray(s.X, float).reshape((-1,) + s.X.shape[-2:])
        Y = np.asarray(s.Y).reshape((-1, s.X.shape[-2]))
        W = np.asarray(s.point_weights(), float).reshape(Y.shape)
        dev = torch.device(device)
        Yt = torch.as_tensor(Y, device=dev)
        return cls(torch.as_tensor(X, device=dev), torch.nn.functional.one_hot(Yt, p).to(torch.float64), Yt,
                   torch.as_tensor(W, device=dev))

    def take(self, idx) -> "Data":
        i = torch.as_tensor(np.asarray(idx), device=self.X.device)
        return Data(self.X[i], self.Q[i], self.Y[i], self.W[i])

    @property
    def rows(self) -> int:
        return self.X.shape[0]


def logits(arch, P: list, x: torch.Tensor) -> torch.Tensor:
    """``(R, n, p)`` outputs of ``R`` models (blocks ``(R, a, b)`` in the engine's layout) on ``x (R, n, d)``."""
    return arch._forward(list(P), x, True)


def objective(arch, P: list, data: Data) -> torch.Tensor:
    """Per row the weighted mean cross-entropy ``Σ_j w_j (−log softmax(f(x_j))_{y_j})`` (the engine's ``"ce"``)."""
    lsm = torch.log_softmax(logits(arch, P, data.X), dim=-1)
    return -(data.W[..., None] * lsm * data.Q).sum((-2, -1))


def value_and_grad(arch, P: list, data: Data, need_grad: bool = True):
    """Per-row objective ``(R,)`` and, when ``need_grad``, its gradient in every block (one autograd call on
    the sum: rows share no parameter, so each row's gradient is its own block)."""
    if not need_grad:
        with torch.no_grad():
            return objective(arch, P, data), None
    leaves = [p.detach().requires_grad_() for p in P]
    with torch.enable_grad():
        v = objective(arch, leaves, data)
        g = torch.autograd.grad(v.sum(), leaves)
    return v.detach(), g


# ---------------------------------------------------------------------------- one batched GD run
@dataclass
class Rows:
    """Per-row settings of :func:`train` (module docstring); every field has one entry per row."""

    data: np.ndarray
    eta: np.ndarray
    eta_lp: np.ndarray
    head_until: np.ndarray
    mu: np.ndarray
    flood: np.ndarray
    sparse: np.ndarray  # SNIP rate (0: no mask)

    @classmethod
    def block(cls, data, *, eta, eta_lp=None, head_until=0, mu=0.0, flood=0.0, sparse=0.0) -> "Rows":
        """Rows over the data rows ``data``; scalars broadcast."""
        data = np.asarray(data, int).ravel()
        n = data.size
        full = lambda v, dt=float: np.broadcast_to(np.asarray(v, dt), (n,)).copy()  # noqa: E731
        return cls(data, full(eta), full(eta if eta_lp is None else eta_lp), full(head_until, int), full(mu),
                   full(flood), full(sparse))

    @classmethod
    def cat(cls, blocks: list) -> "Rows":
        return cls(*(np.concatenate([getattr(b, f) for b in blocks]) for f in cls.__dataclass_fields__))

    def __len__(self) -> int:
        return self.data.size


@dataclass
class Run:
    """``losses (T + 1, R)``: the objective each row descends, before every step and at the end;
    ``snapshots``: step → params ``(R, a, b)`` (numpy) at the recorded steps."""

    losses: np.ndarray
    snapshots: dict = field(default_factory=dict)


def _col(v, like: torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(np.asarray(v, float), dtype=torch.float64, device=like.device).reshape(-1, 1, 1)


def train(arch, start, anchor, rows: Rows, data: Data, steps: int, record=(), row_steps=None) -> Run:
    """``steps`` steps of the per-row update (module docstring) from ``start`` (blocks ``(R, a, b)``) toward
    ``anchor`` (the same shape), on the data rows ``rows.data`` of ``data``; params recorded at ``record``.
    ``row_steps (R,)``, optional: the steps each row needs; a row stops there (its params and objective stay
    as they are): the grid's rows run only as far as their largest budget."""
    dev = data.X.device
    P = [torch.as_tensor(np.asarray(p, float), device=dev).clone() for p in start]
    A = [torch.as_tensor(np.asarray(a, float), device=dev) for a in anchor]
    D = data.take(rows.data)
    eta, eta_lp, mu = _col(rows.eta, P[0]), _col(rows.eta_lp, P[0]), _col(rows.mu, P[0])
    until = torch.as_tensor(rows.head_until, device=dev)
    flood = torch.as_tensor(rows.flood, dtype=torch.float64, device=dev)
    has_mu, has_flood = bool(np.any(rows.mu)), bool(np.any(rows.flood))
    masks = None
    record = set(record)
    losses, snaps = [], {}
    nb = len(P)
    need = np.full(len(rows), steps) if row_steps is None else np.minimum(np.asarray(row_steps, int), steps)
    order = np.argsort(-need, kind="stable")  # rows by the steps they need, most first: the active rows a prefix
    inv = np.argsort(order)
    perm = torch.as_tensor(order, device=dev)
    P, A = [p[perm] for p in P], [a[perm] for a in A]
    D = Data(D.X[perm], D.Q[perm], D.Y[perm], D.W[perm])
    eta, eta_lp, mu, until, flood = eta[perm], eta_lp[perm], mu[perm], until[perm], flood[perm]
    sparse = rows.sparse[order]
    need = need[order]
    last = None
    for t in range(steps + 1):
        if t in record:
            snaps[t] = tuple(p.detach().cpu().numpy()[inv].copy() for p in P)
        n = int(np.sum(need >= t)) if t > 0 else len(need)  # rows still running at this step (their loss at t)
        sl = slice(0, n)
        Ps, As, Ds = [p[sl] for p in P], [a[sl] for a in A], Data(D.X[sl], D.Q[sl], D.Y[sl], D.W[sl])
        upd = t < steps and n > 0 and bool(np.any(need[:n] > t))
        value, grads = value_and_grad(arch, Ps, Ds, need_grad=upd)
        pen = 0.5 * mu[sl].view(-1) * sum(((p - a) ** 2).sum((-2, -1)) for p, a in zip(Ps, As)) if has_mu else 0.0
        cur = (value + pen).cpu().numpy()
        row = cur if last is None else np.concatenate([cur, last[n:]])
        losses.append(row[inv])
        last = row
        if not upd:
            if t == steps or n == 0:
                break
            continue
        if t == 0 and np.any(sparse):
            masks = _sparse_masks(grads, Ps, sparse)
        frozen = (t < until[sl]).to(torch.float64).view(-1, 1, 1)
        lr = eta_lp[sl] * frozen + eta[sl] * (1.0 - frozen)
        sign = torch.where(value < flood[sl], -1.0, 1.0).view(-1, 1, 1) if has_flood else None
        go = torch.as_tensor(need[:n] > t, device=dev).to(torch.float64).view(-1, 1, 1)  # rows at their last step stop
        for b, (p, g, a) in enumerate(zip(Ps, grads, As)):
            if sign is not None:
                g = sign * g
            if masks is not None:
                g = g * masks[b][sl]
            if b < nb - 1:
                g = g * (1.0 - frozen)
            step = lr * (g + mu[sl] * (p - a)) / (1.0 + lr * mu[sl]) if has_mu else lr * g
            P[b] = torch.cat([p - go * step, P[b][n:]]) if n < len(need) else p - go * step
    while len(losses) < steps + 1:  # every row stopped early: the rest of the record is constant
        losses.append(losses[-1])
    return Run(np.stack(losses), snaps)


def _sparse_masks(grads, P, rates) -> list:
    """SNIP masks at the start (the gradient of step 0), per rate for the rows that have one; ones elsewhere."""
    out = [torch.ones_like(p) for p in P]
    for rate in np.unique(rates[rates > 0]):
        ix = np.flatnonzero(rates == rate)
        i = torch.as_tensor(ix, device=P[0].device)
        m = snip_masks(tuple(g[i].cpu().numpy() for g in grads), tuple(p[i].cpu().numpy() for p in P), float(rate))
        for b in range(len(P)):
            out[b][i] = torch.as_tensor(m[b], device=P[0].device)
    return out


# ---------------------------------------------------------------------------- LSS
def train_lss(arch, anchor, rows_data, data: Data, eta, steps: int, *, vertex_steps: int, div: float = 0.1,
              aff: float = 0.1, n_samples: int = 1, rng=None):
    """Local Superior Soups with one extra vertex, as :func:`lpft_theory.strategies.lss` (``n_verts=1``) for
    every row at once: vertex 0 takes ``steps`` GD steps on ``L + a‖θ − θ_G‖²``; vertex 1 starts there and
    takes ``vertex_steps`` steps on ``E_w L(w_0 θ_0 + w_1 θ_1) − δ‖θ_1 − θ_0‖² + a‖θ_1 − θ_G‖²`` (``n_samples``
    Dirichlet draws per step from ``rng``, shared by all rows, as the engine shares them by its clients).
    Returns ``(params (R, a, b) numpy, vertex-0 objective (steps + 1, R), final training loss (R,))``."""
    dev = data.X.device
    A = [torch.as_tensor(np.asarray(a, float), device=dev) for a in anchor]
    D = data.take(rows_data)
    lr = _col(eta, A[0])
    v0 = [a.clone() for a in A]
    obj = []
    for t in range(steps + 1):
        value, grads = value_and_grad(arch, v0, D, need_grad=t < steps)
        obj.append((value + aff * sum(((p - a) ** 2).sum((-2, -1)) for p, a in zip(v0, A))).cpu().numpy())
        if t < steps:
            v0 = [p - lr * (g + 2 * aff * (p - a)) for p, g, a in zip(v0, grads, A)]
    new = [p.clone() for p in v0]
    g_rng = np.random.default_rng(rng) if not isinstance(rng, np.random.Generator) else rng
    for _ in range(vertex_steps):
        grad = [torch.zeros_like(p) for p in new]
        for _ in range(n_samples):
            w = g_rng.dirichlet(np.ones(2))
            mix = [w[0] * a + w[1] * b for a, b in zip(v0, new)]
            _, gm = value_and_grad(arch, mix, D)
            grad = [acc + w[1] * gb / n_samples for acc, gb in zip(grad, gm)]
        new = [p - lr * (gr - 2 * div * (p - q) + 2 * aff * (p - a)) for p, gr, q, a in zip(new, grad, v0, A)]
    final = [(a + b) / 2 for a, b in zip(v0, new)]
    last, _ = value_and_grad(arch, final, D, need_grad=False)
    return tuple(p.cpu().numpy() for p in final), np.stack(obj), last.cpu().numpy()


# ---------------------------------------------------------------------------- FedAvg over seeds at once
def fedavg_to_plateau(arch, p0, train: Data, weights: np.ndarray, val: Data, val_weights: np.ndarray, *, eta: float,
                      local_steps: int, chunk: int, max_rounds: int, patience: int, rel_tol: float,
                      keep_round: int | None = None) -> dict:
    """FedAvg for ``S`` federations at once (seeds; ``p0`` blocks ``(S, a, b)``; data rows seed-major, ``C``
    clients each; ``weights (S, C)`` the aggregation weights, ``val_weights (S, C)`` those of the pooled
    validation loss), each run to its own validation plateau by the rule of
    :func:`lpft_theory.federated.to_plateau` (a federation stops once ``patience`` chunks in a row gave no
    relative improvement ``rel_tol``; it keeps its params at the stop). ``keep_round``: also return every
    federation's params after that many rounds. Returns params ``(S, a, b)``, rounds, curves, converged."""
    S = p0[0].shape[0]
    C = train.rows // S
    dev = train.X.device
    wt = torch.as_tensor(weights / weights.sum(1, keepdims=True), device=dev)
    wv = torch.as_tensor(val_weights / val_weights.sum(1, keepdims=True), device=dev)
    G = [torch.as_tensor(np.asarray(p, float), device=dev).clone() for p in p0]

    def score(Gs, seeds):
        rows = (seeds[:, None] * C + np.arange(C)).ravel()
        v, _ = value_and_grad(arch, [g[seeds].repeat_interleave(C, 0) for g in Gs], val.take(rows), need_grad=False)
        return (v.view(len(seeds), C) * wv[seeds]).sum(1).cpu().numpy()

    def advance(Gs, seeds, n):
        rows = (seeds[:, None] * C + np.arange(C)).ravel()
        D = train.take(rows)
        cur = [g[seeds] for g in Gs]
        for _ in range(n):
            P = [g.repeat_interleave(C, 0) for g in cur]
            for _ in range(local_steps):
                _, grads = value_and_grad(arch, P, D)
                P = [p - eta * g for p, g in zip(P, grads)]
            w = wt[seeds].reshape(-1, 1, 1)
            cur = [(w * p).view((len(seeds), C) + p.shape[1:]).sum(1) for p in P]
        out = [g.clone() for g in Gs]
        for o, c in zip(out, cur):
            o[torch.as_tensor(seeds, device=dev)] = c
        return out

    all_seeds = np.arange(S)
    best = score(G, all_seeds)
    curves = [[(0, float(b))] for b in best]
    stale, rounds = np.zeros(S, int), np.zeros(S, int)
    active = np.ones(S, bool)
    kept = None
    while active.any():
        seeds = np.flatnonzero(active)
        n = int(min(chunk, max_rounds - rounds[seeds].max()))
        r0 = int(rounds[seeds[0]])
        if keep_round is not None and kept is None and r0 < keep_round <= r0 + n:
            G = advance(G, seeds, keep_round - r0)
            kept = [g.clone() for g in G]  # every active federation is at keep_round now
            G = advance(G, seeds, r0 + n - keep_round)
        else:
            G = advance(G, seeds, n)
        rounds[seeds] += n
        sc = score(G, seeds)
        if not np.all(np.isfinite(sc)):
            raise FloatingPointError(f"validation score became non-finite after {rounds.max()} FedAvg rounds "
                                     f"(fed_eta={eta}): lower fed_eta")
        for s, v in zip(seeds, sc):
            curves[s].append((int(rounds[s]), float(v)))
            if v < best[s] - rel_tol * abs(best[s]):
                best[s], stale[s] = v, 0
            else:
                stale[s] += 1
        active = (stale < patience) & (rounds < max_rounds)
    if keep_round is not None and kept is None:  # every federation stopped before keep_round: continue a copy
        kept = advance(G, all_seeds, keep_round - int(rounds.max()))
    return {"params": tuple(g.cpu().numpy() for g in G), "rounds": rounds.tolist(), "curves": curves,
            "converged": (stale >= patience).tolist(),
            "kept": None if kept is None else tuple(g.cpu().numpy() for g in kept)}


# ---------------------------------------------------------------------------- evaluation
def evaluate(arch, params, X: torch.Tensor, chunk: int = 256):
    """Features ``(R, n, k)`` and predicted labels ``(R, n)`` of ``R`` models (numpy blocks ``(R, a, b)``) on
    ``X (R, n, d)`` (a tensor), in chunks of rows (memory)."""
    R = params[0].shape[0]
    feats, preds = [], []
    with torch.no_grad():
        for i in range(0, R, chunk):
            P = [torch.as_tensor(np.ascontiguousarray(p[i:i + chunk]), device=X.device) for p in params]
            Pd = arch._pdict(P, batched=True)
            z = arch.module.batched_hidden(Pd, X[i:i + chunk], arch.module.DEPTH, arch.blas)
            out = bmm(z, Pd["head"], arch.blas)
            feats.append(z.cpu().numpy())
            preds.append(out.argmax(-1).cpu().numpy())
    return np.concatenate(feats), np.concatenate(preds)
