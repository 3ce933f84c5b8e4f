"""Every theory figure: one module each (``compute`` → numbers, ``plot`` → figure) and a registry.

``lpft figures`` renders them all; ``python -m figures.<name>`` renders one.
"""
from __future__ import annotations

import importlib

from . import _style

NAMES = [
    "kumar_toy", "kumar_bound", "lemma43", "phase_diagram", "lambda_star", "overlap",  # theorems and bounds
    "overfitting", "distortion_scatter", "flooding", "longtail", "split",  # synthetic empirical analogues
    "fedavg_angles",  # what FedAvg learns
    "real_digits",  # real images
]
FORMATS = ("png", "pdf", "svg")


def module(name: str):
    if name not in NAMES:
        raise ValueError(f"figure must be one of {NAMES}, got {name!r}")
    return importlib.import_module(f"figures.{name}")


def render(name: str, out_dir, formats=("png",), quick: bool = True, seed: int = 0, overwrite: bool = True) -> list:
    """Compute, plot and save one figure with its numbers and resolved configuration."""
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise ValueError(f"formats must be a non-empty subset of {FORMATS}, got {list(formats)}")
    mod = module(name)
    data = mod.compute(quick=quick, seed=seed)
    fig = mod.plot(data)
    fig.suptitle(mod.TITLE, fontsize=7)
    config = {"figure": name, "title": mod.TITLE, "quick": quick, "seed": seed, **data.get("config", {})}
    return _style.save(fig, out_dir, name, data, config, formats, overwrite)


__all__ = ["NAMES", "FORMATS", "module", "render"]
