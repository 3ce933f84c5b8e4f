# %% [markdown]
# # 1 · Feature distortion in ten minutes
#
# **Learning goals.** After this notebook you can
# 1. say which directions of a feature extractor fine-tuning can change, and which it cannot (Kumar et al.'s
#    Lemma A.3);
# 2. explain why fine-tuning from a random head *distorts* good features and hurts out-of-distribution (OOD)
#    inputs, while linear probing first (LP-FT) does not;
# 3. check both statements numerically with `lpft-theory`, and read them off two plots.
#
# **The model.** A two-layer linear network `f(x) = vᵀBx` with features `B ∈ R^{k×d}` and head `v ∈ R^k`.
# The truth is `y = v*ᵀB*x`. We train on `n < d` points `X`, so the training inputs span only a subspace
# `S = rowspace(X)` of `R^d`; its complement `S⊥` holds everything the training data never shows.
#
# **The key fact.** The gradient of the training loss with respect to `B` is `c·v (XBᵀv − Y)ᵀ X`: every row is
# a combination of rows of `X`, i.e. lies in `S`. Gradient descent therefore changes `B` only inside `S`.
# Directions in `S⊥` — where OOD inputs live — keep their pretrained values, *but the head keeps changing*,
# so the pretrained features and the new head no longer fit together on `S⊥`.

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import synthetic
from figures import kumar_toy
from lpft_theory import gradient_descent, two_layer
from lpft_theory.metrics import distortion_split
from lpft_theory.strategies import lp_ft
from lpft_theory.theory import kumar
# show the plots inline in Jupyter (the figures package selects a file-only backend when it is imported):
# %matplotlib inline

scen = synthetic.kumar(d=20, k=2, n=8, eps=0.0, sigma_v0=0.5, rng=0)  # perfect features: B_0 = B*
t = scen.truth
arch = two_layer(20, 2)
start = (t["B_0"], t["v_0"][:, None])  # pretrained features, random head
data = scen.train[0]

# %% [markdown]
# ## Fine-tuning moves B only inside S
# `distortion_split` returns the Frobenius norm of `B_t − B_0` projected on `S` and on `S⊥`.

# %%
ft_run = gradient_descent(arch, start, data, eta=0.05, steps=300)
on_S, on_S_perp = distortion_split(ft_run.params[0], t["B_0"], data.X)
print(f"FT after 300 steps: change on S = {on_S:.3f}, change on S-perp = {on_S_perp:.1e} (round-off)")
assert on_S_perp < 1e-12 < on_S

# %% [markdown]
# The same fact as a picture (the package's figure `kumar_toy`). **(a)** With `d = 2` and one training point
# `x_1`, the feature row `B_t` can only slide along the line `B_0 + S`. **(b)** With `d = 20`, the change on `S`
# grows over time while the change on `S⊥` stays at round-off, for FT and for LP-FT alike (here with imperfect
# features, `ε = 0.2`).

# %%
fig = kumar_toy.plot(kumar_toy.compute(quick=True, seed=0))

# %% [markdown]
# ## …and that is exactly why OOD error appears
# The OOD loss is the worst case over the unit ball, `L_ood = ‖B*ᵀv* − Bᵀv‖²`. The features are perfect,
# so a correct head gives zero OOD loss. FT from a random head fits the training data, but the head it
# learns no longer matches the untouched `S⊥` part of `B`.

# %%
lpft_run = lp_ft(eta=0.05, steps=300)(arch, start, data)
ood_ft = kumar.ood_loss(ft_run.params[1][:, 0], ft_run.params[0], t["w_star"])
ood_lpft = kumar.ood_loss(lpft_run.params[1][0, :, 0], lpft_run.params[0][0], t["w_star"])
losses = pd.DataFrame({"training loss": [ft_run.losses[-1], lpft_run.losses[-1][0]], "OOD loss": [ood_ft, ood_lpft]},
                      index=pd.Index(["FT", "LP-FT"], name="method"))
print(losses.to_string(float_format="{:.2e}".format))

# %% [markdown]
# Both fit the training data; only LP-FT keeps the OOD loss at zero (Kumar et al.'s Proposition 3.2). LP
# first finds the head that fits the *current* features, so the FT phase starts at zero loss and never moves
# anything.
#
# ## The lower bound along the trajectory (Theorem 3.1)
# Kumar et al. bound `√L_ood` from below for *every* time of the FT trajectory. `theorem_3_1_bound` evaluates
# their right-hand side (with either convention for ε). Here `‖w*‖ = 1` and the bound holds on this
# instance; it is not a safe region: the package's adversary finds admissible instances with `‖w*‖ < 1` that break
# it, and larger targets that do too (`lpft check --only kumar-thm-3.1`).

# %%
bound = kumar.theorem_3_1_bound(t["B_0"], t["S_perp"], t["v_0"], t["v_star"], t["w_star"], eps=0.0)
traj = gradient_descent(arch, start, data, eta=0.05, steps=300, record_params=True)
sqrt_ood = np.array([np.sqrt(kumar.ood_loss(v[:, 0], B, t["w_star"])) for B, v in traj.snapshots])
print(f"Theorem 3.1's bound: {bound:.4f};  smallest sqrt(L_ood) along FT: {sqrt_ood.min():.4f}")
assert sqrt_ood.min() >= bound

fig, ax = plt.subplots(figsize=(5, 3), constrained_layout=True)
ax.plot(np.arange(len(sqrt_ood)), sqrt_ood, label=r"FT: $\sqrt{L_{ood}(t)}$")
ax.axhline(np.sqrt(ood_lpft), color="C2", label=r"LP-FT: $\sqrt{L_{ood}}$, round-off (it never moves)")
ax.axhline(bound, color="k", ls="--", label=f"Theorem 3.1 bound = {bound:.3f}")
ax.set(yscale="log", xlabel="GD step", ylabel=r"$\sqrt{L_{ood}}$", title="OOD error along fine-tuning")
ax.legend(fontsize=7)
plt.show()

# %% [markdown]
# FT's OOD error falls from its random-head start but levels off far above zero — and above the bound — once
# the training loss is fitted: nothing in the data pushes the `S⊥` part back. LP-FT's stays at round-off.
#
# ## Exercises
# 1. Repeat the first cell with a step size 10× larger. Does the change on `S⊥` stay at round-off level? Why?
# 2. Set `eps=0.2` in `synthetic.kumar`. Is LP-FT's OOD loss still zero? What bounds it now?
# 3. Using `kumar.balancedness`, check whether `v vᵀ − B Bᵀ` is conserved by gradient *descent*.

# %%
# Your answers here.

# %% [markdown] tags=["solution"]
# ## Solutions

# %% tags=["solution"]
# 1. Lemma A.3 holds at any step size: each update is a combination of rows of X.
big = gradient_descent(arch, start, data, eta=0.5, steps=3)
print("1. change on S-perp at eta = 0.5:", f"{distortion_split(big.params[0], t['B_0'], data.X)[1]:.1e}")
# 2. With imperfect features LP-FT's OOD loss is small but positive: of order eps^2.
s2 = synthetic.kumar(d=20, k=2, n=8, eps=0.2, sigma_v0=0.5, rng=0)
r2 = lp_ft(0.05, 300)(arch, (s2.truth["B_0"], s2.truth["v_0"][:, None]), s2.train[0]).params
print(f"2. LP-FT's OOD loss at eps = 0.2: {kumar.ood_loss(r2[1][0, :, 0], r2[0][0], s2.truth['w_star']):.4f}")
# 3. Only approximately: GD changes it at O(eta^2) per step (gradient flow conserves it exactly).
inv0 = kumar.balancedness(t["v_0"], t["B_0"])
inv = kumar.balancedness(ft_run.params[1][:, 0], ft_run.params[0])
print(f"3. largest change of v v^T - B B^T after 300 GD steps: {np.abs(inv - inv0).max():.2e}")
