"""The specialised two-layer GD step of :mod:`lpft_theory.kernels`, compiled: one pass over ``B`` per step.

Optional and off by default. :class:`TwoLayerMomentsCompiled` computes the step of
:class:`kernels.TwoLayerMoments` (two-layer linear ``f = vᵀBx``, ``p = 1``, population MSE on ``Moments`` with
``Σ`` the identity or one shared matrix, plain GD) with numba instead of numpy. Switch it on with
:func:`use_compiled` (or the :func:`compiled` context manager); ``dynamics.run`` then uses it wherever it
would use ``TwoLayerMoments``. It needs numba (``pip install lpft-theory[fast]``), imported only when the
compiled step is first requested, never at ``import lpft_theory``; the machine code is cached on disk
(``cache=True``: the compile, about a second or two, is paid once per install and CPU).

One step, per configuration, with ``β = Bᵀv`` known from the previous step and ``F = factor·η`` (factor 2,
or 1 with ``half``):

    L = c·(Σ_j β_j ((Σβ)_j − 2C_j) + s),   G = F·(Σβ − C),
    for each row i of B (contiguous over d):   g_i = B_i·G,   B_i ← B_i − v_i G,   v_i ← v_i − g_i,
                                               β_next += v_i B_i      (the new v_i and B_i)

in one sweep over the configuration's rows, so ``B`` is read from memory and written back once per step and
the next step's loss and ``G`` need no pass over it (``_step_py`` has the two orders of the row loops). With a
general shared ``Σ``, ``Σβ`` for all configurations is one numpy GEMM before the sweep. Speed
(benchmarks/engine.py, 2 shared cores, AVX-512): ~3x the numpy step; 50-58 % of the memory roofline at
d = 20, k = 8 and 71-82 % at d = 256, k = 64 (numpy: 15 % and 23-26 %).

Round-off: the element-wise operations (``G``, the update of ``B`` and of ``v``) round exactly as numpy's
(no fused multiply-add: the fastmath flag set is ``{"reassoc"}`` only, so ``NaN``/``inf`` keep their meaning
and the guards of ``dynamics.run`` still see them); the reductions — the loss, ``B_i·G`` and
``β = Bᵀv`` — are summed in another order (``reassoc`` lets LLVM vectorise them), so losses and parameters
differ from ``TwoLayerMoments`` (and the general engine) at round-off: at most ~1e-15 relative after 50
steps in tests/test_kernels_compiled.py (the loss relative to ``|L| + |s|``: it cancels terms of the size of
``s``). Results of the package are bit for bit unchanged while the switch is off.
"""
from __future__ import annotations

import contextlib

import numpy as np

from .data import Moments
from .kernels import _batch, _flat, _own
from .models import DeepLinear

INSTALL_HINT = "pip install lpft-theory[fast]"
FASTMATH = frozenset({"reassoc"})
QUAD_D = (12, 64)  # the d for which rows are swept in groups of four (_step_py): the faster order there

_STEP = None  # the compiled step, built on first use
# The switch lives here, not in dynamics: dynamics imports this module (cheap: numba is imported only when the
# step is built), and this module never imports dynamics, so there is no import circle between the two.
_SWITCH = {"on": False}


def available() -> bool:
    """Is numba importable (without importing it)?"""
    import importlib.util

    return importlib.util.find_spec("numba") is not None


def _require_numba():
    try:
        import numba
    except ImportError as exc:
        raise ImportError(f"the compiled two-layer step needs numba: {INSTALL_HINT} (or pip install numba)") from exc
    return numba


def _step_py(B, V, beta, SB, C, s, flr, half, update, val):
    """The step for configurations ``n = 0..N−1``: loss at ``θ_t`` into ``val``; with ``update``, ``θ_{t+1}``
    in place and ``β ← B_{t+1}ᵀ v_{t+1}``. ``SB`` is ``Σβ`` (``beta`` itself when ``Σ = I``). Compiled by
    :func:`_compiled`; plain Python here so that numba is imported only when needed.

    Two orders of the same arithmetic (``β`` summed in another order), each the faster where it is used
    (measured from memory at d = 5-256, k = 5-64; AVX-512, where LLVM vectorises a simple loop over ``d``
    8 wide and 4 times unrolled, so such loops shorter than 32 run scalar):

    * ``QUAD_D[0] <= d <= QUAD_D[1]``: all ``g_i = B_i·G`` first (row by row; the rows then sit in L1), then
      the rows in groups of four, one loop over ``d`` per group updating four rows and adding their four
      terms to ``β`` (a quarter of the passes over ``β``; the longer loop body is unrolled less);
    * otherwise: row by row, the update of row ``i`` and ``B_{i+1}·G`` in one loop over ``d`` (the next
      row's first read overlaps this row's update).
    """
    N, k, d = B.shape
    G = np.empty(d)
    vo = np.empty(k)
    quads = QUAD_D[0] <= d <= QUAD_D[1]
    for n in range(N):
        b, sb, c = beta[n], SB[n], C[n]
        f = flr[n]
        acc = 0.0
        for j in range(d):  # the loss at θ_t, and G (read before β is overwritten: with Σ = I, sb is β)
            t = sb[j]
            acc += b[j] * (t - 2.0 * c[j])
            G[j] = f * (t - c[j])
        acc += s[n]
        val[n] = 0.5 * acc if half else acc
        if not update:
            continue
        Bn, v = B[n], V[n]
        for j in range(d):
            b[j] = 0.0
        if quads:
            for i in range(k):
                row = Bn[i]
                g = 0.0
                for j in range(d):
                    g += row[j] * G[j]
                vo[i] = v[i]
                v[i] = vo[i] - g
            i = 0
            while i + 4 <= k:
                r0, r1, r2, r3 = Bn[i], Bn[i + 1], Bn[i + 2], Bn[i + 3]
                a0, a1, a2, a3 = vo[i], vo[i + 1], vo[i + 2], vo[i + 3]
                w0, w1, w2, w3 = v[i], v[i + 1], v[i + 2], v[i + 3]
                for j in range(d):
                    gj = G[j]
                    x0 = r0[j] - a0 * gj
                    x1 = r1[j] - a1 * gj
                    x2 = r2[j] - a2 * gj
                    x3 = r3[j] - a3 * gj
                    r0[j] = x0
                    r1[j] = x1
                    r2[j] = x2
                    r3[j] = x3
                    b[j] += (w0 * x0 + w1 * x1) + (w2 * x2 + w3 * x3)
                i += 4
            while i < k:
                row = Bn[i]
                a0, w0 = vo[i], v[i]
                for j in range(d):
                    x0 = row[j] - a0 * G[j]
                    row[j] = x0
                    b[j] += w0 * x0
                i += 1
        else:
            row = Bn[0]
            g = 0.0
            for j in range(d):
                g += row[j] * G[j]
            for i in range(k):
                row = Bn[i]
                a0 = v[i]
                w0 = a0 - g
                v[i] = w0
                if i + 1 < k:  # the next row's B_{i+1}·G in the same loop
                    nxt = Bn[i + 1]
                    g = 0.0
                    for j in range(d):
                        gj = G[j]
                        x0 = row[j] - a0 * gj
                        row[j] = x0
                        b[j] += w0 * x0
                        g += nxt[j] * gj
                else:
                    for j in range(d):
                        x0 = row[j] - a0 * G[j]
                        row[j] = x0
                        b[j] += w0 * x0


def _compiled():
    """The compiled step (numba imported, and the cached machine code loaded or compiled, on first use)."""
    global _STEP
    if _STEP is None:
        numba = _require_numba()
        _STEP = numba.njit(cache=True, fastmath=set(FASTMATH), nogil=True, boundscheck=False)(_step_py)
    return _STEP


def warm_up() -> None:
    """Import numba and load (or compile) the step now, on a tiny problem: the same signature as any run."""
    B = np.zeros((1, 1, 1))
    v, b, c, s = np.zeros((1, 1)), np.zeros((1, 1)), np.zeros((1, 1)), np.zeros(1)
    _compiled()(B, v, b, b, c, s, s.copy(), False, True, np.empty(1))


def _mine(a) -> np.ndarray:
    """A writable C-ordered float64 copy (one numba signature for every run: no read-only or strided views)."""
    return np.array(a, dtype=np.float64, order="C")


class TwoLayerMomentsCompiled:
    """:class:`kernels.TwoLayerMoments` with the step compiled (module docstring): the same constructor,
    :attr:`params` (C-ordered copies at the full batch shape, updated in place) and :meth:`step`.
    ``block_bytes`` and ``update_with`` are accepted for the same call signature and not used (the compiled
    sweep needs no blocks)."""

    def __init__(self, arch: DeepLinear, params, data: Moments, lr, half: bool = False,
                 block_bytes: int = 1 << 20, update_with: str = "auto"):
        if update_with not in ("auto", "numpy", "torch"):
            raise ValueError(f"update_with must be 'auto', 'numpy' or 'torch', got {update_with!r}")
        self._step = _compiled()
        k, d = arch.widths[0], arch.d
        bs = _batch(params, data)
        self.batch, self.half = bs, bool(half)
        self.params = (_own(params[0], bs + (k, d)), _own(params[1], bs + (k, 1)))
        B, V = self.params[0].reshape(-1, k, d), self.params[1].reshape(-1, k)  # views
        N = B.shape[0]
        self.N, self.B, self.V = N, B, V
        factor = 1.0 if half else 2.0  # as in TwoLayerMoments: (factor·η) is exact
        if isinstance(lr, (float, int)) or np.ndim(lr) == 0:
            flr = np.full(N, factor * float(lr))
        else:
            lr = np.asarray(lr, dtype=np.float64)
            flr = _mine(_flat((factor * lr).reshape(lr.shape + (1,) * (len(bs) - lr.ndim)), bs, ()))
        self.flr = flr
        self.C = _mine(_flat(data.C, bs, (d, 1)).reshape(N, d))
        self.s = np.full(N, float(data.s)) if np.ndim(data.s) == 0 else _mine(_flat(data.s, bs, ()))
        self.Sigma = None if data.identity else data.Sigma
        # β_0 as TwoLayerMoments computes it; later ones come out of the sweep
        self.beta = np.ascontiguousarray(np.matmul(np.swapaxes(B, -1, -2), V[..., None])[..., 0])
        self.SB = self.beta if self.Sigma is None else np.empty_like(self.beta)

    def step(self, update: bool = True) -> np.ndarray:
        """The loss at the current ``θ`` and, with ``update``, one GD step in place."""
        if self.Sigma is not None:  # Σβ for all configurations: one GEMM
            np.matmul(self.beta, self.Sigma.T, out=self.SB)
        val = np.empty(self.N)
        self._step(self.B, self.V, self.beta, self.SB, self.C, self.s, self.flr, self.half, bool(update), val)
        return val.reshape(self.batch)


def enabled() -> bool:
    """Is the compiled step switched on (``dynamics.run`` reads this; ``dynamics.COMPILED`` is the same switch)?"""
    return _SWITCH["on"]


def set_enabled(flag: bool) -> None:
    """Set the switch without loading the step (a missing numba then fails at the first run that needs it)."""
    _SWITCH["on"] = bool(flag)


def use_compiled(flag: bool = True) -> None:
    """Make ``dynamics.run`` use :class:`TwoLayerMomentsCompiled` where ``kernels.applies`` (``True``) or the
    numpy step (``False``, the default). Switching on imports numba and loads (or compiles) the step, so a missing
    numba raises :class:`ImportError` here, naming ``pip install lpft-theory[fast]``."""
    if flag:
        warm_up()
    set_enabled(flag)


@contextlib.contextmanager
def compiled(flag: bool = True):
    """``with compiled(): ...`` — :func:`use_compiled` for the block, the previous setting restored after."""
    before = enabled()
    use_compiled(flag)
    try:
        yield
    finally:
        set_enabled(before)


__all__ = ["TwoLayerMomentsCompiled", "use_compiled", "compiled", "enabled", "set_enabled", "available", "warm_up",
           "INSTALL_HINT"]
