# %% [markdown]
# # 5 · Long tails and split learning
#
# **Learning goals.**
# 1. See how federated fine-tuning on globally long-tailed data erodes a class-balanced ("zero-shot") model,
#    and how FedPuReL's gradient purification limits the damage.
# 2. Separate what residual personalization contributes from what purification contributes.
# 3. Use FlexP-SFL-style split fine-tuning: clients own layers up to a split point, an alignment term keeps
#    them close to the shared server layers.
#
# ## Gradient purification, in one line
# Per tensor, with `g_CE` the task gradient and `ĝ_KD` the unit gradient of distillation toward the zero-shot
# model: if `⟨g_CE, ĝ_KD⟩ < 0`, use `g_CE − λ⟨g_CE, ĝ_KD⟩ĝ_KD`, else `g_CE`. The update never moves *against*
# the zero-shot model's preferences; it does not add the distillation gradient itself.

# %%
import numpy as np
import pandas as pd

import synthetic
from figures import longtail as longtail_figure
from figures import split as split_figure
from lpft_theory import Samples, linear
from lpft_theory.strategies import purify
# show the plots inline in Jupyter (the figures package selects a file-only backend when it is imported):
# %matplotlib inline

# a two-parameter linear model whose task gradient conflicts with the distillation gradient
arch = linear(2)
params = (np.zeros((2, 1)),)
task = Samples(np.eye(2), np.array([[-1.0], [1.0]]))  # gradient of the task loss at 0: (1, -1)
teacher = Samples(np.eye(2), np.array([[0.0], [-1.0]]))  # distillation gradient: (0, 1)
_, g_ce = arch.value_and_grad(params, task)
_, g_kd = arch.value_and_grad(params, teacher)
t = purify(1.0, arch, teacher, lam=1.0)
step, state = t.update(g_ce, t.init(params), params, None, 0)
vectors = pd.DataFrame({"task gradient g_CE": g_ce[0].ravel(), "distillation gradient g_KD": g_kd[0].ravel(),
                        "purified step": step[0].ravel()}, index=pd.Index(["θ_1", "θ_2"], name="coordinate")).T
print(vectors.to_string(float_format="{:+.3f}".format))
print(f"⟨purified step, g_KD⟩ = {float(step[0].ravel() @ g_kd[0].ravel()):+.1e};  "
      f"conflicts detected: {int(np.sum(state['conflicts']))}")

# %% [markdown]
# ## The long-tail study
# Frozen features, a head made of unit-norm class prototypes (no class frequencies: the zero-shot analogue),
# FedAvg on the head with and without purification, then personalization by FT or by a residual head.

# %%
longtail = longtail_figure.compute(quick=True, seed=0)  # studies.longtail_study with its 95% intervals
rows = pd.DataFrame(longtail["rows"])
table = rows.groupby("model", sort=False)[["balanced", "head", "medium", "tail", "personalized"]].mean()
print(f"accuracy, mean over {rows.seed.nunique()} seeds")
print(table.to_string(float_format="{:.3f}".format))

# %% [markdown]
# Figure `longtail`: accuracy on the head, medium and tail classes and balanced accuracy, for each model
# (95% t-intervals over seeds).

# %%
fig = longtail_figure.plot(longtail)

# %% [markdown]
# * FedAvg's balanced accuracy falls below zero-shot: the head classes take over (tail accuracy collapses).
# * Purification keeps much of the balance, though not all of it.
# * Against FT from the *same* purified model, the residual head is not better on tail classes: in this
#   analogue the tail advantage of the FedPuReL pipeline comes from purification.
#
# ## Split fine-tuning with alignment

# %%
split_data = split_figure.compute(quick=True, seed=0)  # studies.split_study with its 95% intervals
split = pd.DataFrame(split_data["rows"])
by_lam = split[split.split == "cycle"].groupby("lam")[["local", "global"]].mean().rename_axis("alignment λ")
print("heterogeneous splits s_k = k mod 4: loss, mean over seeds")
print(by_lam.to_string(float_format="{:.4f}".format))

# %% [markdown]
# Figure `split`: global and local loss against the alignment weight, for each split point
# ("cycle": a different split per client).

# %%
fig = split_figure.plot(split_data)

# %% [markdown]
# Raising the alignment weight λ trades local fit for global performance: the personal layers are pulled
# toward what the shared server layers compute.
#
# ## Exercises
# 1. How many of the 10 classes are head, medium and tail classes in `synthetic.long_tail(imbalance=100)`?
# 2. In the split study, does a deeper split (s = 3) personalize more than s = 1 without alignment?
# 3. What fraction of the balanced accuracy lost by FedAvg does purification recover here?

# %%
# Your answers here.

# %% [markdown] tags=["solution"]
# ## Solutions

# %% tags=["solution"]
lt = synthetic.long_tail(20, 10, 5, imbalance=100.0, rng=0)
print("1. classes per group:", ", ".join(f"{k} {len(v)}" for k, v in lt.groups.items()))
s0 = split[split.lam == 0.0].groupby("split")["local"].mean()
print(f"2. local loss without alignment: s = 1 {s0['1']:.4f}, s = 3 {s0['3']:.4f} -> deeper split personalizes more: "
      f"{'yes' if s0['3'] < s0['1'] else 'no'}")
m = table["balanced"]
recovered = (m["FedAvg+purify"] - m["FedAvg"]) / (m["zero-shot"] - m["FedAvg"])
print(f"3. purification recovers {recovered:.0%} of the balanced accuracy FedAvg lost")
