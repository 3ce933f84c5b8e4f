# %% [markdown]
# # 6 · Foundations: what FedAvg learns, when LP-FT distorts less, and exact dynamics
#
# **Learning goals.**
# 1. See why FedAvg needs at least two local steps *and* diverse tasks to learn a shared representation
#    (Collins et al. 2022), and why Chen et al.'s premise `B_0 = B*` cannot hold under their Assumption 4.1.
# 2. Derive the exact one-step condition for LP-FT to move the features more than FT, and see it happen.
# 3. Check the engine against exact solutions of two-layer linear gradient flow (Saxe et al. 2014;
#    Kunin et al. 2024 / Dominé et al. 2025), and GD's first-order approach to them.
#
# Derivations: `lpft_theory/theory/collins.py`, `lpft_distortion.py`, `exact_dynamics.py`; the written companion
# is `docs/foundations.md`.

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import synthetic
from figures import fedavg_angles, lpft_distortion
from lpft_theory.theory import collins as Co
from lpft_theory.theory import exact_dynamics as X
from lpft_theory.theory import lpft_distortion as D
from synthetic.multitask import multitask
# show the plots inline in Jupyter (the figures package selects a file-only backend when it is imported):
# %matplotlib inline

# %% [markdown]
# ## 1 · FedAvg and the representation
# Population version of Collins et al.'s setting: `d = 20`, `k = 2`, 100 clients, `Σ_i = I`, centred heads.
# Each local step shrinks the off-subspace part `E = B(I − B*ᵀB*)` by `(I − ηVVᵀ)` — exactly. One local step
# (τ = 1) only contracts along the global head; two or more let each client's head adapt to its task first.

# %%
sc = multitask(20, 2, 100, rng=1)
every = list(range(0, 61, 2))
runs = {tau: Co.run_fedavg(sc, tau, 0.3, 60, rng=2, record=every) for tau in (1, 2, 5)}
angles = pd.DataFrame({f"τ = {tau}": r["sin"] for tau, r in runs.items()}, index=pd.Index(every, name="round"))
print("sin θ_max between rowspace(B) and rowspace(B*)")
print(angles.loc[[0, 20, 40, 60]].to_string(float_format="{:.4f}".format))

fig, ax = plt.subplots(figsize=(5, 3), constrained_layout=True)
for col in angles:
    ax.plot(angles.index, angles[col], marker="o", ms=2, label=col)
ax.set(yscale="log", xlabel="FedAvg round", ylabel=r"$\sin\theta_{max}$ to $B^*$",
       title="FedAvg learns the representation with τ ≥ 2")
ax.legend(fontsize=7)
plt.show()

# %% [markdown]
# The leading-order round operator: `I − A ≈ η³ S_τ BΘBᵀ`, `S_τ = (τ−1)τ(2τ−1)/6`. For τ = 2 it is exact.

# %%
B = synthetic.orthonormal_rows(2, 20, 5)
contraction = {}
for tau in (1, 2, 3):
    H, _, _ = Co.local_round(B, np.zeros(2), sc.population, 0.02, tau)
    contraction[f"τ = {tau}"] = {
        "‖I − A‖ (engine)": np.linalg.norm(np.eye(2) - Co.round_operator(H, 0.02), 2),
        "η³S_τ‖BΘBᵀ‖ (leading order)": np.linalg.norm(Co.small_step_contraction(B, sc.truth["thetas"], 0.02, tau), 2)}
print(pd.DataFrame(contraction).T.to_string(float_format="{:.3e}".format))

# %% [markdown]
# Under Chen et al.'s Assumption 4.1 the tasks `θ_i = B*ᵀ[V_com; λe_i]` span only `C` of the `k = m + C`
# directions: `rowspace(B*)` is not identifiable from any client's labels.

# %%
chen = synthetic.concept_shift(20, 3, 5, 1.0, rng=0)
thetas = chen.truth["V_stars"] @ chen.truth["B_star"]
print(f"rank(Θ) = {Co.task_rank(thetas)}, k = {chen.truth['B_star'].shape[0]}")

# %% [markdown]
# Figure `fedavg_angles`: FedAvg under Assumption 4.1. Solid: the angle to `B*`, which never closes; dashed: the
# angle from the identifiable `span{θ_i}`, which several local steps do learn (slowly). Panel (b) shows the
# distance of (a)'s curves to 1 on a log axis.

# %%
fig = fedavg_angles.plot(fedavg_angles.compute(quick=True, seed=0))

# %% [markdown]
# ## 2 · When does LP-FT distort less?
# One GD step moves `B` by `−ηV gᵀ` with `g = c(ΣBᵀV − C)`: a rank-one matrix of norm `η‖V‖‖g‖`.
# LP lowers `‖g‖` but may grow `‖V‖`. From a random `B_0` and a small head, LP must grow the head a lot.

# %%
from lpft_theory import two_layer  # noqa: E402
from lpft_theory.strategies import exact_head  # noqa: E402

g = np.random.default_rng(3)
pop = chen.population
B0 = np.broadcast_to(synthetic.orthonormal_rows(8, 20, g), (5, 8, 20))
V0 = np.broadcast_to(0.1 * g.standard_normal(8), (5, 8))
V_lp = exact_head(two_layer(20, 8), (B0, V0[..., None]), pop)[..., 0]
ft_, lpft_ = D.one_step_distortion(B0, V0, pop, 0.05), D.one_step_distortion(B0, V_lp, pop, 0.05)
predicted = D.lp_ft_distorts_more(B0, V0, V_lp, pop)
one_step = pd.DataFrame({"FT": ft_, "LP-FT": lpft_, "LP-FT moves B more": np.where(lpft_ > ft_, "yes", "no"),
                         "condition predicts": np.where(predicted, "yes", "no")},
                        index=pd.Index(range(5), name="client"))
print("‖B_1 − B_0‖_F after one step")
print(one_step.to_string(float_format="{:.4f}".format))

# %% [markdown]
# Figure `lpft_distortion`: the condition against the engine over five scenario families, and the distortion of
# FT and LP-FT over many steps.

# %%
fig = lpft_distortion.plot(lpft_distortion.compute(quick=True, seed=0))

# %% [markdown]
# ## 3 · Exact solutions
# From a decoupled initialisation each mode `u = ab` obeys `u̇ = √(δ² + 4u²)(s − u)`, `δ = a² − b²`.
# `δ = 0` is Saxe et al.'s sigmoid; the engine's gradient flow must match to solver tolerance.

# %%
from lpft_theory import deep_linear, gradient_descent, gradient_flow  # noqa: E402
from lpft_theory.data import Moments  # noqa: E402

U, Vr, s = np.array([[1.0]]), np.eye(4)[:, :1], 1.5
mom = Moments(np.eye(4), (s * Vr), np.array(s * s))
arch = deep_linear(4, (1,), 1)
t = np.linspace(0.0, 4.0, 21)
step_sizes = (0.02, 0.01, 0.005)
exact_rows, gd_errors = {}, {}
fig, (ax, bx) = plt.subplots(1, 2, figsize=(8, 3), constrained_layout=True)
for i, delta in enumerate((0.0, 2.0)):
    a = np.sqrt((delta + np.sqrt(delta ** 2 + 4e-4)) / 2)
    p0 = X.decoupled_init(U, Vr, [a], [0.01 / a])
    flow = np.array([X.mode_strengths(q, U, Vr)[0] for q in gradient_flow(arch, p0, mom, t, half=True).snapshots])
    exact = X.lambda_balanced_mode(t, s, 0.01, delta)
    gd_end = [gradient_descent(arch, p0, mom, eta, int(4 / eta), half=True).params for eta in step_sizes]
    errs = [abs(X.mode_strengths(p, U, Vr)[0] - exact[-1]) for p in gd_end]
    exact_rows[f"δ = {delta}"] = {"max |flow − closed form|": np.max(np.abs(flow - exact)),
                                  **{f"GD error at t = 4, η = {eta}": e for eta, e in zip(step_sizes, errs)}}
    gd_errors[delta] = errs
    ax.plot(t, exact, color=f"C{i}", label=f"closed form, δ = {delta}")
    ax.plot(t, flow, "o", ms=3, color=f"C{i}", label=f"engine's flow, δ = {delta}")
    bx.loglog(step_sizes, errs, "o-", color=f"C{i}", label=f"δ = {delta}")
print(pd.DataFrame(exact_rows).to_string(float_format="{:.1e}".format))
ax.axhline(s, color="k", ls=":", lw=0.8, label="s (the target mode)")
ax.set(xlabel="time t", ylabel="mode strength u = ab", title="(a) gradient flow: engine vs exact")
ax.legend(fontsize=6)
bx.set(xlabel="step size η", ylabel="|GD − exact| at t = 4", title="(b) GD's error halves with η")
bx.legend(fontsize=7)
plt.show()

# %% [markdown]
# ## Exercises
# 1. In section 1, set the heads to be identical (`head_spread=0`, `head_mean=1`). Does τ = 5 still learn `B*`?
# 2. Show from the one-step formula that with exact LP, `B_0 g(B_0ᵀV_LP) = 0`. What does that say about the
#    direction in which LP-FT's first step moves the features?
# 3. Check that Saxe's formula is the `δ → 0` limit of the λ-balanced one numerically.

# %%
# Your answers here.

# %% [markdown] tags=["solution"]
# ## Solutions

# %% tags=["solution"]
# 1. No: every local head stays parallel, A contracts E along one direction only (rank(Theta) = 1 < k).
same = multitask(20, 2, 100, head_mean=1.0, head_spread=0.0, rng=1)
r1 = Co.run_fedavg(same, 5, 0.3, 60, rng=2, record=[0, 30, 60])
print("1. τ = 5, identical heads: sin θ_max", ", ".join(f"round {k}: {x:.4f}" for k, x in zip(r1["rounds"], r1["sin"])))
# 2. The normal equations of LP: B_0 (Sigma B_0^T V_LP - C) = 0, so g is orthogonal to rowspace(B_0): the first
#    LP-FT step adds to B only directions the features did not have.
gl = D.residual_gradient(B0, V_lp, pop)
print(f"2. max |B_0 g_LP| = {np.abs(np.einsum('ckd,cd->ck', B0, gl)).max():.1e}")
# 3.
limit = np.max(np.abs(X.lambda_balanced_mode(t, s, 0.01, 1e-9) - X.saxe_mode(t, s, 0.01)))
print(f"3. max |λ-balanced(δ = 1e-9) − Saxe| = {limit:.1e}")
