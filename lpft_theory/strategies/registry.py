"""Strategies by name, for the command line: ``build(name, cfg)`` reads the knobs it needs from ``cfg``."""
from __future__ import annotations

from .core import ft, global_only, local_only, lp, lp_ft

_LP_KW = lambda c: dict(eta=c.lp_eta, steps=c.lp_steps, alpha=c.lp_alpha)  # noqa: E731

_BUILDERS = {
    "global": (lambda c: global_only(), "global model only, no personalization"),
    "local": (lambda c: local_only(c.eta, max(c.steps, 1)), "trained from scratch on local data (eta, steps)"),
    "ft": (lambda c: ft(c.eta, c.steps), "full fine-tuning: GD on all parameters from the global model"),
    "lp": (lambda c: lp(c.lp_mode, **_LP_KW(c)), "linear probing: head only, body frozen (lp_mode exact|steps|partial)"),
    "lp-ft": (lambda c: lp_ft(c.eta, c.steps, lp(c.lp_mode, **_LP_KW(c))), "linear probing, then full fine-tuning"),
}

NAMES = tuple(_BUILDERS)


def build(name: str, cfg):
    if name not in _BUILDERS:
        raise ValueError(f"strategy must be one of {NAMES}, got {name!r}")
    return _BUILDERS[name][0](cfg)


def describe() -> dict[str, str]:
    return {k: v[1] for k, v in _BUILDERS.items()}
