# %% [markdown]
# # 4 · Real digits: comparing FT, LP-FT and the rest fairly
#
# **Learning goals.**
# 1. Build federated clients from real 8×8 digit images under covariate shift (each client rotates, blurs,
#    adds noise or changes contrast), with a validation split carved from every client's training data.
# 2. Train the global model with FedAvg *to a validation plateau* (a stopping rule), not for a fixed small
#    number of rounds — and see how much that matters.
# 3. Compare personalization methods the way a careful reviewer would: stable steps (a rising training loss
#    is flagged), equal step budgets, the same tuning rule for everyone (validation data only), and Global
#    accuracy at *matched* Local accuracy.
# 4. Split each method's change of global accuracy into a head part, a feature part and their interaction.
#
# The run below is small (2 seeds, 4 clients, a 2 × 2 grid, at most 60 FedAvg rounds) so the notebook stays
# fast; `lpft real` runs 5 seeds × 10 clients over a larger grid. With two seeds the 95% intervals are wide:
# read them as a demonstration of the method, not as a result.

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from figures import real_attribution
from lpft_theory.empirical.digits import split
from lpft_theory.empirical.experiment import METHODS, RealConfig, run_real
from lpft_theory.stats import mean_ci
# the figures package selects a file-only backend when imported; show plots inline again in Jupyter:
# %matplotlib inline

fed = split("covariate", n_clients=4, seed=0)
clients = pd.DataFrame({"shift": fed.meta["clients"], "training images": fed.meta["train_sizes"]},
                       index=pd.Index(range(4), name="client"))
print(clients.to_string())

# %%
cfg = RealConfig(seeds=2, clients=4, max_rounds=60, patience=2, etas=(0.05, 0.2), steps=(5, 15), recipe_steps=15,
                 mus=(1.0,), rates=(0.5,), soup_sizes=(2,), lp_steps=(5,), flood_levels=(0.5,), lp_converged_steps=20,
                 grid_on_short=False)
res = run_real(cfg)
global_models = pd.DataFrame(
    [{"seed": r["seed"], "plateau: rounds": r["global_models"]["converged"]["rounds"],
      "plateau: test accuracy": r["global_models"]["converged"]["test_acc"],
      f"{cfg.short_rounds} rounds: test accuracy": r["global_models"]["short"]["test_acc"]} for r in res["runs"]]
).set_index("seed")
print(global_models.to_string(float_format="{:.3f}".format))

# %% [markdown]
# FedAvg stops when the clients' validation loss stops falling (patience `cfg.patience` checks of
# `cfg.chunk` rounds), or at `cfg.max_rounds`. The dotted line marks the fixed 30 rounds an older protocol used.

# %%
fig, ax = plt.subplots(figsize=(5, 3), constrained_layout=True)
for r in res["runs"]:
    rounds, val_loss = np.array(r["global_models"]["converged"]["curve"]).T
    ax.plot(rounds, val_loss, marker="o", ms=3, label=f"seed {r['seed']}")
ax.axvline(cfg.short_rounds, color="k", ls=":", label=f"{cfg.short_rounds} rounds")
ax.set(yscale="log", xlabel="FedAvg rounds", ylabel="validation cross-entropy", title="FedAvg to a validation plateau")
ax.legend(fontsize=7)
plt.show()

# %% [markdown]
# **The protocol variants.** Each variant is a rule that picks one grid point per method:
# *fixed recipe* (one step size and step count for all, LP-FT given LP *and* FT steps — twice the budget) on
# the short and on the converged global model; *equal budget* (LP-FT's LP steps count against its total);
# *tuned* (best validation Average); *matched Local* (best validation Global among points that reach a
# common validation Local). Test accuracies, mean over seeds; "unstable" is the fraction of seeds whose
# selected run had a rising training loss.

# %%
for variant, table in res["summary"].items():
    if variant == "controls":
        continue
    rows = {name: {"local": m["local"]["mean"], "global": m["global"]["mean"],
                   "Δ_c": m.get("delta_c", {"mean": 0.0})["mean"], "unstable": m.get("frac_seeds_unstable", 0.0)}
            for name, m in table.items()}
    print(f"\n[{variant}]")
    print(pd.DataFrame(rows).T.rename_axis("method").to_string(float_format="{:.3f}".format))

# %% [markdown]
# The same comparison as one picture: each method's **global accuracy minus the global model's**, paired seed
# by seed, under each protocol (small dots: the seeds; large marker: their mean — with two seeds a 95%
# interval would span most of the axis). A method that looks better than another under one protocol may tie
# with it under another.

# %%
variants = ["fixed recipe, 30-round global", "fixed recipe", "equal budget", "tuned", "matched Local"]


def delta_global(variant, method):
    """Per seed: the method's global test accuracy minus the global model's, under ``variant``."""
    return np.array([r["variants"][variant]["rows"][method]["global"] - r["variants"][variant]["base"]["global"]
                     for r in res["runs"]])


fig, ax = plt.subplots(figsize=(7, 3.6), constrained_layout=True)
for j, variant in enumerate(variants):
    y = np.arange(len(METHODS)) + (j - 2) * 0.15
    deltas = np.array([delta_global(variant, m) for m in METHODS])  # methods × seeds
    ax.plot(deltas, np.repeat(y[:, None], deltas.shape[1], axis=1), ".", ms=3, color=f"C{j}", alpha=0.5)
    ax.plot(deltas.mean(axis=1), y, "o", ms=5, color=f"C{j}", label=variant)
ax.axvline(0, color="k", lw=0.6)
ax.set_yticks(range(len(METHODS)), METHODS)
ax.invert_yaxis()
ax.set(xlabel="Δ global accuracy vs the global model", title="One comparison, five protocols")
fig.legend(fontsize=7, loc="outside right center")
plt.show()

# %% [markdown]
# **Where the global change comes from.** For each method, the exact identity
# `total = head + feature + interaction` evaluates the hybrids (global body, personal head) and
# (personal body, global head). LP moves no feature, so its whole change is the head part.

# %%
parts = ("total", "head", "feature", "interaction")
attribution = pd.DataFrame(
    {name: {k: np.mean([r["variants"]["tuned"]["attribution"][name][k] for r in res["runs"]]) for k in parts}
     for name in METHODS}).T.rename_axis("method (tuned)")
print(attribution.to_string(float_format="{:+.4f}".format))

# %% [markdown]
# Figure `real_attribution` draws these parts with their intervals, for the tuned methods and for the fixed
# recipe on the 30-round global model, on one y-scale (two seeds: the intervals are wide).

# %%
attribution_data = {"attribution": {v: {m: {k: mean_ci([r["variants"][v]["attribution"][m][k] for r in res["runs"]])
                                            for k in parts} for m in METHODS} for v in real_attribution.PANELS}}
fig = real_attribution.plot(attribution_data)

# %% [markdown]
# ## Exercises
# 1. How much higher is the converged global model's test accuracy than the 30-round model's (per seed)?
# 2. Under the fixed recipe on the 30-round global model, does FT lower Global? And on the converged one?
# 3. Which step sizes did tuning choose for FT, and were any grid points flagged unstable?

# %%
# Your answers here.

# %% [markdown] tags=["solution"]
# ## Solutions

# %% tags=["solution"]
gain = global_models["plateau: test accuracy"] - global_models[f"{cfg.short_rounds} rounds: test accuracy"]
print("1. plateau minus 30 rounds, test accuracy per seed:", ", ".join(f"{x:+.3f}" for x in gain))
for v in ("fixed recipe, 30-round global", "fixed recipe"):
    s = res["summary"][v]
    print(f"2. {v}: FT global {s['FT']['global']['mean']:.3f} vs "
          f"global model {s['Global model']['global']['mean']:.3f}")
etas = ", ".join(f"{r['variants']['tuned']['rows']['FT']['eta']:g}" for r in res["runs"])
n_unstable = sum(p["unstable"] for r in res["runs"] for p in r["grid"]["converged"])
print(f"3. tuned FT step sizes per seed: {etas}; unstable grid points: {n_unstable}")
