"""Shared timing helpers for the benchmarks: interleaved repeats, the environment, a STREAM-like roofline.

Timing on a shared machine is noisy, so every comparison is *interleaved*: each repeat runs every
contender once, in a rotating order, so that a burst of load hits all of them alike. Reported per
contender: the min (the least-disturbed run) and the median; per comparison, the ratio of mins and the
median of the per-repeat ratios.
"""
from __future__ import annotations

import os
import platform
import statistics
import time

import numpy as np


def clock(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def interleaved(contenders: dict, repeats: int = 5, warmup: bool = True) -> dict:
    """``{name: fn}`` → ``{name: {"min_s", "median_s", "runs_s"}}``, timed in rotating order."""
    names = list(contenders)
    if warmup:
        for n in names:
            contenders[n]()
    runs = {n: [] for n in names}
    for r in range(repeats):
        for i in range(len(names)):
            n = names[(i + r) % len(names)]
            runs[n].append(clock(contenders[n]))
    return {n: {"min_s": min(v), "median_s": statistics.median(v), "runs_s": v} for n, v in runs.items()}


def ratio(times: dict, slow: str, fast: str) -> dict:
    """How many times faster ``fast`` is than ``slow``: ratio of mins and median of per-repeat ratios."""
    per = [a / b for a, b in zip(times[slow]["runs_s"], times[fast]["runs_s"])]
    return {"of_min": times[slow]["min_s"] / times[fast]["min_s"], "median": statistics.median(per)}


def environment() -> dict:
    from threadpoolctl import threadpool_info

    from lpft_theory import threads

    env = {"machine": platform.machine(), "processor": platform.processor(), "cpus": os.cpu_count(),
           "python": platform.python_version(), "numpy": np.__version__, "lpft_threads": threads.count(),
           "blas_threads": sorted({p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"}),
           "date": time.strftime("%Y-%m-%d %H:%M")}
    try:
        import torch

        env["torch"], env["torch_threads"] = torch.__version__, torch.get_num_threads()
    except ImportError:  # pragma: no cover
        pass
    return env


def bandwidth(mib: int = 256, repeats: int = 5) -> dict:
    """STREAM-like memory bandwidth (bytes moved / s) on arrays far larger than the caches:
    ``scale`` (``a ← s·a`` in place: read + write one array — the access pattern of an in-place GD
    update), ``copy`` (``a ← b``) and ``triad`` (``a ← b + s·c``, numpy needs two passes: counted as the
    bytes of one ideal pass, so it is a lower bound)."""
    n = mib * 2 ** 20 // 8
    a, b, c = np.ones(n), np.ones(n), np.ones(n)
    nbytes = a.nbytes
    t = interleaved({"scale": lambda: np.multiply(a, 1.0000001, out=a),
                     "copy": lambda: np.copyto(a, b),
                     "triad": lambda: np.add(b, np.multiply(c, 0.5, out=a), out=a)}, repeats)
    moved = {"scale": 2 * nbytes, "copy": 2 * nbytes, "triad": 3 * nbytes}
    return {k: {"GB_s_best": moved[k] / t[k]["min_s"] / 1e9, "GB_s_median": moved[k] / t[k]["median_s"] / 1e9}
            for k in t} | {"array_MiB": mib}
