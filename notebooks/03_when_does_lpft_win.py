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
# **Recap.** One FT step moves the predictor by `aλ` along the client's private feature with
# `a = ηc(1 + ‖V_com‖²)`; exact LP moves it by exactly `λ` (the client's optimum) and then FT has nothing
# left to do. Other clients pay `λ²(1 + a²)` after FT and `2λ²` after LP-FT.

# %%
import numpy as np

import synthetic
from lpft_theory import two_layer, two_layer_params
from lpft_theory.metrics import cross_matrix, summarize
from lpft_theory.strategies import ft, lp_ft
from lpft_theory.theory import chen

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


for eta in (0.5 * eta_star, 1.5 * eta_star):
    f, g = globals_at(eta)
    print(f"η = {eta:.3f}:  FT global {f:.3f}   LP-FT global {g:.3f}   LP-FT better: {g < f}")

# %% [markdown]
# Below `η*` FT wins: a small FT step personalizes *less* than exact LP, and under concept shift with
# identity covariance the global loss depends only on how far the predictor moved toward the private
# feature. The theorem is true exactly when FT overshoots.
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
r = chen.lambda_star(q)
print("q =", np.round(q, 5), "→", r)

# %% [markdown]
# **Beyond λ*.** FT wins only on the band `(λ*, λ**)`; past `λ**` LP-FT wins again, because FT's joint update of
# `B` and `V` adds a term quadratic in λ. Let us check three heterogeneity levels by simulation:

# %%
for lam in (0.5 * r["lambda_star"], 0.5 * (r["lambda_star"] + r["lambda_star2"]), 2 * r["lambda_star2"]):
    gap = chen.pft_global_gap(t["B_star"], t["V_com"], t["shifts"], 0.9203176528252481, lam, 0.31375537916572976)
    print(f"λ = {lam:6.2f}: FT − LP-FT global loss = {gap['gap']:+.3f}  ({'LP-FT' if gap['gap'] > 0 else 'FT'} wins)")

# %% [markdown]
# ## Partial feature overlap
# If the private features overlap (`⟨u_i, u_j⟩ = ω`), the condition becomes `(a − 1)(a − (2ω − 1)) > 0`:
# for `ω > ½` LP-FT also wins at small steps.

# %%
for omega in (0.0, 0.8):
    wins = [chen.theorem_4_4(v, 1.0, a / (2 * (1 + v)), 5, omega=omega)["lp_ft_better"] for a in (0.3, 0.9, 1.5)]
    print(f"ω = {omega}: LP-FT wins at a = 0.3, 0.9, 1.5 → {wins}")

# %% [markdown]
# ## Both readings of "global"
# Chen et al.'s Global is the mean over the *other* clients; the mixture of all C clients includes the
# client itself. With overlap they disagree: the condition is `(a − 1)(a − r) > 0` with `r = 2ω − 1`
# (others) but `r = (2ω(C − 1) − (C − 2))/C` (mixture).

# %%
for reading in ("others", "mixture"):
    print(f"C = 2, ω = 0.3, a = 0.2, {reading:8s}: root r = {chen.condition_root(0.3, 2, reading):+.2f}, "
          f"LP-FT wins: {chen.lp_ft_wins(0.2, 0.3, 2, reading)}")

# %% [markdown]
# ## Matched personalization: the local/global Pareto frontier
# A method that personalizes less pays less globally. To compare fairly, compare global losses at the
# *same* local loss ℓ. Under concept shift every predictor client GD can reach lies in a plane, and the
# least global loss at local loss ℓ has a closed form, `G*(ℓ) = λ² + (λ − √ℓ)²` (ω = 0).
# One FT step with `a <= 1` lies *on* it; with `a > 1` it lies `4λ²(a − 1)` above it. Exact LP lies on it
# at ℓ = 0 — at the very point FT reaches with `a = 1`.

# %%
for a in (0.5, 1.0, 1.5):
    r = chen.theorem_4_4(v, 1.0, a / chen.step_curvature(v), 5)
    ell = r["ft"]["local"]
    print(f"a = {a}: FT local {ell:.3f}, global {r['ft']['global']:.3f}; frontier at that local loss "
          f"{float(chen.pareto_frontier(ell, 1.0, 5)['global']):.3f}; excess {chen.ft_frontier_excess(a, 1.0):.3f}")

# %% [markdown]
# After several FT steps the shared predictor rotates too (`e ≠ 0`): FT leaves the frontier, LP-FT stays
# closer. At matched local loss this is the part of LP-FT's advantage that survives — small:

# %%
etas = np.linspace(0.02, 2.2, 60) / chen.step_curvature(v)
ells = np.array([0.05, 0.2])
front = chen.pareto_frontier(ells, 1.0, 5)["global"]
ft5 = chen.matched_global_exact(v, 1.0, 5, ells, 5, etas, descent_only=True)["global"]
lpft5 = chen.matched_global_exact(v, 1.0, 5, ells, 5, etas, lp_alpha=0.25, descent_only=True)["global"]
print("T = 5 descent steps, above the frontier at ℓ = 0.05, 0.2:  FT", np.round(ft5 - front, 5),
      " LP-FT (LP a quarter of the way)", np.round(lpft5 - front, 5))

# %% [markdown]
# ## Exercises
# 1. Use `chen.theorem_4_4(..., lp="step")` (one LP step instead of exact LP). Is the boundary still `a = 1`?
# 2. For private shifts (`geometry="private"`) the verdict does not depend on λ. Verify with
#    `chen.private_geometry_threshold` and two values of λ.
# 3. Find an η for the case above at which no λ* > 0 exists (`holds_small_lambda` is False).
#
# ## Solutions

# %%
# 1. No: with one LP step the LP-FT predictor is A(α) with α = ηc, and the boundary moves with λ.
grid = np.linspace(0.01, 1.0, 400)
for lam in (0.5, 2.5):
    wins = np.array([chen.theorem_4_4(v, lam, e, 5, lp="step")["lp_ft_better"] for e in grid])
    print(f"1. λ = {lam}: the winner flips at η ≈", [round(float(grid[i]), 3) for i in np.flatnonzero(np.diff(wins))])
# 2. The gap is ε²λ²(a'−1)(a'+1): its sign does not involve λ.
p = synthetic.combined_shift(10, 2, 3, 1.0, eps=0.6, shift=1.2, geometry="private", rng=4)
vp = float(p.truth["V_com"] @ p.truth["V_com"])
print("2. a' =", chen.private_geometry_threshold(vp, 1.2, 0.6, 0.1),
      [chen.pft_global_gap(p.truth["B_star"], p.truth["V_com"], p.truth["shifts"], 0.6, lam, 0.1)["gap"] > 0
       for lam in (0.1, 5.0)])
# 3. Small steps: q_0 < 0.
print("3.", chen.lambda_star(chen.combined_gap_coeffs(t["B_star"], t["V_com"], t["shifts"], 0.92, 0.05)))
