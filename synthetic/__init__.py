"""Synthetic federated scenarios; each returns data AND ground truth (see :class:`Scenario`)."""
from .base import Scenario, linear_gaussian, orthonormal_rows
from .classes import LongTail, label_shift, long_tail, long_tail_counts
from .concept import concept_shift, idealised_init, overlap_directions, partial_overlap
from .covariate import GEOMETRIES, combined_shift, covariate_shift, shift_vectors
from .kumar import kumar, ood_loss

#: Scenarios that ``lpft simulate`` can build by name (regression ones share the two-layer engine).
SCENARIOS = {
    "concept": concept_shift,
    "covariate": covariate_shift,
    "combined": combined_shift,
    "overlap": partial_overlap,
    "label": label_shift,
    "longtail": long_tail,
    "kumar": kumar,
}

__all__ = [
    "Scenario", "LongTail", "SCENARIOS", "GEOMETRIES", "concept_shift", "partial_overlap", "covariate_shift",
    "combined_shift", "label_shift", "long_tail", "long_tail_counts", "kumar", "ood_loss", "idealised_init",
    "overlap_directions", "shift_vectors", "linear_gaussian", "orthonormal_rows",
]
