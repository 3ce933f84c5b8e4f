"""Personalized fine-tuning strategies, each a small factory returning a :class:`Strategy`.

| factory | update |
| --- | --- |
| :func:`global_only` | ``θ_i = θ_G`` |
| :func:`local_only` | GD from a random init on local data |
| :func:`ft` | ``θ ← θ − η∇L_i(θ)`` from ``θ_G`` |
| :func:`lp` | head only: exact, k steps, or a fraction α of the way |
| :func:`lp_ft` | LP, then FT |
| :func:`proximal_ft` | ``θ ← (θ − η∇L_i + ημθ_G)/(1 + ημ)`` |
| :func:`sparse_ft` | ``θ ← θ − η M_SNIP ⊙ ∇L_i`` |
| :func:`soup` | mean of M fine-tuned ingredients |
| :func:`lss` | Local Superior Soups (interpolation, diversity, affinity) |
| :func:`purified_ft` | FT with gradients projected off conflicts with distillation |
| :func:`residual` | local head on the frozen global model, logits summed |
| :func:`split_ft` | client-owned layers up to ``s_k`` + head, alignment ``λ·A_k`` |
| :func:`flooded` | any strategy with ``∇L → sign(L − b)∇L`` |
| :func:`lora_ft` | body ``W = W_G + A_1A_2`` (rank r), GD on the factors and the head |
| :func:`surgical_ft` | GD on chosen blocks only; :func:`first_layer_ft` the first layer alone |
"""
from . import registry
from .base import Strategy, broadcast_clients, n_clients
from .core import exact_head, ft, global_only, local_only, lp, lp_ft
from .fedpurel import prototype_head, purified_ft, purify, residual, teacher_data
from .flooding import flood, flooded
from .lora import lora, lora_factors, lora_ft
from .regularized import proximal, proximal_ft, snip_masks, sparse_ft
from .soups import lss, soup
from .split import alignment_grads, split_ft
from .surgical import first_layer_ft, surgical_ft

__all__ = ["Strategy", "broadcast_clients", "n_clients", "exact_head", "ft", "global_only", "local_only", "lp",
           "lp_ft", "prototype_head", "purified_ft", "purify", "residual", "teacher_data", "flood", "flooded",
           "proximal", "proximal_ft", "snip_masks", "sparse_ft", "lss", "soup", "alignment_grads", "split_ft",
           "lora", "lora_factors", "lora_ft", "surgical_ft", "first_layer_ft", "registry"]
