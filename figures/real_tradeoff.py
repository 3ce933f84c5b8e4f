"""Figure — real images: the Local–Global curve of every method over its grid (η × T × its own knob)."""
import numpy as np

from lpft_theory.empirical.experiment import METHODS, study

from ._style import figure, method_style

NAME = "real_tradeoff"
PICK = {"matched local": "o", "tuned": "s"}  # the point each protocol picks, by its name before any ", ..."
TITLE = "Digits (concept shift, MLP): Local-Global curves over each method's grid (mean over seeds), upper frontier drawn"


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
    res = study(quick, "concept", "mlp")  # the regime with room to personalize (Local gain available ~0.4)
    runs = res["runs"]
    panels = {}
    for which in runs[0]["grid"]:
        cfgs = {}
        for r in runs:
            for p in r["grid"][which]:
                if p["method"] not in METHODS:  # the positive control (Mix) is not a method compared here
                    continue
                c = cfgs.setdefault(_key(p), {"method": p["method"], "local": [], "global": [], "unstable": 0})
                c["local"].append(p["local"])
                c["global"].append(p["global"])
                c["unstable"] += int(p["unstable"])
        pts = [{"config": k, "method": c["method"], "local": float(np.mean(c["local"])),
                "global": float(np.mean(c["global"])), "unstable_seeds": c["unstable"]} for k, c in cfgs.items()]
        variant = "tuned"
        chosen = {}
        for v in (variant, "matched local"):  # matched local: each method read at the common level (at_level)
            pick = (lambda row: row["at_level"]) if v == "matched local" else (lambda row: row)
            chosen[v] = {m: {k: float(np.mean([pick(r["variants"][v]["rows"][m])[k] for r in runs]))
                             for k in ("local", "global")} for m in METHODS}
        base = {k: float(np.mean([r["variants"][variant]["base"][k] for r in runs])) for k in ("local", "global")}
        panels[which] = {"points": pts, "chosen": chosen, "global_model": base,
                         "frontiers": {m: frontier([(p["local"], p["global"]) for p in pts
                                                    if p["method"] == m and not p["unstable_seeds"]]) for m in METHODS}}
    return {"config": res["config"], "panels": panels, "note": "test accuracy, mean over seeds per grid point; "
            "selection used validation data only; x = unstable (training loss rose) in at least one seed"}


def place_star(box: tuple, point: tuple, reach: float = 0.3):
    """Where the global model's ★ goes in the view ``box = ((x0, y0), (x1, y1))``: ``("in", box')`` with the box
    grown to hold it when it lies within ``reach`` times the box's size of it; else ``("edge", (u, v))``, the unit
    direction (in fractions of the box) from the box's centre toward it: far-away points would squash the
    frontiers into a corner, so an arrow at the view's edge points to them instead."""
    (x0, y0), (x1, y1) = box
    px, py = point
    wx, wy = x1 - x0, y1 - y0
    if x0 - reach * wx <= px <= x1 + reach * wx and y0 - reach * wy <= py <= y1 + reach * wy:
        return "in", ((min(x0, px), min(y0, py)), (max(x1, px), max(y1, py)))
    u, v = (px - (x0 + x1) / 2) / wx, (py - (y0 + y1) / 2) / wy
    n = float(np.hypot(u, v))
    return "edge", (u / n, v / n)


def plot(data):
    from matplotlib.lines import Line2D

    names = list(data["panels"])
    fig, axes = figure(len(names), height=3.1, width=max(4.2 * len(names), 4.6))  # each panel's title fits above it
    for ax, which in zip(axes, names):
        P = data["panels"][which]
        for m in METHODS:
            st = method_style(m)
            col = st["color"]
            pts = [p for p in P["points"] if p["method"] == m]
            stable = [p for p in pts if not p["unstable_seeds"]]
            un = [p for p in pts if p["unstable_seeds"]]
            ax.scatter([p["local"] for p in stable], [p["global"] for p in stable], s=14, color=col, marker=st["marker"],
                       alpha=0.7, lw=0.3, edgecolors="white", zorder=2)
            ax.scatter([p["local"] for p in un], [p["global"] for p in un], s=12, color=col, marker="x", lw=0.7, zorder=2)
            f = np.array(P["frontiers"][m]) if P["frontiers"][m] else np.zeros((0, 2))
            ax.plot(f[:, 0], f[:, 1], "-", color=col, lw=1.3, zorder=3, label=m)
            for v in P["chosen"]:
                c, mk = P["chosen"][v][m], PICK[v.split(",")[0]]
                ax.plot(c["local"], c["global"], mk, color=col, ms=6, mfc="none", mew=1.1, zorder=4)
        # zoom on the stable configurations: unstable ones lie far below and would hide the frontiers
        g = P["global_model"]
        st = [(p["local"], p["global"]) for p in P["points"] if not p["unstable_seeds"]]
        st += [(c["local"], c["global"]) for ch in P["chosen"].values() for c in ch.values()]
        kind, where = place_star((tuple(np.min(st, 0)), tuple(np.max(st, 0))), (g["local"], g["global"]))
        (x0, y0), (x1, y1) = where if kind == "in" else (np.min(st, 0), np.max(st, 0))
        ax.set_xlim(x0 - 0.08 * (x1 - x0), x1 + 0.08 * (x1 - x0))
        ax.set_ylim(y0 - 0.08 * (y1 - y0), y1 + 0.08 * (y1 - y0))
        if kind == "in":
            ax.plot(g["local"], g["global"], "*", color="black", ms=10, mec="white", mew=0.5, zorder=5)
        else:  # off the view by design: an arrow at the view's edge points to it, labelled with its coordinates
            u, v = where
            k = 0.46 / max(abs(u), abs(v))  # from the centre (0.5, 0.5) of the axes to just inside the edge
            head = (0.5 + k * u, 0.5 + k * v)
            ax.annotate(f"global model \u2605\n({g['local']:.3f}, {g['global']:.3f})", head, xycoords="axes fraction",
                        xytext=(head[0] - 0.2 * u, head[1] - 0.2 * v), textcoords="axes fraction", fontsize=5.5,
                        ha="center", va="center", arrowprops={"arrowstyle": "-|>", "lw": 0.9, "color": "k"}, zorder=5)
        x0_, y0_ = ax.get_xlim()[0], ax.get_ylim()[0]
        n_out = sum(1 for p in P["points"] if p["unstable_seeds"] and not (x0_ <= p["local"] and y0_ <= p["global"]))
        ax.text(0.98, 0.02, f"{n_out} unstable configurations below the view", transform=ax.transAxes, fontsize=5.5,
                ha="right")
        ax.set(xlabel="local accuracy (own test split)", ylabel="global accuracy (other clients)",
               title=f"{'plateau' if which == 'converged' else '30-round'} global model")
    keys = [Line2D([], [], ls="none", marker="*", color="black", ms=8, label="global model"),
            Line2D([], [], ls="none", marker="o", color="0.4", ms=3, alpha=0.6, label="grid point (mean over seeds)"),
            Line2D([], [], ls="none", marker="x", color="0.4", ms=4, label="unstable in a seed")]
    keys += [Line2D([], [], ls="none", marker=mk, color="0.2", mfc="none", ms=6, label=f"pick: {v}")
             for v, mk in PICK.items()]
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles + keys, labels + [k.get_label() for k in keys], fontsize=5.5, ncol=4 if len(names) == 1 else 7,
               loc="outside lower center", frameon=False, title="colour: method; line: its upper frontier",
               title_fontsize=6)
    return fig
