"""Personalized fine-tuning strategies, each a small factory returning a :class:`Strategy`."""
from .base import Strategy, broadcast_clients, n_clients
from . import registry
from .core import exact_head, ft, global_only, local_only, lp, lp_ft

__all__ = ["Strategy", "broadcast_clients", "n_clients", "exact_head", "ft", "global_only", "local_only", "lp",
           "lp_ft"]
