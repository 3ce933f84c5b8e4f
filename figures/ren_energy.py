"""Ren et al. 2023 in an overparameterised linear model: feature change against the energy left by the head.

Each instance (seed) is a curve over head-probing lengths τ, at the energy ``E(τ)`` (the training loss at the
start of FT) relative to the largest, ``E(0)``; each curve is interpolated (linearly) onto one energy grid and
the figure draws, per setting, the median over seeds with its 25–75 % and 10–90 % bands. (a) ``‖z_T − z_0‖``
grows with the energy (monotone). (b) ``⟨z_T, z_0⟩`` and (c) ``‖z_T‖``, relative to their value at the lowest
energy, first rise then fall. Each seed counts where its energies reach (at least half the seeds at every point
drawn). See :mod:`paper_checks.ren2023`.
"""
import numpy as np

from paper_checks.ren2023 import ETA, SETTINGS, T_FT, TAUS, V_SCALE, curves

from ._style import PALETTE, figure

QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)
PANELS = ("euclidean", "dot", "norm")  # (b) and (c) relative to the value at the lowest energy

NAME = "ren_energy"
TITLE = r"Ren et al.: $\|z_T-z_0\|$ grows with the energy $E$; $\langle z_T,z_0\rangle$ and $\|z_T\|$ rise, then fall"


def _relative(r, m) -> np.ndarray:
    y = np.asarray(r[m], float)
    return y if m == "euclidean" else y / y[int(np.argmin(r["energy"]))]


def bands(rows: list, n_grid: int = 40) -> dict:
    """Per metric, the :data:`QUANTILES` over seeds of each seed's curve interpolated onto one grid of
    ``E(τ)/E(0)``; a seed counts at the grid points inside its own energy range (``n_seeds``), and a grid point
    is kept where at least half the seeds cover it."""
    e = [np.asarray(r["energy"], float) / max(r["energy"]) for r in rows]
    lo = min(x.min() for x in e)
    grid = np.unique(np.concatenate([np.geomspace(lo, 1, n_grid // 2), np.linspace(lo, 1, n_grid // 2)]))
    inside = np.array([(grid >= x.min() - 1e-12) & (grid <= x.max() + 1e-12) for x in e])
    keep = inside.sum(0) >= max(len(rows) / 2, 1)
    out = {"energy": grid[keep].tolist(), "n_seeds": inside.sum(0)[keep].tolist(), "quantiles": list(QUANTILES)}
    for m in PANELS:
        Y = np.array([np.where(ok, np.interp(grid, x[np.argsort(x)], _relative(r, m)[np.argsort(x)]), np.nan)
                      for x, r, ok in zip(e, rows, inside)])[:, keep]
        out[m] = np.nanquantile(Y, QUANTILES, axis=0).tolist()
    return out


def compute(quick=True, seed=0):
    c = curves(quick, seed)
    out = {}
    for name, rows in c["settings"].items():
        out[name] = [{"seed": r["seed"], **{m: [st[m] for st in r["stats"]] for m in
                                             ("energy", "euclidean", "dot", "norm")}} for r in rows]
    return {"config": {"taus": list(TAUS), "eta": ETA, "T": T_FT, "v0_scale": V_SCALE, "settings": list(SETTINGS),
                       "loss": "mean (f-y)^2 on n < d training points", "features": "z = B x on the training inputs",
                       "bands": "per setting: median and 25-75 %, 10-90 % quantiles over seeds, each seed's curve "
                                "interpolated linearly onto one energy grid, inside its own energy range; "
                                "points covered by at least half the seeds"},
            "settings": out, "bands": {name: bands(rows) for name, rows in out.items()}}


def plot(data):
    fig, axes = figure(3, height=2.65, width=7.0)  # 0.35 in for the legend below
    for i, (name, b) in enumerate(data["bands"].items()):
        e, col, n = b["energy"], PALETTE[i], len(data["settings"][name])
        for ax, m in zip(axes, PANELS):
            q10, q25, q50, q75, q90 = b[m]
            ax.fill_between(e, q10, q90, color=col, alpha=0.13, lw=0)
            ax.fill_between(e, q25, q75, color=col, alpha=0.3, lw=0)
            ax.plot(e, q50, color=col, lw=1.3, ls=("-", "--")[i % 2], label=f"{name} ({n} seeds)")
    axes[0].set(xlabel=r"energy $E(\tau)/E(0)$", ylabel=r"$\|z_T-z_0\|$", title="(a) distance: monotone")
    axes[1].set(xlabel=r"energy $E(\tau)/E(0)$", ylabel=r"$\langle z_T,z_0\rangle$ / value at lowest $E$",
                title="(b) similarity: rise, then fall")
    axes[2].set(xlabel=r"energy $E(\tau)/E(0)$", ylabel=r"$\|z_T\|$ / value at lowest $E$",
                title="(c) norm: rise, then fall")
    fig.legend(*axes[0].get_legend_handles_labels(), ncol=2, loc="outside lower center", handlelength=3,
               title="setting: median over seeds; bands: 25-75 % (dark) and 10-90 % (light) of seeds")
    return fig
