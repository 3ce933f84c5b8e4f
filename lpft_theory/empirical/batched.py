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
guard reads it).

What is not recomputed (each the same arithmetic, so the results are the same bit for bit on the machine of
benchmarks/README.md): rows whose body cannot move (LP, LP-FT's LP stage) are the head alone on features
computed once (:func:`train`); rows that share a data row share its images (``Data.base``/``src``): the CNN
builds a set's im2col patches once per run and convolves all the set's rows in one product
(``torch_arch._ConvPoolReLUShared``), the MLP's evaluation applies one first-layer product per set; LSS's
first vertex is one run for every budget (:func:`lss_first`). ``device``: where the tensors live (``"cpu"`` by default; ``"cuda"`` where present, with
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
    base: torch.Tensor | None = None  # the data rows taken from (:meth:`take`): row r's images are base[src[r]]
    src: torch.Tensor | None = None
    cache: dict = field(default_factory=dict, repr=False)  # what a model derives from ``base`` alone (patches)

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
        """Rows ``idx`` (copies); they remember where they came from (``base``, ``src``), so a model that
        reads shared image sets (``SHARED_IMAGES``, the CNN) builds its patches once per data row."""
        i = torch.as_tensor(np.asarray(idx), device=self.X.device)
        base, src = (self.X, i) if self.base is None else (self.base, self.src[i])
        return Data(self.X[i], self.Q[i], self.Y[i], self.W[i], base, src, self.cache)

    def sub(self, i) -> "Data":
        """Rows ``i`` (a slice: views; an index tensor: copies), keeping ``base``."""
        return Data(self.X[i], self.Q[i], self.Y[i], self.W[i], self.base, None if self.src is None else self.src[i],
                    self.cache)

    @property
    def rows(self) -> int:
        return self.X.shape[0]


def _shared(arch) -> bool:
    return bool(getattr(arch.module, "SHARED_IMAGES", False))


def hidden(arch, P: list, x: torch.Tensor, src=None, cache: dict | None = None) -> torch.Tensor:
    """``(R, n, k)`` features of ``R`` models (blocks ``(R, a, b)``, the head's included or not) on ``x (R, n, d)``
    or, with ``src (R,)``, on ``x[src]`` (``x`` then holds shared image sets; ``cache``: where to keep what the
    model derives from ``x`` alone, e.g. the CNN's patches)."""
    Pd = arch._pdict(list(P), batched=True)
    if src is not None and not (_shared(arch) or (getattr(arch.module, "SHARED_EVAL", False)
                                                  and not torch.is_grad_enabled())):
        x, src = x[src], None
    if src is None:
        return arch.module.batched_hidden(Pd, x, arch.module.DEPTH, arch.blas)
    if not _shared(arch):
        return arch.module.batched_hidden(Pd, x, arch.module.DEPTH, arch.blas, src=src)
    pat = None
    if cache is not None:
        key = ("patches", id(x))
        if key not in cache:
            cache[key] = (x, arch.module.patches(x))  # x kept alive with its patches: the id stays its own
        pat = cache[key][1]
    return arch.module.batched_hidden(Pd, x, arch.module.DEPTH, arch.blas, src=src, patches=pat)


def logits(arch, P: list, x: torch.Tensor, src=None, cache: dict | None = None) -> torch.Tensor:
    """``(R, n, p)`` outputs of ``R`` models (blocks ``(R, a, b)`` in the engine's layout) on ``x (R, n, d)``
    (``src``, ``cache``: as :func:`hidden`)."""
    if src is None:
        return arch._forward(list(P), x, True)
    return bmm(hidden(arch, P, x, src, cache), arch._pdict(list(P), batched=True)["head"], arch.blas)


def _ce(out: torch.Tensor, data: Data) -> torch.Tensor:
    lsm = torch.log_softmax(out, dim=-1)
    return -(data.W[..., None] * lsm * data.Q).sum((-2, -1))


def objective(arch, P: list, data: Data) -> torch.Tensor:
    """Per row the weighted mean cross-entropy ``Σ_j w_j (−log softmax(f(x_j))_{y_j})`` (the engine's ``"ce"``)."""
    if data.src is not None and _shared(arch):  # the rows' images as shared sets (patches built once)
        return _ce(logits(arch, P, data.base, data.src, data.cache), data)
    return _ce(logits(arch, P, data.X), data)


def head_value_and_grad(arch, V: torch.Tensor, F: torch.Tensor, data: Data, need_grad: bool = True):
    """:func:`value_and_grad` of rows whose body is fixed, from their features ``F (R, n, k)``: the objective
    and its gradient in the head ``V (R, k, p)`` alone (the same products as the full model's head)."""
    leaf = V.detach().requires_grad_(need_grad)
    with torch.enable_grad() if need_grad else torch.no_grad():
        v = _ce(bmm(F, leaf.reshape(F.shape[0], F.shape[-1], -1), arch.blas), data)
        if not need_grad:
            return v, None
        (g,) = torch.autograd.grad(v.sum(), [leaf])
    return v.detach(), g


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
    as they are): the grid's rows run only as far as their largest budget.

    A row whose body cannot move while ``t < head_until`` (LP, LP-FT's LP stage: the body's gradient is
    zeroed, and its proximal pull is zero because the body starts at its anchor, or ``μ = 0``; no SNIP mask)
    is the head alone there: its features at the start are computed once and each step is the head's
    product and gradient only (:func:`head_value_and_grad`) — the same arithmetic the full step does for
    the head, without the body's forward and backward."""
    need = np.full(len(rows), steps) if row_steps is None else np.minimum(np.asarray(row_steps, int), steps)
    P0 = [torch.as_tensor(np.asarray(p, float)) for p in start]
    A0 = [torch.as_tensor(np.asarray(a, float)) for a in anchor]
    head = _head_rows(P0, A0, np.asarray(rows.mu, float), np.asarray(rows.sparse), np.asarray(rows.head_until), need)
    pure = head & (np.asarray(rows.head_until) >= need)  # the head alone all along (LP)
    parts = [np.flatnonzero(c) for c in (~head, pure, head & ~pure)]
    parts = [i for i in parts if len(i)]
    if len(parts) == 1:
        return _train(arch, start, anchor, rows, data, steps, record, need, head)
    # independent rows: each kind its own loop (so the full rows' steps stay slices of one batch), merged
    losses = np.empty((steps + 1, len(rows)))
    snaps = {}
    for i in parts:
        r = _train(arch, tuple(p[i] for p in P0), tuple(a[i] for a in A0), _take_rows(rows, i), data, steps, record,
                   need[i], head[i])
        losses[:, i] = r.losses
        for t, ps in r.snapshots.items():
            if t not in snaps:
                snaps[t] = tuple(np.empty((len(rows),) + p.shape[1:]) for p in ps)
            for whole, p in zip(snaps[t], ps):
                whole[i] = p
    return Run(losses, snaps)


def _take_rows(rows: Rows, i) -> Rows:
    return Rows(*(getattr(rows, f)[i] for f in Rows.__dataclass_fields__))


def _train(arch, start, anchor, rows: Rows, data: Data, steps: int, record, need, head) -> Run:
    """:func:`train`'s loop (``need``: each row's steps; ``head``: the rows that may be the head alone)."""
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
    # rows by the steps they need, most first (the active rows a prefix), then by data row (a model that reads
    # shared image sets finds a set's rows next to each other)
    order = np.lexsort((np.asarray(rows.data), -need))
    inv = np.argsort(order)
    perm = torch.as_tensor(order, device=dev)
    P, A = [p[perm] for p in P], [a[perm] for a in A]
    D = D.sub(perm)
    eta, eta_lp, mu, until, flood = eta[perm], eta_lp[perm], mu[perm], until[perm], flood[perm]
    sparse = rows.sparse[order]
    need = need[order]
    until_np = np.asarray(rows.head_until)[order]
    mu_np = np.asarray(rows.mu, float)[order]
    head_rows = np.asarray(head)[order]
    feats = _start_features(arch, P, D, head_rows) if head_rows.any() else None
    last = None
    for t in range(steps + 1):
        if t in record:
            snaps[t] = tuple(p.detach().cpu().numpy()[inv].copy() for p in P)
        n = int(np.sum(need >= t)) if t > 0 else len(need)  # rows still running at this step (their loss at t)
        sl = slice(0, n)
        Ps, As, Ds = [p[sl] for p in P], [a[sl] for a in A], D.sub(sl)
        upd = t < steps and n > 0 and bool(np.any(need[:n] > t))
        hm = head_rows[:n] & (until_np[:n] > t)
        fi = None  # the rows whose body steps (all, unless some are the head alone)
        if hm.any():
            hi, fi = np.flatnonzero(hm), np.flatnonzero(~hm)
            value, grads = _split_value_and_grad(arch, Ps, Ds, hi, fi, feats, upd)
            fi = torch.as_tensor(fi, device=dev)
        else:
            value, grads = value_and_grad(arch, Ps, Ds, need_grad=upd)
        if has_mu and (mu_np[:n] != 0).any():  # the proximal term (zero on rows with μ = 0: skipped there)
            i = torch.as_tensor(np.flatnonzero(mu_np[:n] != 0), device=dev)
            cur = value.clone()
            cur[i] = value[i] + 0.5 * mu[i].view(-1) * sum(((p[i] - a[i]) ** 2).sum((-2, -1)) for p, a in zip(Ps, As))
            cur = cur.cpu().numpy()
        else:
            cur = value.cpu().numpy()
        row = cur if last is None else np.concatenate([cur, last[n:]])
        losses.append(row[inv])
        last = row
        if not upd:
            if t == steps or n == 0:
                break
            continue
        if t == 0 and np.any(sparse):
            masks = _sparse_masks(grads, Ps, sparse, fi)
        frozen = (t < until[sl]).to(torch.float64).view(-1, 1, 1)
        lr = eta_lp[sl] * frozen + eta[sl] * (1.0 - frozen)
        # which rows need more than θ ← θ − η g (each fix is the same arithmetic as the full formula on them)
        flags = {"neg": (value < flood[sl]).cpu().numpy() if has_flood else None,
                 "mask": sparse[:n] > 0 if masks is not None else None, "frozen": until_np[:n] > t,
                 "mu": mu_np[:n] != 0 if has_mu else None, "stop": need[:n] <= t}
        fi_np = None if fi is None else fi.cpu().numpy()
        for b, g in enumerate(grads):
            body = b < nb - 1
            sel = fi_np if (fi is not None and body) else None  # the head-alone rows' body step is exactly 0
            if sel is not None and len(sel) == 0:
                continue
            _step(P[b], A[b], g, lr, mu[sl], masks[b] if masks is not None else None, flags, body, n, sel)
    while len(losses) < steps + 1:  # every row stopped early: the rest of the record is constant
        losses.append(losses[-1])
    for t in record - set(snaps):
        if t <= steps:  # likewise the params (every row stopped before t)
            snaps[t] = tuple(p.detach().cpu().numpy()[inv].copy() for p in P)
    return Run(np.stack(losses), snaps)


def _step(P, A, g, lr, mu, mask, flags: dict, body: bool, n: int, sel=None):
    """In place, the update of one block (module docstring) on the first ``n`` rows of ``P`` (``sel``: only
    those prefix rows; ``g`` then has one row per entry): ``θ ← θ − η g`` on every row, and on the rows that
    ``flags`` names (numpy masks over the prefix) the rest of the formula — flood sign (``neg``), SNIP mask
    (``mask``), the body's freeze (``frozen``), the proximal step (``mu``), rows at their last step
    (``stop``). Each is the full formula's arithmetic on those rows (on the others it multiplies by 1 or
    adds 0), so the result is the same."""
    dev = g.device
    rows = np.arange(n) if sel is None else np.asarray(sel)

    def where(key):
        f = flags[key]
        if f is None:
            return None
        j = np.flatnonzero(f[rows])
        return None if len(j) == 0 else (torch.as_tensor(j, device=dev), torch.as_tensor(rows[j], device=dev))

    if (w := where("neg")) is not None:
        g[w[0]] = -g[w[0]]
    if mask is not None and (w := where("mask")) is not None:
        g[w[0]] = g[w[0]] * mask[w[1]]
    if body and (w := where("frozen")) is not None:
        g[w[0]] = g[w[0]] * 0.0
    lr_r = lr[:n] if sel is None else lr[torch.as_tensor(rows, device=dev)]
    d = lr_r * g
    if (w := where("mu")) is not None:
        li, pi = w
        m, e = mu[pi], lr_r[li]
        d[li] = e * (g[li] + m * (P[pi] - A[pi])) / (1.0 + e * m)
    if (w := where("stop")) is not None:
        d[w[0]] = 0.0
    if sel is None:
        P[:n].sub_(d)
    else:
        i = torch.as_tensor(rows, device=dev)
        P[i] = P[i] - d


def _head_rows(P, A, mu, sparse, until, need) -> np.ndarray:
    """Rows whose body stays exactly at its start while ``t < head_until`` (:func:`train`): a zeroed body
    gradient, no SNIP mask, and no proximal pull on the body (``μ = 0`` or the body starts at its anchor)."""
    ok = (until > 0) & (sparse == 0) & (need > 0)
    pulled = ok & (mu != 0)
    if pulled.any() and len(P) > 1:
        i = torch.as_tensor(np.flatnonzero(pulled), device=P[0].device)
        same = torch.ones(len(i), dtype=torch.bool, device=P[0].device)
        for p, a in zip(P[:-1], A[:-1]):
            same &= (p[i] == a[i]).flatten(1).all(1)
        ok[np.flatnonzero(pulled)] = same.cpu().numpy()
    return ok if len(P) > 1 else np.zeros_like(ok)


def _start_features(arch, P, D: Data, rows: np.ndarray) -> dict:
    """The features of ``rows`` at their start body (no gradient), kept in the memory layout the model's own
    forward gives them (so the head's products see the same operands); ``pos``: row → its features."""
    i = torch.as_tensor(np.flatnonzero(rows), device=P[0].device)
    Dh = D.sub(i)
    with torch.no_grad():
        z = hidden(arch, [p[i] for p in P[:-1]], *((Dh.base, Dh.src, Dh.cache) if Dh.src is not None else (Dh.X,)))
    t = z.transpose(1, 2)
    pos = np.full(len(rows), -1)
    pos[np.flatnonzero(rows)] = np.arange(len(i))
    return {"store": t if t.is_contiguous() else z.contiguous(), "transposed": t.is_contiguous(), "pos": pos}


def _split_value_and_grad(arch, Ps, Ds: Data, hi, fi, feats: dict, upd: bool):
    """:func:`value_and_grad` of the prefix rows ``Ps`` with the rows ``hi`` the head alone (their features
    in ``feats``): values ``(n,)``, the head's gradient for all ``n`` rows and the body's for the rows ``fi``."""
    dev = Ps[0].device
    n = Ps[0].shape[0]
    hi_t = torch.as_tensor(hi, device=dev)
    F = feats["store"][torch.as_tensor(feats["pos"][hi], device=dev)]
    F = F.transpose(1, 2) if feats["transposed"] else F
    vh, gh = head_value_and_grad(arch, Ps[-1][hi_t], F, Ds.sub(hi_t), need_grad=upd)
    value = Ps[0].new_empty(n)
    value[hi_t] = vh
    grads = None
    if len(fi):
        fi_t = torch.as_tensor(fi, device=dev)
        vf, gf = value_and_grad(arch, [p[fi_t] for p in Ps], Ds.sub(fi_t), need_grad=upd)
        value[fi_t] = vf
    if upd:
        head = Ps[-1].new_empty(Ps[-1].shape)
        head[hi_t] = gh.reshape((len(hi),) + head.shape[1:])
        if len(fi):
            head[fi_t] = gf[-1]
        grads = (tuple(gf[:-1]) if len(fi) else (None,) * (len(Ps) - 1)) + (head,)
    return value, grads


def _sparse_masks(grads, P, rates, fi=None) -> list:
    """SNIP masks at the start (the gradient of step 0), per rate for the rows that have one; ones elsewhere.
    ``fi``: the rows the body's gradients ``grads[:-1]`` belong to (default: all)."""
    out = [torch.ones_like(p) for p in P]
    pos = None if fi is None else {int(r): j for j, r in enumerate(fi.tolist())}
    for rate in np.unique(rates[rates > 0]):
        ix = np.flatnonzero(rates == rate)
        i = torch.as_tensor(ix, device=P[0].device)
        gi = i if pos is None else torch.as_tensor([pos[r] for r in ix], device=P[0].device)
        gs = tuple((g[gi] if b < len(P) - 1 else g[i]).cpu().numpy() for b, g in enumerate(grads))
        m = snip_masks(gs, tuple(p[i].cpu().numpy() for p in P), float(rate))
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
    D = data.take(rows_data)
    snaps, obj = lss_first(arch, anchor, D, eta, steps, record=(steps,), aff=aff)
    P, last = lss_second(arch, snaps[steps], anchor, D, eta, vertex_steps, div=div, aff=aff, n_samples=n_samples,
                         rng=rng)
    return P, obj, last


def lss_first(arch, anchor, D: Data, eta, steps: int, record=(), aff: float = 0.1):
    """LSS's first vertex (:func:`train_lss`) on the rows ``D``: ``steps`` GD steps on ``L + a‖θ − θ_G‖²``
    from the anchor. Returns ``(step → params (tensors) at the steps in record, objective (steps + 1, R))``:
    one run serves every budget whose first vertex is a prefix of it."""
    dev = D.X.device
    A = [torch.as_tensor(np.asarray(a, float), device=dev) for a in anchor]
    lr = _col(eta, A[0])
    v0 = [a.clone() for a in A]
    obj, snaps, record = [], {}, set(record)
    for t in range(steps + 1):
        if t in record:
            snaps[t] = [p.clone() for p in v0]
        value, grads = value_and_grad(arch, v0, D, need_grad=t < steps)
        obj.append((value + aff * sum(((p - a) ** 2).sum((-2, -1)) for p, a in zip(v0, A))).cpu().numpy())
        if t < steps:
            v0 = [p - lr * (g + 2 * aff * (p - a)) for p, g, a in zip(v0, grads, A)]
    return snaps, np.stack(obj)


def lss_second(arch, v0, anchor, D: Data, eta, vertex_steps: int, *, div: float = 0.1, aff: float = 0.1,
               n_samples: int = 1, rng=None):
    """LSS's second vertex from the first ``v0`` (tensors, :func:`lss_first`) and the soup of the two.
    Returns ``(params (R, a, b) numpy, final training loss (R,))``."""
    dev = D.X.device
    A = [torch.as_tensor(np.asarray(a, float), device=dev) for a in anchor]
    lr = _col(eta, A[0])
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
    return tuple(p.cpu().numpy() for p in final), last.cpu().numpy()


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
def evaluate(arch, params, X: torch.Tensor, chunk: int = 256, src=None, features: bool = True):
    """Features ``(R, n, k)`` and predicted labels ``(R, n)`` of ``R`` models (numpy blocks ``(R, a, b)``) on
    ``X (R, n, d)`` (a tensor) or, with ``src (R,)``, model ``i`` on ``X[src[i]]`` (shared image sets), in
    chunks of rows (memory). ``features=False``: ``None`` for the features."""
    R = params[0].shape[0]
    feats, preds = [], []
    with torch.no_grad():
        for i in range(0, R, chunk):
            P = [torch.as_tensor(np.ascontiguousarray(p[i:i + chunk]), device=X.device) for p in params]
            if src is None:
                z = hidden(arch, P, X[i:i + chunk])
            else:
                z = hidden(arch, P, X, torch.as_tensor(np.asarray(src[i:i + chunk]), device=X.device))
            out = bmm(z, arch._pdict(P, batched=True)["head"], arch.blas)
            if features:
                feats.append(z.cpu().numpy())
            preds.append(out.argmax(-1).cpu().numpy())
    return np.concatenate(feats) if features else None, np.concatenate(preds)
