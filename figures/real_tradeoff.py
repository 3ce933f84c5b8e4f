"""Figure — real images: the Local–Global curve of every method over its grid (η × T × its own knob)."""
import numpy as np

from lpft_theory.empirical.experiment import METHODS, study

from ._style import PALETTE, figure

NAME = "real_tradeoff"
TITLE = "Digits: Local-Global curves over each method's grid (mean over seeds), upper frontier drawn"


def _key(p) -> str:
    knob = ",".join(f"{k}={v:g}" for k, v in sorted(p["knob"].items()))
    return f"{p['method']}|{knob}|eta={p['eta']:g}|T={p['T']}"


def frontier(points: list) -> list:
    """The upper-right (Pareto) frontier of (local, global) pairs, by increasing local."""
    out, best = [], -np.inf
    for x, y in sorted(points, key=lambda q: (-q[0], -q[1])):
        if y > best:
            out.append((x, y))
            best = y
    return out[::-1]


def compute(quick=True, seed=0):
    res = study(quick)
    runs = res["runs"]
    panels = {}
    for which in runs[0]["grid"]:
        cfgs = {}
        for r in runs:
            for p in r["grid"][which]:
                c = cfgs.setdefault(_key(p), {"method": p["method"], "local": [], "global": [], "unstable": 0})
                c["local"].append(p["local"])
                c["global"].append(p["global"])
                c["unstable"] += int(p["unstable"])
        pts = [{"config": k, "method": c["method"], "local": float(np.mean(c["local"])),
                "global": float(np.mean(c["global"])), "unstable_seeds": c["unstable"]} for k, c in cfgs.items()]
        variant = "tuned" if which == "converged" else "tuned, 30-round global"
        chosen = {}
        for v in (variant, "matched Local") if which == "converged" else (variant,):
            chosen[v] = {m: {k: float(np.mean([r["variants"][v]["rows"][m][k] for r in runs]))
                             for k in ("local", "global")} for m in METHODS}
        base = {k: float(np.mean([r["variants"][variant]["base"][k] for r in runs])) for k in ("local", "global")}
        panels[which] = {"points": pts, "chosen": chosen, "global_model": base,
                         "frontiers": {m: frontier([(p["local"], p["global"]) for p in pts
                                                    if p["method"] == m and not p["unstable_seeds"]]) for m in METHODS}}
    return {"config": res["config"], "panels": panels, "note": "test accuracy, mean over seeds per grid point; "
            "selection used validation data only; x = unstable (training loss rose) in at least one seed"}


def plot(data):
    names = list(data["panels"])
    fig, axes = figure(len(names), height=2.8, width=4.2 * len(names))  # each panel's title fits above it
    for ax, which in zip(axes, names):
        P = data["panels"][which]
        for i, m in enumerate(METHODS):
            col = PALETTE[i]
            pts = [p for p in P["points"] if p["method"] == m]
            st = [p for p in pts if not p["unstable_seeds"]]
            un = [p for p in pts if p["unstable_seeds"]]
            ax.scatter([p["local"] for p in st], [p["global"] for p in st], s=5, color=col, alpha=0.45, lw=0)
            ax.scatter([p["local"] for p in un], [p["global"] for p in un], s=8, color=col, marker="x", lw=0.6)
            f = np.array(P["frontiers"][m]) if P["frontiers"][m] else np.zeros((0, 2))
            ax.plot(f[:, 0], f[:, 1], "-", color=col, lw=1, label=m)
            for v, mk in zip(P["chosen"], ("o", "s")):
                c = P["chosen"][v][m]
                ax.plot(c["local"], c["global"], mk, color=col, ms=4.5, mfc="none", mew=0.9)
        g = P["global_model"]
        ax.plot(g["local"], g["global"], "*", color="black", ms=7, label="global model")
        # zoom on the stable configurations: unstable ones lie far below and would hide the frontiers
        st = [(p["local"], p["global"]) for p in P["points"] if not p["unstable_seeds"]] + [(g["local"], g["global"])]
        (x0, y0), (x1, y1) = np.min(st, 0), np.max(st, 0)
        ax.set_xlim(x0 - 0.08 * (x1 - x0), x1 + 0.08 * (x1 - x0))
        ax.set_ylim(y0 - 0.08 * (y1 - y0), y1 + 0.08 * (y1 - y0))
        n_out = sum(1 for p in P["points"] if p["unstable_seeds"] and not (x0 <= p["local"] and y0 <= p["global"]))
        ax.text(0.02, 0.02, f"{n_out} unstable configurations below the view", transform=ax.transAxes, fontsize=5.5)
        marks = " ".join(f"{'○' if k == 0 else '□'} {v.split(',')[0]}" for k, v in enumerate(P["chosen"]))
        ax.set(xlabel="local accuracy (own test split)", ylabel="global accuracy (other clients)",
               title=f"{'plateau' if which == 'converged' else '30-round'} global model ({marks}; x unstable)")
    fig.legend(*axes[0].get_legend_handles_labels(), fontsize=5, ncol=4, loc="outside lower center", frameon=False)
    return fig
