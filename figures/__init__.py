"""Every theory figure: one module each (``compute`` → numbers, ``plot`` → figure) and a registry.

``lpft figures`` renders them all; ``python -m figures.<name>`` renders one. Saved files are byte-identical
on a rerun with the same seed (fixed file metadata in ``_style.save``; every random draw seeded).
"""
from __future__ import annotations

import importlib

NAMES = [
    "kumar_toy", "kumar_bound", "lemma43", "phase_diagram", "pareto_frontier", "lambda_star", "overlap",  # theorems and bounds
    "overfitting", "distortion_scatter", "flooding", "longtail", "split", "local_global", "attribution",  # synthetic empirical analogues
    "fedavg_angles", "collins_phase", "lpft_distortion", "ren_energy", "lora_kernel",  # what FedAvg learns
    "real_digits", "real_tradeoff", "real_attribution",  # real images
    "forgetting", "surgical", "lora_fed", "transfer",  # forgetting, which block, federated LoRA, transfer
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
    from . import _style  # here, not at the top: listing figures (lpft --help) needs no matplotlib

    mod = module(name)
    data = mod.compute(quick=quick, seed=seed)
    fig = mod.plot(data)
    _style.suptitle(fig, mod.TITLE, fontsize=8)
    config = {"figure": name, "title": mod.TITLE, "quick": quick, "seed": seed, **data.get("config", {})}
    return _style.save(fig, out_dir, name, data, config, formats, overwrite)


__all__ = ["NAMES", "FORMATS", "module", "render"]
