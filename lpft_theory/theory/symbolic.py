r"""Symbolic derivations (sympy) of Chen et al.'s Lemma 4.3 and Theorems 4.4–4.5.

Each derivation starts from the assumptions — the population loss written out entry by entry, one GD
step taken with ``sympy.diff`` — and ends in the closed forms that :mod:`lpft_theory.theory.chen`
evaluates numerically; the tests check that the two agree. Rotational invariance in input space lets
us take ``B* = [I_k | 0]`` without loss of generality (the loss depends on x only through ``E[xxᵀ]``,
which transforms covariantly), and ``d = k`` suffices because directions outside ``rowspace(B*)`` get
no gradient when ``Σ_i`` maps ``rowspace(B*)`` to itself (true for Σ = I and for private shifts).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import sympy as sp

eta, lam, c, eps, sigma = sp.symbols("eta lambda c epsilon sigma", positive=True)
omega, alpha = sp.symbols("omega alpha", nonnegative=True)
C = sp.Symbol("C", positive=True, integer=True)  # number of clients
v = sp.symbols("v", positive=True)  # ‖V_com‖²


@dataclass(frozen=True)
class Derivation:
    """A derived result: the expressions, and the condition under which LP-FT has the lower global loss."""

    name: str
    expressions: dict
    condition: sp.Expr

    def latex(self) -> str:
        lines = [rf"{sp.latex(sp.Symbol(k))} &= {sp.latex(e)}" for k, e in self.expressions.items()]
        lines.append(rf"\text{{LP-FT wins}} &\iff {sp.latex(self.condition)}")
        return "\\begin{aligned}\n" + " \\\\\n".join(lines) + "\n\\end{aligned}"


def _one_gd_step(m: int, n_clients: int, i: int, Sigma: sp.Matrix):
    """Population loss ``(BᵀV − w_i*)ᵀΣ(BᵀV − w_i*)`` (times c/2), one GD step from ``(B*, V_0)``."""
    k = m + n_clients
    Vc = sp.Matrix(sp.symbols(f"V1:{m + 1}", real=True))
    B = sp.Matrix(k, k, lambda r, q: sp.Symbol(f"B_{r}{q}", real=True))
    V = sp.Matrix(sp.symbols(f"u1:{k + 1}", real=True))
    B_star = sp.eye(k)
    V0 = Vc.col_join(sp.zeros(n_clients, 1))
    e_i = sp.zeros(n_clients, 1)
    e_i[i] = 1
    Vi = Vc.col_join(lam * e_i)
    r = B.T * V - B_star.T * Vi
    L = (c / 2) * (r.T * Sigma * r)[0, 0]  # c = 2: no-½ convention, c = 1: ½ convention
    at0 = {**{B[a, b]: B_star[a, b] for a in range(k) for b in range(k)}, **{V[a]: V0[a] for a in range(k)}}
    gB = sp.Matrix(k, k, lambda a, b: sp.diff(L, B[a, b]).subs(at0))
    gV = sp.Matrix([sp.diff(L, V[a]).subs(at0) for a in range(k)])
    B1 = sp.simplify(B_star - eta * gB)
    V1 = sp.simplify(V0 - eta * gV)
    return B1, V1, V0, Vc, B_star


@lru_cache(maxsize=None)
def lemma_4_3(m: int = 2, n_clients: int = 2, i: int = 0) -> Derivation:
    """One FT step under concept shift (Σ = I): ``B_FT − B* = ηcλ V_0 e_{m+i}ᵀ`` and ``w_FT = w_0 + aλ b_i``."""
    k = m + n_clients
    B1, V1, V0, Vc, B_star = _one_gd_step(m, n_clients, i, sp.eye(k))
    delta = sp.simplify(B1 - B_star)
    expected = eta * c * lam * V0 * sp.eye(k)[m + i, :]
    w1 = sp.expand(B1.T * V1)
    a = sp.simplify(w1[m + i] / lam)
    vv = sum(x ** 2 for x in Vc)
    return Derivation("Lemma 4.3", {"Delta_B": delta, "residual": sp.simplify(delta - expected),
                                    "a": sp.factor(a.subs(vv, v)), "a_in_V": a},
                      sp.simplify(a.subs(vv, v)) > 1)


@lru_cache(maxsize=None)
def theorem_4_4() -> Derivation:
    """Concept shift in the 2×2 reduction: global losses of FT and LP-FT (exact and partial LP).

    ``gap_in_a``: ``(G_FT − G_LPFT)/λ²`` (others) in ``a = ηc(1+v)``; ``gap_mixture_in_a``: ``C(M_FT −
    M_LPFT)/λ²`` for the mixture of all ``C`` clients.
    """
    Nz = lambda N, z: N.T * z  # noqa: E731
    t = sp.Matrix([sp.sqrt(v), lam])

    def step(N, z):
        r = Nz(N, z) - t
        return N - eta * c * z * r.T, z - eta * c * N * r

    z0 = sp.Matrix([sp.sqrt(v), 0])
    u_ft = Nz(*step(sp.eye(2), z0))
    z_lp = z0 + alpha * (t - z0)
    u_lpft = Nz(*step(sp.eye(2), z_lp))

    def glob(u):  # client j != i: ‖u − (√v, 0)‖² − 2λω u_2 + λ²
        return sp.expand((u[0] - sp.sqrt(v)) ** 2 + u[1] ** 2 - 2 * lam * omega * u[1] + lam ** 2)

    def mix(u):  # mixture of all C clients: (local + (C − 1)·others)/C
        local = sp.expand((u[0] - sp.sqrt(v)) ** 2 + (u[1] - lam) ** 2)
        return (local + (C - 1) * glob(u)) / C

    g_ft, g_lpft = glob(u_ft), glob(u_lpft)
    gap_exact = sp.factor(sp.simplify(g_ft - g_lpft.subs(alpha, 1)))
    a = sp.Symbol("a", positive=True)
    cond = sp.factor(sp.simplify(gap_exact.subs(eta, a / (c * (1 + v))) / lam ** 2))
    gap_mix = sp.simplify(mix(u_ft) - mix(u_lpft).subs(alpha, 1))
    cond_mix = sp.factor(sp.simplify(gap_mix.subs(eta, a / (c * (1 + v))) * C / lam ** 2))
    return Derivation("Theorem 4.4", {"u_FT_2": sp.factor(u_ft[1]), "u_FT_1": sp.simplify(u_ft[0]),
                                      "A_alpha": sp.expand(u_lpft[1]), "G_FT": sp.factor(g_ft),
                                      "G_LPFT_exact": sp.factor(g_lpft.subs(alpha, 1)),
                                      "gap_exact": gap_exact, "gap_in_a": cond, "gap_mixture_in_a": cond_mix},
                      cond > 0)


@lru_cache(maxsize=None)
def theorem_4_5_private(n_clients: int = 2) -> Derivation:
    """Combined shift with private shifts ``e_i = σ b_i``: full symbolic one-step FT, exact-LP LP-FT.

    Derived on ``m = 1`` shared feature; the result depends on ``V_com`` only through ``v``.
    """
    m, i, j = 1, 0, 1
    k = m + n_clients
    b = [sp.eye(k)[:, m + q] for q in range(n_clients)]
    Sig = [sigma ** 2 * b[q] * b[q].T + eps ** 2 * sp.eye(k) for q in range(n_clients)]
    B1, V1, V0, Vc, B_star = _one_gd_step(m, n_clients, i, Sig[i])
    w1 = B1.T * V1
    w0 = B_star.T * V0
    wj = w0 + lam * b[j]
    wi = w0 + lam * b[i]
    g_ft = sp.expand(((w1 - wj).T * Sig[j] * (w1 - wj))[0, 0])
    g_lpft = sp.expand(((wi - wj).T * Sig[j] * (wi - wj))[0, 0])
    vv = Vc[0] ** 2
    gap = sp.factor(sp.simplify((g_ft - g_lpft).subs(vv, v)))
    ap = sp.Symbol("aprime", positive=True)
    in_ap = sp.factor(sp.simplify(gap.subs(eta, ap / (c * (sigma ** 2 + eps ** 2) * (1 + v)))))
    return Derivation("Theorem 4.5 (private shifts)", {"G_FT": sp.factor(g_ft.subs(vv, v)),
                                                      "G_LPFT": sp.factor(g_lpft), "gap": gap, "gap_in_aprime": in_ap},
                      in_ap >= 0)
