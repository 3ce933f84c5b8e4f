"""Sympy derivations agree with the numeric closed forms; their LaTeX renders."""
import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from lpft_theory.theory import chen
from lpft_theory.theory import symbolic as S


def test_lemma_4_3_symbolic_residual_is_zero_and_a_matches():
    d = S.lemma_4_3()
    assert d.expressions["residual"] == sp.zeros(4, 4)
    assert sp.simplify(d.expressions["a"] - S.eta * S.c * (1 + S.v)) == 0


@settings(max_examples=30)
@given(v=st.floats(0.01, 5), lam=st.floats(0.01, 3), eta=st.floats(0.001, 1), omega=st.floats(0, 1),
       alpha=st.floats(0, 1), half=st.booleans())
def test_theorem_4_4_symbolic_equals_numeric(v, lam, eta, omega, alpha, half):
    d = S.theorem_4_4()
    subs = {S.v: v, S.lam: lam, S.eta: eta, S.omega: omega, S.alpha: alpha, S.c: 1 if half else 2}
    num = chen.theorem_4_4(v, lam, eta, 4, omega=omega, lp="partial", alpha=alpha)
    numx = chen.theorem_4_4(v, lam, eta, 4, omega=omega, half=half)
    A = float(d.expressions["A_alpha"].subs(subs))
    assert A == pytest.approx(chen.lp_ft_coefficient(v, lam, eta, alpha, half), rel=1e-10, abs=1e-12)
    gap = float(d.expressions["gap_exact"].subs(subs))
    f = 0.5 if half else 1.0
    assert f * gap == pytest.approx(numx["ft"]["global"] - numx["lp_ft"]["global"], rel=1e-9, abs=1e-12)
    assert num["ft"]["global"] == pytest.approx(float(d.expressions["G_FT"].subs({**subs, S.c: 2})), rel=1e-10)


def test_theorem_4_4_condition_factorises():
    a = sp.Symbol("a", positive=True)
    assert sp.expand(S.theorem_4_4().expressions["gap_in_a"] - (a - 1) * (a - 2 * S.omega + 1)) == 0


@settings(max_examples=20)
@given(v=st.floats(0.01, 3), lam=st.floats(0.05, 2), eta=st.floats(0.01, 0.5), eps=st.floats(0.1, 1.5),
       shift=st.floats(0.0, 2.0), seed=st.integers(0, 1000))
def test_theorem_4_5_private_symbolic_equals_numeric(v, lam, eta, eps, shift, seed):
    """Symbolic gap (m = 1, C = 2) vs the numeric closed form on a random instance with ‖V_com‖² = v."""
    import synthetic
    sc = synthetic.combined_shift(6, 1, 2, lam, eps=eps, shift=shift, geometry="private",
                                  V_com=np.array([np.sqrt(v)]), rng=seed)
    t = sc.truth
    cf = chen.combined_one_step(t["B_star"], t["V_com"], t["shifts"], eps, lam, eta)
    d = S.theorem_4_5_private()
    subs = {S.v: v, S.lam: lam, S.eta: eta, S.eps: eps, S.sigma: shift, S.c: 2}
    assert float(d.expressions["gap"].subs(subs)) == pytest.approx(cf["ft"][0] - cf["lp_ft"][0], rel=1e-9, abs=1e-12)
    ap = sp.Symbol("aprime", positive=True)
    assert sp.expand(d.expressions["gap_in_aprime"] - S.eps ** 2 * S.lam ** 2 * (ap - 1) * (ap + 1)) == 0


def test_latex_renders():
    for d in (S.lemma_4_3(), S.theorem_4_4(), S.theorem_4_5_private()):
        text = d.latex()
        assert text.startswith("\\begin{aligned}") and "LP-FT wins" in text


def test_theorem_4_4_mixture_condition_factorises():
    """C·(M_FT − M_LPFT)/λ² = C (a − 1)(a − r_mix), r_mix = (2ω(C−1) − (C−2))/C (chen.condition_root)."""
    a, C = sp.Symbol("a", positive=True), S.C
    expr = S.theorem_4_4().expressions["gap_mixture_in_a"]
    assert sp.expand(expr - C * (a - 1) * (a - (2 * S.omega * (C - 1) - (C - 2)) / C)) == 0
    for w, n in ((0.3, 2), (0.8, 4), (0.0, 5)):
        r = chen.condition_root(w, n, "mixture")
        assert float(expr.subs({a: r, S.omega: w, C: n})) == pytest.approx(0.0, abs=1e-12)
