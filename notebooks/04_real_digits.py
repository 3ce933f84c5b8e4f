# %% [markdown]
# # 4 · Real digits: comparing FT, LP-FT and the rest fairly
#
# **Learning goals.**
# 1. Build federated clients from real 8×8 digit images in a regime where personalization matters (strong
#    per-client transforms, few images per client), with a validation split carved from every client's
#    training data.
# 2. Train the global model with FedAvg *to a validation plateau* (a stopping rule), not for a fixed small
#    number of rounds.
# 3. Compare personalization methods the way a careful reviewer would: the same grid for every method, stable
#    steps (a rising training loss is flagged), equal compute, tuning on validation data only, Global accuracy
#    at *matched* Local accuracy — and a positive control that shows the testbed can detect a difference.
# 4. Split each method's change of global accuracy into a head part, a feature part and their interaction.
#
# The run below is `lpft real --quick`'s configuration (`QUICK`: 3 seeds, 5 clients, an MLP); `lpft real` runs
# more seeds and clients, and `lpft reproduce` every shift with an MLP and a CNN. With three seeds the 95%
# intervals are wide: read the numbers as a demonstration of the method, not as a result.

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from lpft_theory.empirical.experiment import METHODS, QUICK, run_real
from lpft_theory.stats import mean_ci

# show the plots inline in Jupyter (the figures package selects a file-only backend when it is imported):
# %matplotlib inline

cfg = QUICK
res = run_real(cfg)
print("regime:", res["regime"]["reason"])
meta = res["runs"][0]["meta"]
clients = pd.DataFrame({"transform": meta["clients"], "training images": meta["train_sizes"],
                        "validation images": meta["val_sizes"]}, index=pd.Index(range(cfg.clients), name="client"))
print(clients.to_string())

# %% [markdown]
# ## The global model
# FedAvg stops when the clients' validation loss stops falling (`cfg.patience` checks, `cfg.chunk` rounds
# apart), or at `cfg.max_rounds`. The model after `cfg.short_rounds` rounds — what an older protocol used — is
# kept for reference.

# %%
global_models = pd.DataFrame(
    [{"seed": r["seed"], "plateau: rounds": r["global_models"]["converged"]["rounds"],
      "plateau: test accuracy": r["global_models"]["converged"]["test_acc"],
      f"{cfg.short_rounds} rounds: test accuracy": r["global_models"]["short"]["test_acc"]} for r in res["runs"]]
).set_index("seed")
print(global_models.to_string(float_format="{:.3f}".format))

fig, ax = plt.subplots(figsize=(5, 3), constrained_layout=True)
for r in res["runs"]:
    rounds, val_loss = np.array(r["global_models"]["converged"]["curve"]).T
    ax.plot(rounds, val_loss, marker="o", ms=3, label=f"seed {r['seed']}")
ax.axvline(cfg.short_rounds, color="k", ls=":", label=f"{cfg.short_rounds} rounds")
ax.set(xlabel="FedAvg rounds", ylabel="validation cross-entropy", title="FedAvg to a validation plateau")
ax.legend(fontsize=7)
plt.show()

# %% [markdown]
# ## The protocol variants
# Every method gets the same grid (step sizes × step counts × two values of its own knob); `T` counts gradient
# evaluations per client. Each variant is a rule that picks one grid point per method:
# * *fixed recipe* — the papers' recipe, one η and `T`: LP-FT gets `T` LP steps *and* `T` FT steps, a soup `M`
#   ingredients of `T` steps (not equal compute);
# * *equal budget* — every method at one η and `T` gradient evaluations;
# * *tuned* — each method's stable point with the best mean validation Local (each client's own data only);
# * *matched local* — each method's stable point closest above a common validation Local.
#
# **Mix** (WiSE-FT: `θ = (1 − a)θ_FT + a θ_G`) is the positive control: a method known to keep more of the
# global model than FT. If the testbed cannot see Mix beat FT on Global, it cannot see anything subtler.
# Test accuracies, mean over seeds; "unstable" is the fraction of seeds whose selected run's training loss rose.

# %%
for variant, table in res["summary"].items():
    rows = {name: {"local": m["local"]["mean"], "global": m["global"]["mean"],
                   "Δ_c": m["delta_c"]["mean"] if "delta_c" in m else float("nan"),
                   "unstable": m.get("frac_seeds_unstable", 0.0)} for name, m in table.items()}
    print(f"\n[{variant}]")
    print(pd.DataFrame(rows).T.rename_axis("method").to_string(float_format="{:.3f}".format, na_rep="—"))

# %% [markdown]
# The same comparison as one picture: each method's **global accuracy minus the global model's**, paired seed
# by seed, under each protocol (small dots: the seeds; large marker: their mean). A method that looks better
# than another under one protocol may tie with it under another.

# %%
variants = list(res["runs"][0]["variants"])


def delta_global(variant, method):
    """Per seed: the method's global test accuracy minus the global model's, under ``variant``."""
    out = []
    for r in res["runs"]:
        v = r["variants"][variant]
        row = v["control"]["Mix"] if method == "Mix" else v["rows"][method]
        out.append(row["global"] - v["base"]["global"])
    return np.array(out)


shown = list(METHODS) + ["Mix"]
fig, ax = plt.subplots(figsize=(7, 3.8), constrained_layout=True)
for j, variant in enumerate(variants):
    y = np.arange(len(shown)) + (j - (len(variants) - 1) / 2) * 0.18
    deltas = np.array([delta_global(variant, m) for m in shown])  # methods × seeds
    ax.plot(deltas, np.repeat(y[:, None], deltas.shape[1], axis=1), ".", ms=3, color=f"C{j}", alpha=0.5)
    ax.plot(deltas.mean(axis=1), y, "o", ms=5, color=f"C{j}", label=variant)
ax.axvline(0, color="k", lw=0.6)
ax.set_yticks(range(len(shown)), [m if m != "Mix" else "Mix (control)" for m in shown])
ax.invert_yaxis()
ax.set(xlabel="Δ global accuracy vs the global model", title="One comparison, four protocols")
fig.legend(fontsize=7, loc="outside right center")
plt.show()

# %% [markdown]
# ## Where the global change comes from
# For each method, the exact identity `total = head + feature + interaction` evaluates the hybrids (global body,
# personal head) and (personal body, global head). LP moves no feature, so its whole change is the head part.

# %%
parts = ("head", "feature", "interaction")
attribution = pd.DataFrame(
    {name: {k: np.mean([r["variants"]["tuned"]["attribution"][name][k] for r in res["runs"]])
            for k in ("total",) + parts} for name in METHODS}).T.rename_axis("method (tuned)")
print(attribution.to_string(float_format="{:+.4f}".format))

fig, ax = plt.subplots(figsize=(6.5, 3), constrained_layout=True)
x = np.arange(len(METHODS))
for j, part in enumerate(parts):
    ax.bar(x + (j - 1) * 0.25, attribution[part], 0.25, label=part)
totals = {m: mean_ci([r["variants"]["tuned"]["attribution"][m]["total"] for r in res["runs"]]) for m in METHODS}
mean = np.array([totals[m]["mean"] for m in METHODS])
err = [mean - [totals[m]["lo"] for m in METHODS], [totals[m]["hi"] for m in METHODS] - mean]
ax.errorbar(x, mean, yerr=err, fmt="D", color="k", ms=3, capsize=2, lw=0.8, label="total (95% t-interval)")
ax.axhline(0, color="0.3", lw=0.6)
ax.set_xticks(x, METHODS)
ax.set(ylabel="Δ global accuracy", title="Head, feature and interaction parts (tuned)")
ax.legend(fontsize=7)
plt.show()

# %% [markdown]
# ## Exercises
# 1. How much higher is the plateau global model's test accuracy than the 30-round model's (per seed)?
# 2. Under the fixed recipe, does FT lower Global? And at matched local?
# 3. Which step sizes did tuning choose for FT, and how many grid points were flagged unstable?
# 4. Did the testbed detect the positive control (Mix above FT on Global) under each protocol?

# %%
# Your answers here.

# %% [markdown] tags=["solution"]
# ## Solutions

# %% tags=["solution"]
gain = global_models["plateau: test accuracy"] - global_models[f"{cfg.short_rounds} rounds: test accuracy"]
print("1. plateau minus 30 rounds, test accuracy per seed:", ", ".join(f"{x:+.3f}" for x in gain))
for v in ("fixed recipe", "matched local"):
    s = res["summary"][v]
    print(f"2. {v}: FT global {s['FT']['global']['mean']:.3f} vs "
          f"global model {s['Global model']['global']['mean']:.3f}")
etas = ", ".join(f"{r['variants']['tuned']['rows']['FT']['eta']:g}" for r in res["runs"])
n_points = sum(len(r["grid"]["converged"]) for r in res["runs"])
n_unstable = sum(p["unstable"] for r in res["runs"] for p in r["grid"]["converged"])
print(f"3. tuned FT step sizes per seed: {etas}; unstable grid points: {n_unstable} of {n_points}")
for v in variants:
    d = mean_ci(delta_global(v, "Mix") - delta_global(v, "FT"))
    print(f"4. {v}: Mix − FT global {d['mean']:+.3f} [{d['lo']:+.3f}, {d['hi']:+.3f}] ->",
          "detected" if d["lo"] > 0 else "not detected")
