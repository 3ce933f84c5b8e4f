"""Effect sizes with confidence intervals (statistical claims are never judged on one run)."""
from __future__ import annotations

import numpy as np
from scipy import stats as st

from .rng import as_generator


def mean_ci(x, level: float = 0.95) -> dict:
    """Mean with a Student-t interval: ``x̄ ± t_{n−1} s/√n`` (n >= 2)."""
    x = np.asarray(x, dtype=float)
    n = x.size
    if n < 2:
        raise ValueError(f"mean_ci needs at least 2 values, got {n}")
    m, se = float(x.mean()), float(x.std(ddof=1) / np.sqrt(n))
    h = float(st.t.ppf(0.5 + level / 2, n - 1) * se)
    return {"mean": m, "lo": m - h, "hi": m + h, "n": int(n), "level": level, "se": se, "df": int(n - 1)}


def standard_error(e: dict) -> tuple[float, float]:
    """``(se, df)`` of an interval estimate: stored by :func:`mean_ci`, else recovered from a Student-t
    interval ``mean ± t_{df} se`` with ``df = n − 1`` (``level`` defaults to 0.95)."""
    if "se" in e and "df" in e:
        return float(e["se"]), float(e["df"])
    n = int(e.get("n", 0))
    if n < 2:
        raise ValueError(f"an interval estimate needs n >= 2 to recover its standard error, got {e}")
    level = float(e.get("level", 0.95))
    t = float(st.t.ppf(0.5 + level / 2, n - 1))
    return float((e["hi"] - e["lo"]) / (2 * t)), float(n - 1)


def one_sided_p(mean: float, se: float, df: float, greater: bool = True, shift: float = 0.0) -> float:
    """p-value of the t-test of ``H0: μ <= shift`` (``greater``) or ``H0: μ >= shift`` (otherwise).

    A zero standard error (every paired difference equal) decides by the sign of ``mean − shift`` alone."""
    z = mean - shift if greater else shift - mean
    if se <= 0:
        return 0.0 if z > 0 else 1.0
    return float(st.t.sf(z / se, df))


def holm(pvalues: dict, alpha: float = 0.05) -> dict:
    """Holm's step-down procedure over one family: ``{key: rejected}`` at family-wise error ``alpha``.

    Sorted ``p_(1) <= … <= p_(m)``; reject ``H_(i)`` while ``p_(i) < alpha / (m − i + 1)`` (strict: a p-value at
    the level, e.g. an interval that ends exactly at 0, does not reject)."""
    order = sorted(pvalues, key=lambda k: pvalues[k])
    m, out, going = len(order), {}, True
    for i, k in enumerate(order):
        going = going and pvalues[k] < alpha / (m - i)
        out[k] = going
    return out


def minimum_detectable_effect(se: float, df: float, alpha: float = 0.05, power: float = 0.8) -> float:
    """Smallest true effect a one-sided level-``alpha`` t-test detects with probability ``power``:
    ``(t_{1−α} + t_{power}) · se`` (the usual normal-approximation form with Student quantiles)."""
    return float((st.t.ppf(1 - alpha, df) + st.t.ppf(power, df)) * se)


def paired_difference(a, b, level: float = 0.95) -> dict:
    """``a − b`` paired over seeds/instances: mean, t-interval, and the fraction with ``a > b``."""
    d = np.asarray(a, float) - np.asarray(b, float)
    out = mean_ci(d, level)
    out["frac_positive"] = float(np.mean(d > 0))
    return out


def spearman_ci(x, y, n_boot: int = 2000, level: float = 0.95, rng=0) -> dict:
    """Spearman's ρ with a percentile bootstrap interval over (x, y) pairs."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    rho = float(st.spearmanr(x, y).statistic)
    g = as_generator(rng)
    idx = g.integers(0, x.size, size=(n_boot, x.size))
    boots = np.array([st.spearmanr(x[i], y[i]).statistic for i in idx])
    boots = boots[np.isfinite(boots)]
    lo, hi = np.quantile(boots, [(1 - level) / 2, (1 + level) / 2])
    return {"rho": rho, "lo": float(lo), "hi": float(hi), "n": int(x.size), "level": level}


def spearman_by_seed(x, y, seeds, level: float = 0.95) -> dict:
    """Spearman's ρ computed within each seed, then a t-interval over the per-seed values.

    Points that share a seed (strategies, step counts, clients of one run) are dependent; one number
    per seed keeps the interval honest (``spearman_ci`` over pooled points would treat them as
    independent). Seeds with fewer than 3 points or a constant coordinate are skipped.
    """
    x, y, seeds = np.asarray(x, float), np.asarray(y, float), np.asarray(seeds)
    if not (x.shape == y.shape == seeds.shape) or x.ndim != 1:
        raise ValueError(f"x, y and seeds must be 1-d of one length, got {x.shape}, {y.shape}, {seeds.shape}")
    per = []
    for s in np.unique(seeds):
        m = seeds == s
        if m.sum() >= 3 and np.ptp(x[m]) > 0 and np.ptp(y[m]) > 0:
            per.append(float(st.spearmanr(x[m], y[m]).statistic))
    out = mean_ci(per, level)
    out["lo"], out["hi"] = max(out["lo"], -1.0), min(out["hi"], 1.0)  # ρ lives in [−1, 1]; the t-interval may not
    out["rho_per_seed"] = per
    return out


def best_of(values: dict, higher_is_better: bool = True, level: float = 0.95) -> dict:
    """Which method is best, judged by paired intervals over seeds.

    ``values``: method → one number per seed (the same seeds, in the same order, for every method).
    ``best`` is the method with the best mean *only if* its paired interval against every competitor
    excludes 0 on the right side; otherwise ``best`` is None and ``tied`` lists the methods whose
    interval against the top mean contains 0. ``vs`` holds the paired differences top − other.
    """
    if len(values) < 2:
        raise ValueError(f"best_of needs at least 2 methods, got {list(values)}")
    n = {k: len(v) for k, v in values.items()}
    if len(set(n.values())) != 1:
        raise ValueError(f"every method needs one value per seed (same seeds), got counts {n}")
    sign = 1.0 if higher_is_better else -1.0
    means = {k: float(np.mean(v)) for k, v in values.items()}
    top = max(means, key=lambda k: sign * means[k])
    vs = {k: paired_difference(values[top], v, level) for k, v in values.items() if k != top}
    clear = {k: (sign * d["lo"] > 0) if sign > 0 else (sign * d["hi"] > 0) for k, d in vs.items()}
    return {"top_mean": top, "best": top if all(clear.values()) else None,
            "tied": [top] + [k for k, c in clear.items() if not c], "vs": vs, "means": means}
