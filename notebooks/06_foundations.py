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
# Derivations: `lpft_theory/theory/collins.py`, `lpft_distortion.py`, `exact_dynamics.py`; docs/foundations.md.

# %%
import numpy as np

import synthetic
from lpft_theory.theory import collins as Co
from lpft_theory.theory import exact_dynamics as X
from lpft_theory.theory import lpft_distortion as D
from synthetic.multitask import multitask

# %% [markdown]
# ## 1 · FedAvg and the representation
# Population version of Collins et al.'s setting: `d = 20`, `k = 2`, 100 clients, `Σ_i = I`, centred heads.
# Each local step shrinks the off-subspace part `E = B(I − B*ᵀB*)` by `(I − ηVVᵀ)` — exactly. One local step
# (τ = 1) only contracts along the global head; two or more let each client's head adapt to its task first.

# %%
sc = multitask(20, 2, 100, rng=1)
for tau in (1, 2, 5):
    r = Co.run_fedavg(sc, tau, 0.3, 60, rng=2, record=[0, 20, 40])
    print(f"tau={tau}: sin theta_max at rounds {r['rounds']}:", np.round(r["sin"], 4))

# %% [markdown]
# The leading-order round operator: `I − A ≈ η³ S_τ BΘBᵀ`, `S_τ = (τ−1)τ(2τ−1)/6`. For τ = 2 it is exact.

# %%
B = synthetic.orthonormal_rows(2, 20, 5)
for tau in (1, 2, 3):
    H, _, _ = Co.local_round(B, np.zeros(2), sc.population, 0.02, tau)
    I_minus_A = np.eye(2) - Co.round_operator(H, 0.02)
    print(f"tau={tau}: ||I - A|| = {np.linalg.norm(I_minus_A, 2):.3e}   predicted "
          f"{np.linalg.norm(Co.small_step_contraction(B, sc.truth['thetas'], 0.02, tau), 2):.3e}")

# %% [markdown]
# Under Chen et al.'s Assumption 4.1 the tasks `θ_i = B*ᵀ[V_com; λe_i]` span only `C` of the `k = m + C`
# directions: `rowspace(B*)` is not identifiable from any client's labels.

# %%
chen = synthetic.concept_shift(20, 3, 5, 1.0, rng=0)
thetas = chen.truth["V_stars"] @ chen.truth["B_star"]
print("rank(Theta) =", Co.task_rank(thetas), " k =", chen.truth["B_star"].shape[0])

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
print("||B_1 - B_0|| FT   :", np.round(ft_, 4))
print("||B_1 - B_0|| LP-FT:", np.round(lpft_, 4))
print("condition predicts LP-FT more:", D.lp_ft_distorts_more(B0, V0, V_lp, pop))

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
t = np.array([0.0, 1.0, 2.0, 4.0])
for delta in (0.0, 2.0):
    a = np.sqrt((delta + np.sqrt(delta ** 2 + 4e-4)) / 2)
    p0 = X.decoupled_init(U, Vr, [a], [0.01 / a])
    flow = [X.mode_strengths(q, U, Vr)[0] for q in gradient_flow(arch, p0, mom, t, half=True).snapshots]
    exact = X.lambda_balanced_mode(t, s, 0.01, delta)
    print(f"delta={delta}: max |flow - closed form| = {np.max(np.abs(np.array(flow) - exact)):.1e}")
    errs = [abs(X.mode_strengths(gradient_descent(arch, p0, mom, eta, int(4 / eta), half=True).params, U, Vr)[0] - exact[-1])
            for eta in (0.02, 0.01, 0.005)]
    print("   GD error at t=4 for eta = 0.02, 0.01, 0.005:", np.round(errs, 7), "(halves with eta)")

# %% [markdown]
# ## Exercises
# 1. In section 1, set the heads to be identical (`head_spread=0`, `head_mean=1`). Does τ = 5 still learn `B*`?
# 2. Show from the one-step formula that with exact LP, `B_0 g(B_0ᵀV_LP) = 0`. What does that say about the
#    direction in which LP-FT's first step moves the features?
# 3. Check that Saxe's formula is the `δ → 0` limit of the λ-balanced one numerically.
#
# ## Solutions

# %%
# 1. No: every local head stays parallel, A contracts E along one direction only (rank(Theta) = 1 < k).
same = multitask(20, 2, 100, head_mean=1.0, head_spread=0.0, rng=1)
print("1.", np.round(Co.run_fedavg(same, 5, 0.3, 60, rng=2, record=[0, 30])["sin"], 4))
# 2. The normal equations of LP: B_0 (Sigma B_0^T V_LP - C) = 0, so g is orthogonal to rowspace(B_0): the first
#    LP-FT step adds to B only directions the features did not have.
gl = D.residual_gradient(B0, V_lp, pop)
print("2. max |B_0 g_LP| =", float(np.abs(np.einsum("ckd,cd->ck", B0, gl)).max()))
# 3.
print("3.", float(np.max(np.abs(X.lambda_balanced_mode(t, s, 0.01, 1e-9) - X.saxe_mode(t, s, 0.01)))))
