"""Federated clients from scikit-learn's bundled digits (8×8 images, 1,797 samples; no download).

Every split returns one training and one test ``Samples`` per client (ragged), seeded per client from one
``SeedSequence``; every client gets data. Shifts:

* ``covariate`` — IID partition, then a per-client image transform applied to the client's train and test
  images. ``transform="degrade"`` (the default): rotation, contrast, additive noise or blur, cycling over
  clients with growing strength (times ``strength``: rotation up to 45°·strength, noise sd up to
  0.3·strength, …) — noise and blur destroy information no model can recover; ``transform="shift-invert"``:
  information-preserving — client ``k`` sees its images cyclically translated by its own offset
  (:data:`OFFSETS`, ±1–2 pixels) and, on odd ``k``, with inverted intensities ``1 − x``: one fixed, learnable
  change per client that a single global model must serve all at once;
* ``concept`` — IID partition, then a per-client partial label permutation (``n_swaps`` swapped pairs);
* ``label`` — per-class Dirichlet(α) split of the indices over clients; with ``classes_per_client = m``
  instead the pathological split (McMahan et al. 2017): ``C·m`` shards, shard ``j`` of class ``π(j mod 10)``
  for a random class order ``π``, each class's images divided evenly over its shards, client ``k`` holding
  shards ``k·m … k·m + m − 1`` — at most ``m`` classes per client;
* ``overlap`` — IID partition; client k sees only pixels in ``shared ∪ private_k`` (others set to 0), with
  ``overlap`` the fraction of visible pixels every client shares;
* ``longtail`` — global class counts ``⌊n_max · IF^{−c/(K−1)}⌋``, then per-class Dirichlet(β) over clients;
  head / medium / tail classes by thirds of the count profile.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from .. import _validate as Vd
from ..data import Samples
from ..rng import spawn

SCENARIOS = ("covariate", "concept", "label", "overlap", "longtail")


def load() -> tuple[np.ndarray, np.ndarray]:
    """Digits as ``X (1797, 64)`` in [0, 1] and labels ``y`` in 0..9."""
    from sklearn.datasets import load_digits

    d = load_digits()
    return d.data.astype(np.float64) / 16.0, d.target.astype(np.int64)


@dataclass
class FederatedDigits:
    train: list
    test: list
    meta: dict
    groups: dict | None = None  # head / medium / tail class indices (longtail)


TRANSFORMS = ("degrade", "shift-invert")
OFFSETS = ((-2, 0), (2, 0), (0, -2), (0, 2), (-2, -2), (2, 2), (-2, 2), (2, -2), (-1, 1), (1, -1))  # (dx, dy) by k


def _shift_invert(X: np.ndarray, k: int) -> tuple[np.ndarray, str]:
    """Client ``k``'s fixed translation (cyclic, :data:`OFFSETS` ``[k mod 10]``) and, on odd ``k``, inversion."""
    dx, dy = OFFSETS[k % len(OFFSETS)]
    out = np.roll(X.reshape(-1, 8, 8), (dy, dx), axis=(1, 2))
    if k % 2:
        out = 1.0 - out
    return out.reshape(-1, 64), f"translate ({dx:+d}, {dy:+d})" + (", inverted" if k % 2 else "")


def _transform(X: np.ndarray, k: int, n_clients: int, g, scale: float = 1.0) -> tuple[np.ndarray, str]:
    kind = ("rotate", "contrast", "noise", "blur")[k % 4]
    strength = scale * (k // 4 + 1) / (n_clients // 4 + 1)
    imgs = X.reshape(-1, 8, 8)
    if kind == "rotate":
        angle = 45.0 * strength * (1 if k % 8 < 4 else -1)
        out = ndimage.rotate(imgs, angle, axes=(1, 2), reshape=False, order=1)
        label = f"rotate {angle:.0f} deg"
    elif kind == "contrast":
        c = max(1.0 - 0.7 * strength, 0.05)
        out = 0.5 + c * (imgs - 0.5)
        label = f"contrast x{c:.2f}"
    elif kind == "noise":
        s = 0.3 * strength
        out = imgs + s * g.standard_normal(imgs.shape)
        label = f"noise sd {s:.2f}"
    else:
        s = 1.2 * strength
        out = ndimage.gaussian_filter(imgs, sigma=(0, s, s))
        label = f"blur sigma {s:.2f}"
    return np.clip(out, 0.0, 1.0).reshape(-1, 64), label


def split(scenario: str = "covariate", n_clients: int = 10, seed: int = 0, *, test_frac: float = 0.3,
          alpha: float = 0.3, n_swaps: int = 2, overlap: float = 0.5, visible: float = 0.6,
          imbalance: float = 20.0, beta: float = 0.5, classes_per_client: int = 0,
          strength: float = 1.0, transform: str = "degrade") -> FederatedDigits:
    """Split digits over ``n_clients`` clients under one kind of shift (see the module docstring)."""
    Vd.choice("scenario", scenario, SCENARIOS)
    n_clients = Vd.integer("n_clients", n_clients, min_value=2, max_value=100)
    test_frac = Vd.real("test_frac", test_frac, low=0.05, high=0.9)
    alpha, beta = Vd.positive("alpha", alpha), Vd.positive("beta", beta)
    n_swaps = Vd.integer("n_swaps", n_swaps, min_value=0, max_value=5)
    classes_per_client = Vd.integer("classes_per_client", classes_per_client, min_value=0, max_value=10)
    strength = Vd.real("strength", strength, low=0.0, high=3.0)
    Vd.choice("transform", transform, TRANSFORMS)
    overlap, visible = Vd.probability("overlap", overlap), Vd.real("visible", visible, low=0.05, high=1.0)
    imbalance = Vd.real("imbalance", imbalance, low=1.0)
    X, y = load()
    g_split, *g_clients = spawn(seed, n_clients + 1)
    K = 10
    groups = None
    if scenario in ("label", "longtail"):
        by_class = [g_split.permutation(np.flatnonzero(y == c)) for c in range(K)]
        if scenario == "longtail":
            n_c = np.floor(len(by_class[0]) * imbalance ** (-np.arange(K) / (K - 1))).astype(int)
            order = g_split.permutation(K)  # which digit is the head class
            by_class = [by_class[order[r]][: max(n_c[r], 2)] for r in range(K)]
            thirds = np.array_split(np.arange(K), 3)
            groups = {"head": order[thirds[0]], "medium": order[thirds[1]], "tail": order[thirds[2]]}
        conc = beta if scenario == "longtail" else alpha
        parts = [[] for _ in range(n_clients)]
        if scenario == "label" and classes_per_client:
            m = classes_per_client
            order = g_split.permutation(K)
            owners = {c: [j // m for j in range(n_clients * m) if order[j % K] == c] for c in range(K)}
            for c, idx in enumerate(by_class):
                for k, piece in zip(owners[c], np.array_split(idx, max(len(owners[c]), 1))):
                    parts[k].extend(piece.tolist())
        else:
            for idx in by_class:
                cuts = (np.cumsum(g_split.dirichlet(conc * np.ones(n_clients)))[:-1] * len(idx)).astype(int)
                for k, piece in enumerate(np.split(idx, cuts)):
                    parts[k].extend(piece.tolist())
        for k in range(n_clients):  # every client gets data: borrow from the largest client
            while len(parts[k]) < 4:
                donor = int(np.argmax([len(p) for p in parts]))
                parts[k].append(parts[donor].pop())
        parts = [np.array(p) for p in parts]
    else:
        parts = np.array_split(g_split.permutation(len(y)), n_clients)
    shared = g_split.permutation(64)[: int(round(overlap * visible * 64))]
    train, test, info = [], [], []
    for k, (idx, g) in enumerate(zip(parts, g_clients)):
        idx = g.permutation(idx)
        Xk, yk = X[idx].copy(), y[idx].copy()
        if scenario == "covariate":
            Xk, label = (_shift_invert(Xk, k) if transform == "shift-invert"
                         else _transform(Xk, k, n_clients, g, strength))
        elif scenario == "concept":
            perm = np.arange(K)
            for _ in range(n_swaps):
                a, b = g.choice(K, 2, replace=False)
                perm[[a, b]] = perm[[b, a]]
            yk = perm[yk]
            label = f"labels permuted {perm.tolist()}"
        elif scenario == "overlap":
            rest = np.setdiff1d(np.arange(64), shared)
            private = g.choice(rest, int(round(visible * 64)) - len(shared), replace=False)
            mask = np.zeros(64)
            mask[np.concatenate([shared, private]).astype(int)] = 1.0
            Xk = Xk * mask
            label = f"{int(mask.sum())} visible pixels, {len(shared)} shared"
        else:
            label = f"class counts {np.bincount(yk, minlength=K).tolist()}"
        n_test = max(1, int(round(test_frac * len(idx))))
        test.append(Samples(Xk[:n_test], yk[:n_test]))
        train.append(Samples(Xk[n_test:], yk[n_test:]))
        info.append(label)
    meta = {"scenario": scenario, "n_clients": n_clients, "seed": seed, "clients": info,
            "train_sizes": [s.n for s in train], "test_sizes": [s.n for s in test]}
    return FederatedDigits(train, test, meta, groups)
