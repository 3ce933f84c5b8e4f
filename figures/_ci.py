"""Intervals the figures draw, computed here (per-seed Student-t intervals), stored in the figure JSON and
identical on every rerun (no unseeded bootstrap)."""
from __future__ import annotations

import numpy as np

from lpft_theory.stats import mean_ci


def group_ci(rows, value: str, by: tuple) -> list:
    """Mean and 95% t-interval over seeds of ``row[value]`` for every combination of the ``by`` fields
    (one number per seed and group), in first-appearance order."""
    groups = {}
    for r in rows:
        groups.setdefault(tuple(r[k] for k in by), []).append(r[value])
    return [{**dict(zip(by, key)), **{k: v for k, v in mean_ci(vals).items() if k in ("mean", "lo", "hi", "n")}}
            for key, vals in groups.items()]


def errorbars(ax, cis: list, x_of, label: str, color, marker="o", offset: float = 0.0, **kw):
    """Points at ``x_of(ci) + offset`` with their intervals as error bars."""
    x = np.array([x_of(c) for c in cis], float) + offset
    m = np.array([c["mean"] for c in cis])
    lo, hi = np.array([c["lo"] for c in cis]), np.array([c["hi"] for c in cis])
    ax.errorbar(x, m, yerr=[m - lo, hi - m], fmt=marker + "-", color=color, label=label, ms=3, lw=1, capsize=2, **kw)
