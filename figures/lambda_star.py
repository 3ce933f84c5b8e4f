"""Figure 5 — Theorem 4.5: where LP-FT wins over (ε, λ) and over the shift geometry, with λ* and λ**."""
import numpy as np

import synthetic
from lpft_theory.theory import chen

from ._style import PALETTE, figure

NAME = "lambda_star"
TITLE = r"Theorem 4.5: $\lambda^*$ and the band $(\lambda^*, \lambda^{**})$ where FT has the lower global loss"

# (a): the rerunnable instance with a finite λ* used by the paper check and the tests
CASE = dict(d=10, m=2, C=3, seed=888118, eta=0.31375537916572976, shift=2.4671901725557777)


def _tilted(B, V_com, m, shift, phi):
    """Shifts e_i = shift (cos φ b_i + sin φ ŵ_0): φ = 0 private, φ = π/2 along the shared predictor."""
    w0 = B[:m].T @ V_com
    return shift * (np.cos(phi) * B[m:] + np.sin(phi) * w0 / np.linalg.norm(w0))


def _panel(B, Vc, shifts_of, xs, eps_of, eta, lams):
    rows = [chen.combined_gap_coeffs(B, Vc, shifts_of(x), eps_of(x), eta) for x in xs]
    stars = [chen.lambda_star(q) for q in rows]
    fin = lambda v: v if v is not None and np.isfinite(v) and v > 0 else None  # noqa: E731
    return {"gap": [[float(q[0] + q[1] * lam + q[2] * lam * lam) for q in rows] for lam in lams],
            "lambda_star": [fin(s["lambda_star"]) for s in stars], "lambda_star2": [fin(s["lambda_star2"]) for s in stars]}


def compute(quick=True, seed=1):
    lams = np.geomspace(0.05, 50, 60 if quick else 150)
    c = CASE
    sa = synthetic.combined_shift(c["d"], c["m"], c["C"], 1.0, shift=c["shift"], geometry="random", rng=c["seed"])
    eps_grid = np.linspace(0.2, 1.6, 30 if quick else 80)
    a = _panel(sa.truth["B_star"], sa.truth["V_com"], lambda e: sa.truth["shifts"], eps_grid, lambda e: e, c["eta"], lams)
    sb = synthetic.combined_shift(16, 3, 4, 1.0, rng=seed)
    phi_grid = np.linspace(0.0, np.pi / 2, 30 if quick else 80)
    b = _panel(sb.truth["B_star"], sb.truth["V_com"], lambda p: _tilted(sb.truth["B_star"], sb.truth["V_com"], 3, 1.5, p),
               phi_grid, lambda p: 0.5, 0.3, lams)
    return {"config": {"panel_a": {**c, "geometry": "random", "eps": "varies"},
                       "panel_b": {"d": 16, "m": 3, "C": 4, "seed": seed, "eta": 0.3, "eps": 0.5, "shift": 1.5,
                                   "geometry": "tilted: e_i = 1.5 (cos phi b_i + sin phi w0/|w0|)"}},
            "lams": lams.tolist(), "eps": eps_grid.tolist(), "phi": phi_grid.tolist(), "panel_a": a, "panel_b": b}


def plot(data):
    fig, axes = figure(2)
    lams = np.array(data["lams"])
    for ax, key, x, xlab, title in ((axes[0], "panel_a", data["eps"], r"noise $\epsilon$", "(a) random shifts"),
                                    (axes[1], "panel_b", data["phi"], r"tilt $\phi$ (0: private, $\pi/2$: shared)",
                                     r"(b) tilted shifts, $\epsilon$ = 0.5")):
        p = data[key]
        ax.pcolormesh(x, lams, np.sign(np.array(p["gap"])), cmap=__import__("matplotlib").colors.ListedColormap(
            [PALETTE[3], PALETTE[0]]), alpha=0.35, shading="auto", vmin=-1, vmax=1)
        for k, style, lab in (("lambda_star", "-", r"$\lambda^*$"), ("lambda_star2", "--", r"$\lambda^{**}$")):
            ax.plot(x, np.array([np.nan if v is None else v for v in p[k]], dtype=float), "k" + style, lw=1, label=lab)
        ax.set(yscale="log", xlabel=xlab, ylabel=r"heterogeneity $\lambda$", title=title, ylim=(lams[0], lams[-1]))
    axes[0].legend(title="blue: LP-FT wins\norange: FT wins", loc="lower right")
    return fig
