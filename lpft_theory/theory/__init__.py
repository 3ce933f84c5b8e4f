"""Closed forms, bounds and symbolic derivations, one module per paper."""
