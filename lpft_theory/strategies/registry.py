"""Strategies by name, for the command line: ``build(name, cfg)`` reads the knobs it needs from ``cfg``
(any object with the attributes of :class:`lpft_theory.experiment.Config`)."""
from __future__ import annotations

from .core import ft, global_only, local_only, lp, lp_ft
from .fedpurel import purified_ft, residual
from .flooding import flooded
from .lora import lora_ft
from .regularized import proximal_ft, sparse_ft
from .soups import lss, soup
from .split import split_ft


def _probe(c):
    return lp(c.lp_mode, eta=c.lp_eta, steps=c.lp_steps, alpha=c.lp_alpha)


def _splits(c):
    text = str(c.split).strip()
    if text == "cycle":
        return text
    try:
        values = [int(s) for s in text.split(",")]
    except ValueError:
        raise ValueError(f"split must be 'cycle', an int or comma-separated ints, got {c.split!r}") from None
    return values if len(values) > 1 else values[0]


_BUILDERS = {
    "global": (lambda c: global_only(), "global model only, no personalization"),
    "local": (lambda c: local_only(c.eta, max(c.steps, 1)), "trained from scratch on local data (eta, steps)"),
    "ft": (lambda c: ft(c.eta, c.steps), "full fine-tuning: GD on all parameters from the global model"),
    "lp": (_probe, "linear probing: head only, body frozen (lp-mode exact|steps|partial)"),
    "lp-ft": (lambda c: lp_ft(c.eta, c.steps, _probe(c)), "linear probing, then full fine-tuning"),
    "proximal": (lambda c: proximal_ft(c.eta, c.steps, c.mu), "FT with (mu/2)||theta - theta_G||^2 (proximal step)"),
    "sparse": (lambda c: sparse_ft(c.eta, c.steps, c.sparsity), "FT of the weights SNIP keeps (sparsity = masked fraction)"),
    "soup": (lambda c: soup(c.eta, c.steps, c.soup_size), "uniform soup of soup-size FT runs from perturbed starts"),
    "lss": (lambda c: lss(c.eta, c.steps, n_verts=c.lss_verts, div=c.lss_div, aff=c.lss_aff),
            "Local Superior Soups: random interpolation + diversity + affinity"),
    "purified": (lambda c: purified_ft(c.eta, c.steps, c.purify_lam),
                 "FT with gradients purified against distillation toward the global model"),
    "residual": (lambda c: residual(c.eta, c.steps, c.residual_alpha),
                 "residual head on the frozen global model, logits summed (FedPuReL)"),
    "split": (lambda c: split_ft(c.eta, c.steps, _splits(c), c.align_lam, "kl" if c.task == "classification" else "mse"),
              "split FT: client layers up to s_k + head, aligned to the shared layers (FlexP-SFL)"),
    "lora": (lambda c: lora_ft(c.eta, c.steps, c.lora_rank),
             "LoRA: body W = W_G + A_1 A_2 of rank lora-rank (A_1 = 0, A_2 Gaussian), GD on factors and head"),
}

NAMES = tuple(_BUILDERS)


def build(name: str, cfg):
    if name not in _BUILDERS:
        raise ValueError(f"strategy must be one of {NAMES}, got {name!r}")
    strategy = _BUILDERS[name][0](cfg)
    return flooded(strategy, cfg.flood) if getattr(cfg, "flood", 0) > 0 else strategy


def describe() -> dict[str, str]:
    return {k: v[1] for k, v in _BUILDERS.items()}
