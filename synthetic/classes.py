"""Classification scenarios: label shift and a globally long-tailed, non-IID split.

Both use Gaussian class-conditionals ``x | y=c ~ N(μ_c, σ² I_d)`` with class means
``μ_c = sep · q_c`` (``q_c`` orthonormal), shared by every client (``P(x|y)`` fixed), and differ only
in the class proportions ``π_i``. Population moments with one-hot targets are exact:

    Σ_i = σ² I + Σ_c π_ic μ_c μ_cᵀ,   C_i = [π_ic μ_c]_c  (d × K),   s_i = 1.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lpft_theory import _validate as V
from lpft_theory.data import Moments, Samples
from lpft_theory.rng import as_generator, spawn

from .base import Scenario, orthonormal_rows


def _class_moments(means: np.ndarray, props: np.ndarray, sigma: float) -> Moments:
    d = means.shape[1]
    Sigma = sigma ** 2 * np.eye(d) + np.einsum("ic,cd,ce->ide", props, means, means)
    C = np.einsum("ic,cd->idc", props, means)
    return Moments(Sigma, C, np.ones(props.shape[0]))


def _draw(means, sigma, labels, g):
    return means[labels] + sigma * g.standard_normal((labels.shape[0], means.shape[1]))


def _sampler(means, sigma, props):
    """Client i draws ``y ~ π_i`` then ``x ~ N(μ_y, σ²I)``."""
    n_clients, K = props.shape

    def sample(n, gens):
        X = np.empty((n_clients, n, means.shape[1]))
        Y = np.empty((n_clients, n), dtype=np.int64)
        for i, gi in enumerate(gens):
            Y[i] = gi.choice(K, size=n, p=props[i])
            X[i] = _draw(means, sigma, Y[i], gi)
        return Samples(X, Y)

    return sample


def label_shift(d: int = 20, n_classes: int = 5, n_clients: int = 5, alpha: float = 0.5, *, sep: float = 2.0,
                sigma: float = 1.0, rng=None) -> Scenario:
    """Label shift: client i's class proportions ``π_i ~ Dirichlet(α·1)``; ``P(x|y)`` shared.

    Small α gives nearly single-class clients; α → ∞ gives identical (uniform) proportions.
    """
    d = V.integer("d", d, min_value=1)
    K = V.integer("n_classes", n_classes, min_value=2, max_value=d)
    n_clients = V.integer("n_clients", n_clients, min_value=1)
    alpha, sep, sigma = V.positive("alpha", alpha), V.nonnegative("sep", sep), V.positive("sigma", sigma)
    g = as_generator(rng)
    means = sep * orthonormal_rows(K, d, g)
    props = g.dirichlet(alpha * np.ones(K), size=n_clients)

    truth = {"class_means": means, "proportions": props}
    meta = {"n_classes": K, "alpha": alpha, "sep": sep, "sigma": sigma}
    return Scenario("label", "classification", n_clients, d, K, _class_moments(means, props, sigma), truth, meta,
                    _sampler(means, sigma, props))


def long_tail_counts(n_max: int, n_classes: int, imbalance: float) -> np.ndarray:
    """``n_c = ⌊n_max · IF^{−c/(K−1)}⌋`` for ``c = 0..K−1`` (class 0 the most frequent)."""
    c = np.arange(n_classes)
    return np.floor(n_max * imbalance ** (-c / (n_classes - 1)) + 1e-9).astype(np.int64)


@dataclass(frozen=True)
class LongTail:
    """A long-tailed federated classification problem with ragged clients.

    ``train``: one ``Samples`` per client (sizes differ). ``counts (C, K)``: client × class counts.
    ``groups``: class indices that are head (> ``head_min`` global training samples), medium, tail
    (<= ``tail_max``). :meth:`test` draws a class-balanced test set.
    """

    scenario: Scenario  # population form (proportions = global long-tailed profile per client)
    train: list
    counts: np.ndarray
    groups: dict

    def test(self, n_per_class: int, rng=None) -> Samples:
        n_per_class = V.integer("n_per_class", n_per_class, min_value=1)
        g = as_generator(rng)
        means, sigma = self.scenario.truth["class_means"], self.scenario.meta["sigma"]
        y = np.repeat(np.arange(means.shape[0]), n_per_class)
        return Samples(_draw(means, sigma, y, g), y)


def long_tail(d: int = 20, n_classes: int = 10, n_clients: int = 5, *, n_max: int = 500, imbalance: float = 100.0,
              beta: float = 0.5, sep: float = 2.0, sigma: float = 1.0, head_min: int = 100, tail_max: int = 20,
              rng=None) -> LongTail:
    """FedPuReL's split: global counts ``n_c = ⌊n_max·IF^{−c/(K−1)}⌋``, each class split over clients by Dirichlet(β).

    Every client receives at least one sample: a client left empty by the split takes one point of the
    largest class from the client holding most of it (so the global counts are kept).
    """
    d = V.integer("d", d, min_value=1)
    K = V.integer("n_classes", n_classes, min_value=2, max_value=d)
    n_clients = V.integer("n_clients", n_clients, min_value=1)
    n_max = V.integer("n_max", n_max, min_value=n_clients)
    imbalance = V.real("imbalance", imbalance, low=1.0)
    beta, sep, sigma = V.positive("beta", beta), V.nonnegative("sep", sep), V.positive("sigma", sigma)
    head_min = V.integer("head_min", head_min, min_value=0)
    tail_max = V.integer("tail_max", tail_max, min_value=0, max_value=head_min)
    g = as_generator(rng)
    means = sep * orthonormal_rows(K, d, g)
    totals = long_tail_counts(n_max, K, imbalance)
    counts = np.stack([g.multinomial(totals[c], g.dirichlet(beta * np.ones(n_clients))) for c in range(K)], axis=1)
    for i in np.flatnonzero(counts.sum(axis=1) == 0):
        donor = int(np.argmax(counts[:, 0]))
        counts[donor, 0] -= 1
        counts[i, 0] += 1
    gens = spawn(g, n_clients)
    train = []
    for i in range(n_clients):
        y = np.repeat(np.arange(K), counts[i])
        train.append(Samples(_draw(means, sigma, y, gens[i]), y))
    props = counts / counts.sum(axis=1, keepdims=True)
    groups = {"head": np.flatnonzero(totals > head_min), "medium": np.flatnonzero((totals > tail_max) & (totals <= head_min)),
              "tail": np.flatnonzero(totals <= tail_max)}

    truth = {"class_means": means, "proportions": props, "global_counts": totals}
    meta = {"n_classes": K, "imbalance": imbalance, "beta": beta, "n_max": n_max, "sep": sep, "sigma": sigma,
            "head_min": head_min, "tail_max": tail_max}
    scen = Scenario("longtail", "classification", n_clients, d, K, _class_moments(means, props, sigma), truth, meta,
                    _sampler(means, sigma, props))
    return LongTail(scen, train, counts, groups)
