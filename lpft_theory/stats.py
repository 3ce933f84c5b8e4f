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
    return {"mean": m, "lo": m - h, "hi": m + h, "n": int(n), "level": level}


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
