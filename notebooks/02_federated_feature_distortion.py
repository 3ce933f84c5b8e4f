# %% [markdown]
# # 2 · Federated feature distortion: Chen et al.'s model
#
# **Learning goals.**
# 1. Set up Chen et al.'s Assumption 4.1: shared features `B*`, heads `V_i* = [V_com; λ e_i]`.
# 2. Derive Lemma 4.3 — one FT step on client i — with sympy, from the loss written out entry by entry.
# 3. Check the derivation against the simulator, and see what it implies for the other clients — as a table
#    and as a plot over the step size η.
#
# **The setting.** Each client labels `y_i = V_i*ᵀ B* x` with `E[xxᵀ] = I`. The first `m` features are shared;
# client i also uses its private feature `m+i` with weight λ (heterogeneity). The federation is assumed to
# have learnt the shared part: the global model is `B_0 = B*`, `V_0 = [V_com; 0]`.

# %%
import numpy as np
import pandas as pd
import sympy as sp

import synthetic
from figures import lemma43
from lpft_theory import two_layer, two_layer_params
from lpft_theory.metrics import cross_matrix, summarize
from lpft_theory.strategies import ft
from lpft_theory.theory import chen, symbolic
# show the plots inline in Jupyter (the figures package selects a file-only backend when it is imported):
# %matplotlib inline

scen = synthetic.concept_shift(d=12, m=2, n_clients=3, lam=0.8, rng=0)
B_star, V_com = scen.truth["B_star"], scen.truth["V_com"]
print("V_1* =", " ".join(f"{x:+.3f}" for x in scen.truth["V_stars"][0]), "  = [V_com; λ·e_1]")

# %% [markdown]
# ## Lemma 4.3 with sympy
# `symbolic.lemma_4_3` writes the population loss `(c/2)·‖BᵀV − B*ᵀV_i*‖²` entry by entry (c = 2 is the
# loss without ½), takes one gradient step from `(B*, V_0)` with `sympy.diff`, and compares the update with the
# derived closed form `B_FT − B* = ηcλ V_0 e_{m+i}ᵀ`.

# %%
d = symbolic.lemma_4_3(m=2, n_clients=2, i=0)
print("ΔB =")
sp.pprint(d.expressions["Delta_B"])
print("residual against ηcλ V_0 e_{m+i}ᵀ is exactly zero:", d.expressions["residual"] == sp.zeros(4, 4))
print("predictor moves by a·λ along b_i with a =", d.expressions["a"])

# %% [markdown]
# Read it row by row: **row j of B moves by `ηcλ (V_0)_j` toward the client's private feature `b*_{m+i}`**.
# Shared rows move (their head weights are non-zero), private rows do not. This is *federated feature
# distortion*: the shared features absorb the client's private signal.
#
# ## The same numbers from the simulator

# %%
eta = 0.1
arch = two_layer(12, 5)
pG = two_layer_params(*synthetic.idealised_init(scen))
after = ft(eta, 1)(arch, pG, scen.population).params
errors = [np.abs(after[0][i] - chen.lemma_4_3_rows(B_star, np.concatenate([V_com, np.zeros(3)]), i, 2, 0.8, eta)).max()
          for i in range(3)]
print(pd.DataFrame({"max |simulated − closed form|": errors}, index=pd.Index(range(3), name="client"))
      .to_string(float_format="{:.1e}".format))

# %% [markdown]
# ## What it does to the other clients
# Under `Σ = I` the loss of any model depends only on its predictor `w = BᵀV`. After one step,
# `w = w_0 + aλ b_i` with `a = ηc(1 + ‖V_com‖²)`; the other clients pay `λ²(1 + a²)` instead of `λ²`.

# %%
v = float(V_com @ V_com)
th = chen.theorem_4_4(v, 0.8, eta, 3)
sim = summarize(cross_matrix(arch, after, scen.population))
print(f"a = ηc(1 + ‖V_com‖²) = {th['a']:.3f}")
print(pd.DataFrame({"closed form": [th["ft"]["local"], th["ft"]["global"]],
                    "simulation": [sim["local"], sim["global"]]},
                   index=pd.Index(["local λ²(a − 1)²", "global λ²(1 + a²)"], name="FT, one step")).round(6).to_string())

# %% [markdown]
# ## The picture over η
# The package's figure `lemma43` repeats this for three heterogeneity levels λ and a range of step sizes:
# **(a)** the distortion `‖B_FT − B*‖_F = ηcλ‖V_com‖` is a straight line in η (dots: simulation);
# **(b)** FT's global loss divided by λ² is the same parabola `1 + a²` for every λ. It crosses LP-FT's `2λ²`
# exactly where `a = 1`: below, FT's small step personalizes less and costs the others less; above, FT
# overshoots. Notebook 3 takes this condition apart.

# %%
fig = lemma43.plot(lemma43.compute(quick=True, seed=0))

# %% [markdown]
# ## Exercises
# 1. Use the ½ convention (`half=True` in the strategy call, `half=True` in `chen.theorem_4_4`). Which
#    quantity changes, and by how much?
# 2. Which rows of `B` does the step leave unchanged, and why?
# 3. Compute the Frobenius norm of the distortion `‖B_FT − B*‖_F` and compare it with `ηcλ‖V_com‖`.

# %%
# Your answers here.

# %% [markdown] tags=["solution"]
# ## Solutions

# %% tags=["solution"]
# 1. c goes from 2 to 1: a halves, and the losses carry the factor 1/2.
after_half = ft(eta, 1)(arch, pG, scen.population, half=True).params
print(f"1. global loss with the ½ convention: simulation "
      f"{summarize(cross_matrix(arch, after_half, scen.population, half=True))['global']:.6f}, closed form "
      f"{chen.theorem_4_4(v, 0.8, eta, 3, half=True)['ft']['global']:.6f}")
# 2. The private rows m..m+C-1: their head entries (V_0)_j are 0, so ηcλ(V_0)_j = 0.
print(f"2. largest change of the private rows: {np.abs(after[0][0][2:] - B_star[2:5]).max():.1e}")
# 3. ‖ηcλ V_0 b_iᵀ‖_F = ηcλ‖V_0‖ = ηcλ‖V_com‖ because ‖b_i‖ = 1.
print(f"3. ‖B_FT − B*‖_F = {np.linalg.norm(after[0][0] - B_star):.6f},  ηcλ‖V_com‖ = {eta * 2 * 0.8 * np.sqrt(v):.6f}")
