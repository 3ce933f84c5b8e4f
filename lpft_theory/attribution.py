"""Where a client's global-loss change comes from: the head, the features, or their interaction.

For a model with feature blocks ``B`` and head blocks ``V`` and a metric ``G`` (e.g. the loss on the
other clients' data), personalization moves ``(B_G, V_G) → (B_c, V_c)``. Evaluating the two hybrids
gives an exact decomposition

    Δ       = G(B_c, V_c) − G(B_G, V_G)
    head    = G(B_G, V_c) − G(B_G, V_G)      (new head on the global features)
    feature = G(B_c, V_G) − G(B_G, V_G)      (global head on the new features)
    interaction = Δ − head − feature

so ``head + feature + interaction = Δ`` holds to round-off by construction. Chen et al.'s mechanism
claim ("federated feature distortion causes the global drop") is the claim that ``feature`` (with the
interaction) carries the drop; LP alone has ``feature = interaction = 0``.
"""
from __future__ import annotations

import numpy as np

from . import _validate as Vd


def hybrid(features_from, head_from, n_head: int = 1) -> tuple:
    """The params with the feature blocks of ``features_from`` and the last ``n_head`` blocks of ``head_from``."""
    return tuple(features_from[:-n_head]) + tuple(head_from[-n_head:])


def _with_clients(params, C: int) -> tuple:
    """Copy client-free blocks onto the client axis (blocks of rank 2 have none)."""
    return tuple(np.broadcast_to(p, (C,) + p.shape[-2:]).copy() if np.ndim(p) == 2 else p for p in params)


def attribution(evaluate, params_G, params_c, n_head: int = 1) -> dict:
    """Head / feature / interaction parts of ``evaluate(params_c) − evaluate(params_G)`` (module docstring).

    ``params_G``: the global model (blocks without a client axis); ``params_c``: personalized params with a
    leading client axis ``C``. ``evaluate(params) → array (C,)``: the metric of every client's model
    (params with the client axis). ``n_head``: how many trailing blocks form the head. Returns arrays
    ``(C,)`` for ``base``, ``total``, ``head``, ``feature``, ``interaction``.
    """
    n_head = Vd.integer("n_head", n_head, min_value=1, max_value=len(params_G) - 1)
    if len(params_G) != len(params_c):
        raise ValueError(f"params_G and params_c must have the same blocks, got {len(params_G)} and {len(params_c)}")
    C = np.shape(params_c[-1])[0]
    G = _with_clients(params_G, C)
    base = np.asarray(evaluate(G), float)
    total = np.asarray(evaluate(tuple(params_c)), float) - base
    head = np.asarray(evaluate(hybrid(G, params_c, n_head)), float) - base
    feature = np.asarray(evaluate(hybrid(params_c, G, n_head)), float) - base
    return {"base": base, "total": total, "head": head, "feature": feature, "interaction": total - head - feature}


__all__ = ["attribution", "hybrid"]
