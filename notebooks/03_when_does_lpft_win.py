# %% [markdown]
# # 3 · When does LP-FT win?
#
# **Learning goals.**
# 1. State the exact condition under which LP-FT has a lower global loss than FT under concept shift
#    (Chen et al.'s Theorem 4.4), and see it fail on the other side.
# 2. Turn Theorem 4.5's "there exists λ*" into a number, and answer the reviewers' question: what happens for
#    λ > λ*?
# 3. See how partial feature overlap moves the boundary, and why the two readings of "global" differ.
# 4. Compare FT and LP-FT at matched local loss: the exact Pareto frontier, and what survives on it.
#
# Each section ends with the package's figure for it: the phase diagram, λ* and λ**, the overlap map and the
# local/global frontier.
#
# **Recap.** One FT step moves the predictor by `aλ` along the client's private feature with
# `a = ηc(1 + ‖V_com‖²)`; exact LP moves it by exactly `λ` (the client's optimum) and then FT has nothing
# left to do. Other clients pay `λ²(1 + a²)` after FT and `2λ²` after LP-FT.

# %%
import numpy as np
import pandas as pd

import synthetic
from figures import lambda_star as lambda_star_figure
from figures import overlap as overlap_figure
from figures import pareto_frontier, phase_diagram
from lpft_theory import two_layer, two_layer_params
from lpft_theory.metrics import cross_matrix, summarize
from lpft_theory.strategies import ft, lp_ft
from lpft_theory.theory import chen
# show the plots inline in Jupyter (the figures package selects a file-only backend when it is imported):
# %matplotlib inline

scen = synthetic.concept_shift(d=20, m=3, n_clients=5, lam=1.0, rng=0)
v = float(scen.truth["V_com"] @ scen.truth["V_com"])
eta_star = 1 / (2 * (1 + v))
print(f"‖V_com‖² = {v:.3f};  LP-FT wins iff η > η* = {eta_star:.3f}  (no-½ loss, c = 2)")

arch = two_layer(20, 8)
pG = two_layer_params(*synthetic.idealised_init(scen))


def globals_at(eta):
    f = summarize(cross_matrix(arch, ft(eta, 1)(arch, pG, scen.population).params, scen.population))["global"]
    g = summarize(cross_matrix(arch, lp_ft(eta, 1)(arch, pG, scen.population).params, scen.population))["global"]
    return f, g


steps = {}
for label, eta in (("η*/2", 0.5 * eta_star), ("1.5 η*", 1.5 * eta_star)):
    f, g = globals_at(eta)
    steps[label] = {"η": eta, "FT global": f, "LP-FT global": g, "lower global loss": "LP-FT" if g < f else "FT"}
print(pd.DataFrame(steps).T.to_string(formatters={k: "{:.3f}".format for k in ("η", "FT global", "LP-FT global")}))

# %% [markdown]
# Below `η*` FT wins: a small FT step personalizes *less* than exact LP, and under concept shift with
# identity covariance the global loss depends only on how far the predictor moved toward the private
# feature. The theorem is true exactly when FT overshoots.
#
# The phase diagram (figure `phase_diagram`) shows the sign of `G_FT − G_LP-FT` over (η, λ): **(a)** with exact LP
# the boundary is the vertical line `a = 1`, whatever λ; **(b)** with one LP step instead the boundary bends
# with λ (exercise 1). Triangles are simulations.

# %%
fig = phase_diagram.plot(phase_diagram.compute(quick=True, seed=0))

# %% [markdown]
#
# ## Theorem 4.5: λ* as a computable number
# With covariate shift as well (`x_i = e_i + εz`), the global-loss gap divided by λ² is an exact quadratic
# `q_0 + q_1λ + q_2λ²` with `q_2 >= 0`. `combined_gap_coeffs` recovers it; `lambda_star` reads off λ* and
# the second root λ** (the same instance the package's tests use).

# %%
case = synthetic.combined_shift(10, 2, 3, 1.0, eps=0.9203176528252481, shift=2.4671901725557777,
                                geometry="random", rng=888118)
t = case.truth
q = chen.combined_gap_coeffs(t["B_star"], t["V_com"], t["shifts"], 0.9203176528252481, 0.31375537916572976)
roots = chen.lambda_star(q)
print("q = (" + ", ".join(f"{x:.5f}" for x in q) + ")")
print(f"λ* = {roots['lambda_star']:.3f},  λ** = {roots['lambda_star2']:.3f},  "
      f"LP-FT wins for small λ: {bool(roots['holds_small_lambda'])}")

# %% [markdown]
# **Beyond λ*.** FT wins only on the band `(λ*, λ**)`; past `λ**` LP-FT wins again, because FT's joint update of
# `B` and `V` adds a term quadratic in λ. Let us check three heterogeneity levels by simulation:

# %%
beyond = {}
lam_star, lam_star2 = roots["lambda_star"], roots["lambda_star2"]
for where, lam in (("λ*/2", 0.5 * lam_star), ("between the roots", 0.5 * (lam_star + lam_star2)),
                   ("2 λ**", 2 * lam_star2)):
    gap = chen.pft_global_gap(t["B_star"], t["V_com"], t["shifts"], 0.9203176528252481, lam, 0.31375537916572976)["gap"]
    beyond[where] = {"λ": lam, "FT − LP-FT global": gap, "lower global loss": "LP-FT" if gap > 0 else "FT"}
print(pd.DataFrame(beyond).T.to_string(formatters={"λ": "{:.2f}".format, "FT − LP-FT global": "{:+.3f}".format}))

# %% [markdown]
# Figure `lambda_star`: **(a)** the same instance over the noise level ε — FT wins only in the band between the
# solid λ* and the dashed λ** curves; **(b)** another instance whose shifts tilt from the private features
# (φ = 0) toward the shared predictor (φ = π/2): here, with private shifts LP-FT wins at every λ; once they tilt
# far enough, FT wins at small λ, below λ**.

# %%
fig = lambda_star_figure.plot(lambda_star_figure.compute(quick=True, seed=1))

# %% [markdown]
# ## Partial feature overlap
# If the private features overlap (`⟨u_i, u_j⟩ = ω`), the condition becomes `(a − 1)(a − (2ω − 1)) > 0`:
# for `ω > ½` LP-FT also wins at small steps.

# %%
winner = pd.DataFrame({f"a = {a}": ["LP-FT" if chen.theorem_4_4(v, 1.0, a / (2 * (1 + v)), 5,
                                                                  omega=omega)["lp_ft_better"] else "FT"
                                      for omega in (0.0, 0.8)] for a in (0.3, 0.9, 1.5)},
                      index=pd.Index(["ω = 0", "ω = 0.8"], name="lower global loss"))
print(winner.to_string())

# %% [markdown]
# Figure `overlap`: the whole (a, ω) plane, with both roots; triangles are simulations.

# %%
fig = overlap_figure.plot(overlap_figure.compute(quick=True, seed=0))

# %% [markdown]
# ## Both readings of "global"
# Chen et al.'s Global is the mean over the *other* clients; the mixture of all C clients includes the
# client itself. With overlap they disagree: the condition is `(a − 1)(a − r) > 0` with `r = 2ω − 1`
# (others) but `r = (2ω(C − 1) − (C − 2))/C` (mixture).

# %%
readings = pd.DataFrame({reading: {"root r": chen.condition_root(0.3, 2, reading),
                                    "lower global loss": "LP-FT" if chen.lp_ft_wins(0.2, 0.3, 2, reading) else "FT"}
                          for reading in ("others", "mixture")}).T
print("C = 2, ω = 0.3, a = 0.2")
print(readings.to_string(float_format="{:+.2f}".format))

# %% [markdown]
# ## Matched personalization: the local/global Pareto frontier
# A method that personalizes less pays less globally. To compare fairly, compare global losses at the
# *same* local loss ℓ. Under concept shift every predictor client GD can reach lies in a plane, and the
# least global loss at local loss ℓ has a closed form, `G*(ℓ) = λ² + (λ − √ℓ)²` (ω = 0).
# One FT step with `a <= 1` lies *on* it; with `a > 1` it lies `4λ²(a − 1)` above it. Exact LP lies on it
# at ℓ = 0 — at the very point FT reaches with `a = 1`.

# %%
frontier = {}
for a in (0.5, 1.0, 1.5):
    one = chen.theorem_4_4(v, 1.0, a / chen.step_curvature(v), 5)["ft"]
    frontier[f"a = {a}"] = {"FT local": one["local"], "FT global": one["global"],
                            "frontier G*(local)": float(chen.pareto_frontier(one["local"], 1.0, 5)["global"]),
                            "excess 4λ²(a − 1)⁺": chen.ft_frontier_excess(a, 1.0)}
print(pd.DataFrame(frontier).T.to_string(float_format="{:.3f}".format))

# %% [markdown]
# After several FT steps the shared predictor rotates too (`e ≠ 0`): FT leaves the frontier, LP-FT stays
# closer. At matched local loss this is the part of LP-FT's advantage that survives — small:

# %%
etas = np.linspace(0.02, 2.2, 60) / chen.step_curvature(v)
ells = np.array([0.05, 0.2])
front = chen.pareto_frontier(ells, 1.0, 5)["global"]
ft5 = chen.matched_global_exact(v, 1.0, 5, ells, 5, etas, descent_only=True)["global"]
lpft5 = chen.matched_global_exact(v, 1.0, 5, ells, 5, etas, lp_alpha=0.25, descent_only=True)["global"]
above = pd.DataFrame({"FT": ft5 - front, "LP-FT (LP a quarter of the way)": lpft5 - front},
                     index=pd.Index(ells, name="matched local loss ℓ"))
print("T = 5 descent steps: global loss above the frontier G*(ℓ)")
print(above.to_string(float_format="{:.2e}".format))

# %% [markdown]
# Figure `pareto_frontier`: **(a)** one FT step traced over `a` (colours: `a ≤ 1` on the frontier, overshoot,
# rising local loss) against the frontier; LP-FT's star sits where FT with `a = 1` does. **(b)** after T descent
# steps with the best η (and LP length), how far each method lies above the frontier at each matched local loss —
# log scale: the gaps are small.

# %%
fig = pareto_frontier.plot(pareto_frontier.compute(quick=True, seed=0))

# %% [markdown]
# ## Exercises
# 1. Use `chen.theorem_4_4(..., lp="step")` (one LP step instead of exact LP). Is the boundary still `a = 1`?
# 2. For private shifts (`geometry="private"`) the verdict does not depend on λ. Verify with
#    `chen.private_geometry_threshold` and two values of λ.
# 3. Find an η for the case above at which no λ* > 0 exists (`holds_small_lambda` is False).

# %%
# Your answers here.

# %% [markdown] tags=["solution"]
# ## Solutions

# %% tags=["solution"]
# 1. No: with one LP step the LP-FT predictor is A(α) with α = ηc, and the boundary moves with λ.
grid = np.linspace(0.01, 1.0, 400)
for lam in (0.5, 2.5):
    wins = np.array([chen.theorem_4_4(v, lam, e, 5, lp="step")["lp_ft_better"] for e in grid])
    print(f"1. λ = {lam}: the winner flips at η ≈", ", ".join(f"{grid[i]:.3f}" for i in np.flatnonzero(np.diff(wins))))
# 2. The gap is ε²λ²(a'−1)(a'+1): its sign does not involve λ.
p = synthetic.combined_shift(10, 2, 3, 1.0, eps=0.6, shift=1.2, geometry="private", rng=4)
vp = float(p.truth["V_com"] @ p.truth["V_com"])
gaps = [chen.pft_global_gap(p.truth["B_star"], p.truth["V_com"], p.truth["shifts"], 0.6, lam, 0.1)["gap"]
        for lam in (0.1, 5.0)]
print(f"2. a' = {chen.private_geometry_threshold(vp, 1.2, 0.6, 0.1):.3f}; "
      f"LP-FT wins at λ = 0.1, 5: {', '.join('yes' if g > 0 else 'no' for g in gaps)}")
# 3. Small steps: q_0 < 0.
small = chen.lambda_star(chen.combined_gap_coeffs(t["B_star"], t["V_com"], t["shifts"], 0.92, 0.05))
print(f"3. η = 0.05: LP-FT wins for small λ: {bool(small['holds_small_lambda'])} (λ* = {small['lambda_star']:g}); "
      f"it wins again only beyond λ** = {small['lambda_star2']:.1f}")
