"""Figure 2 — Theorem 3.1's lower bound against FT's OOD error, as a function of the target's norm ‖w*‖.

On these instances the bound holds at ‖w*‖ = 1 and fails on a window of larger norms when the head starts
near the target (other admissible instances break it at ‖w*‖ < 1 too: the adversary of ``kumar-thm-3.1-*``) (``v_0 = 0.95 v*`` or ``1.05 v*``, k = 1, d = 8, n = 3, ε = 0, where the bounds with
−ε and −ε² coincide): the instances of :func:`paper_checks.kumar2022.theorem_3_1`, on a finer grid of ‖w*‖.
(a) one such instance: ``min_t √L_ood`` along FT's gradient flow and the bound; (b) their ratio on every
instance (below 1: violated), with the random-head instances of the earlier version of this figure (k = 2,
d = 16, n = 6, ε = 0.05, the bound as printed, with −ε²) and the closed-form instance at t = 0 of
:func:`paper_checks.kumar2022.t0_counterexample`, whose ratio falls below 1 for every ‖w*‖ > 1 + √2.
``runs`` keeps the ‖w*‖ = 1 trajectories (FT and LP-FT) that the regression tests read.
"""
import numpy as np

import synthetic
from lpft_theory import gradient_flow, two_layer
from lpft_theory.strategies import lp
from lpft_theory.theory import kumar as K
from paper_checks.kumar2022 import FLOW_TIMES, _near_target, _scaled, t0_counterexample

from ._style import PALETTE, figure, method_style

NAME = "kumar_bound"
TITLE = (r"Theorem 3.1 against $\|w^*\|$ on these instances: FT's $\mathrm{min}_t\sqrt{L_{ood}}$ falls below the bound "
         r"on a window of larger $\|w^*\|$ (head started near the target; other admissible instances break it at $\|w^*\| < 1$ too)")
HEADS = (0.95, 1.05)  # v_0 = s v*: the bound is tightest there


def _min_root(t, data) -> float:
    """``min_t √L_ood`` along FT's gradient flow from ``(B_0, v_0)`` (the check's solver and times)."""
    d, k = t["B_0"].shape[1], t["B_0"].shape[0]
    tr = gradient_flow(two_layer(d, k), (t["B_0"], t["v_0"][:, None]), data, FLOW_TIMES, rtol=1e-9, atol=1e-11,
                       method="LSODA")
    return min(float(np.sqrt(K.ood_loss(v[:, 0], B, t["w_star"]))) for B, v in tr.snapshots)


def _bound(t, eps, power) -> float:
    return float(K.theorem_3_1_bound(t["B_0"], t["S_perp"], t["v_0"], t["v_star"], t["w_star"], eps, power))


def norm_sweep(quick: bool, seed: int) -> dict:
    """``min_t √L_ood`` and the bound on a grid of ‖w*‖, per instance (see the module docstring)."""
    kappas = np.geomspace(0.5, 6.0, 14 if quick else 28)
    seeds = [seed + s for s in range(2 if quick else 4)]
    near, rand = [], []
    for s in seeds:
        for head in HEADS:
            sc = synthetic.kumar(8, 1, 3, eps=0.0, sigma_v0=0.5, rng=s + 1)  # the check's family (seeds + 1)
            ts = [_near_target(sc, kap, head) for kap in kappas]
            near.append({"seed": s + 1, "head": head, "min_sqrt_Lood": [_min_root(*x) for x in ts],
                         "bound": [_bound(t, 0.0, 1) for t, _ in ts]})
        sc = synthetic.kumar(16, 2, 6, eps=0.05, sigma_v0=0.2, rng=s)  # the setting of ``runs``
        ts = [_scaled(sc, kap) for kap in kappas]
        rand.append({"seed": s, "min_sqrt_Lood": [_min_root(*x) for x in ts],
                     "bound_eps": [_bound(t, 0.05, 1) for t, _ in ts], "bound_eps2": [_bound(t, 0.05, 2) for t, _ in ts]})
    fine = np.geomspace(kappas[0], kappas[-1], 100)
    return {"w_norm": kappas.tolist(), "near_target": near, "random_head": rand,
            "t0_closed_form": {"w_norm": fine.tolist(), "delta": 0.01,
                               "ratio": [t0_counterexample(float(k), 0.01)["ratio"] for k in fine],
                               "crosses_1_at": 1 + np.sqrt(2)}}


def compute(quick=True, seed=0):
    times = np.linspace(0, 20, 41)
    runs = []
    for s in range(2 if quick else 4):
        sc = synthetic.kumar(16, 2, 6, eps=0.05, sigma_v0=0.2, rng=seed + s)
        t, arch = sc.truth, two_layer(16, 2)
        p0 = (t["B_0"], t["v_0"][:, None])
        ft = gradient_flow(arch, p0, sc.train[0], times)
        probed = tuple(p[0] for p in lp()(arch, p0, sc.train[0]).params)
        lpft = gradient_flow(arch, probed, sc.train[0], times)
        root = lambda tr: [float(np.sqrt(K.ood_loss(v[:, 0], B, t["w_star"]))) for B, v in tr.snapshots]  # noqa: E731
        runs.append({"seed": seed + s, "FT": root(ft), "LP-FT": root(lpft),
                     "bound_eps": K.theorem_3_1_bound(t["B_0"], t["S_perp"], t["v_0"], t["v_star"], t["w_star"], 0.05, 1),
                     "bound_eps2": K.theorem_3_1_bound(t["B_0"], t["S_perp"], t["v_0"], t["v_star"], t["w_star"], 0.05, 2)})
    return {"config": {"setting": "Kumar toy d=16, k=2, n=6, eps=0.05, sigma_v0=0.2, gradient flow",
                       "norm_sweep": "head near the target: k=1 d=8 n=3 eps=0 sigma_v0=0.5, v_0 = s v*, s in "
                                     f"{list(HEADS)}; gradient flow (LSODA, rtol 1e-9) to t = {FLOW_TIMES[-1]:g}"},
            "times": times.tolist(), "runs": runs, "norm_sweep": norm_sweep(quick, seed)}


def _shade_violations(ax, x, violated, label=None):
    """Grey spans over the grid cells (geometric midpoints) where ``violated``."""
    edges = np.sqrt(x[1:] * x[:-1])
    edges = np.concatenate([[x[0]], edges, [x[-1]]])
    for i in np.flatnonzero(violated):
        ax.axvspan(edges[i], edges[i + 1], color="0.85", lw=0, zorder=0, label=label)
        label = None


def plot(data):
    fig, (a, b) = figure(2, height=3.0)  # 0.45 in for the legend below
    sw = data["norm_sweep"]
    x = np.array(sw["w_norm"])
    ft = method_style("FT")
    one = sw["near_target"][0]
    q, bd = np.array(one["min_sqrt_Lood"]), np.array(one["bound"])
    _shade_violations(a, x, q < bd - 1e-9, label="bound violated")
    a.plot(x, q, color=ft["color"], marker="o", ms=2.5, lw=1.2, label=r"FT: $\mathrm{min}_t\sqrt{L_{ood}(t)}$")
    a.plot(x, bd, color="k", ls="--", lw=1, label=r"bound ($\epsilon=0$: $-\epsilon$ and $-\epsilon^2$ agree)")
    a.axvline(1.0, color="0.4", lw=0.6, ls=":")
    a.legend(loc="upper left", fontsize=5.5)
    a.set(xscale="log", yscale="log", xlabel=r"$\|w^*\|$ (dotted: $\|w^*\|=1$)", ylabel=r"$\sqrt{L_{ood}}$",
          title=rf"(a) one instance: $k=1$, seed {one['seed']}, $v_0={one['head']:g}\,v^*$")
    b.axhspan(1e-3, 1.0, color="0.85", lw=0, zorder=0)
    b.text(0.03, 0.04, "below 1: bound violated", transform=b.transAxes, fontsize=5.5)
    for i, r in enumerate(sw["near_target"]):
        b.plot(x, np.array(r["min_sqrt_Lood"]) / np.array(r["bound"]), color=ft["color"], lw=0.9, alpha=0.85,
               marker="o" if r["head"] < 1 else "s", ms=2, mfc=ft["color"] if r["head"] < 1 else "white",
               label=rf"head near target, $v_0={r['head']:g}\,v^*$" if i < len(HEADS) else None)
    for i, r in enumerate(sw["random_head"]):
        bound = np.array(r["bound_eps2"])
        ratio = np.where(bound > 0, np.array(r["min_sqrt_Lood"]) / np.where(bound > 0, bound, 1), np.nan)
        b.plot(x, ratio, color=PALETTE[2], lw=0.9, marker="^", ms=2,
               label=r"random head, $k=2$, $\epsilon=0.05$ ($-\epsilon^2$)" if i == 0 else None)
    t0 = sw["t0_closed_form"]
    b.plot(t0["w_norm"], t0["ratio"], color="0.3", ls="-.", lw=0.9,
           label=r"closed form at $t=0$ ($B_0=B^*\perp$ ID data): $<1$ beyond $1+\sqrt{2}$")
    b.axhline(1.0, color="k", lw=0.6)
    b.axvline(1.0, color="0.4", lw=0.6, ls=":")
    top = np.nanmax([np.nanmax(np.array(r["min_sqrt_Lood"]) / np.array(r["bound"])) for r in sw["near_target"]])
    b.set(xscale="log", yscale="log", ylim=(0.3, max(30.0, 1.5 * top)), xlabel=r"$\|w^*\|$ (dotted: $\|w^*\|=1$)",
          ylabel=r"$\mathrm{min}_t\sqrt{L_{ood}}$ / bound", title="(b) every instance: the ratio")
    for ax in (a, b):  # plain numbers on the log axis: ticks at the grid's round values
        ax.set_xticks([0.5, 1, 2, 3, 6], ["0.5", "1", "2", "3", "6"])
        ax.set_xticks([], minor=True)
    fig.legend(*b.get_legend_handles_labels(), ncol=2, fontsize=5.5, loc="outside lower center", handlelength=2.5,
               title="(b): FT from each instance's start; grey: ratio < 1, the bound is violated", title_fontsize=6)
    return fig
