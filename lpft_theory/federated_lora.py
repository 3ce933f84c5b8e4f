r"""A federated LoRA round on the linear model, in the three forms the federated PEFT methods use.

The model is ``f(x) = (W_0 + BA)x`` with a frozen base ``W_0 ∈ R^{p×d}`` and the adapter ``B ∈ R^{p×r}``,
``A ∈ R^{r×d}`` (LoRA: ``B = 0``, ``A`` random at the start). Client ``i`` runs ``τ`` local GD steps on its own
squared loss (population ``Moments`` or ``Samples``; the engine's :class:`~lpft_theory.models.DeepLinear` gives
``g_W = ∇_W L_i``):

    B ← B − η g_W Aᵀ,        A ← A − η Bᵀ g_W,

and the server averages what the clients trained (weights ``w_i``, uniform by default):

* ``"both"`` — FedAvg of both factors: ``B̄ = Σ w_iB_i``, ``Ā = Σ w_iA_i``. The server's adapter ``B̄Ā`` is not the
  average of the clients' adapters: ``Σ w_iB_iA_i − B̄Ā = Σ w_i(B_i − B̄)(A_i − Ā)``
  (:func:`lpft_theory.theory.lora_fed.averaging_error`);
* ``"frozen-A"`` — FFA-LoRA (Sun et al. 2024): ``A`` shared, random and frozen, only ``B`` trained and averaged:
  ``Σ w_iB_iA = B̄A``, the average is exact;
* ``"alternating"`` — RoLoRA (Chen et al. 2025): even rounds train and average ``B`` (``A`` frozen), odd rounds
  ``A`` (``B`` frozen); one factor is shared in every round, so every average is exact.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import _validate as V
from .data import Moments, Samples
from .models import DeepLinear

MODES = ("both", "frozen-A", "alternating")


@dataclass
class LoRARound:
    """One round: the server's ``(A, B)``, the clients' trained ``(A_i, B_i)`` and ``averaging_error`` =
    ``Σ w_iB_iA_i − B̄Ā`` (what the server's adapter misses of the average of the clients' adapters)."""

    A: np.ndarray
    B: np.ndarray
    A_clients: np.ndarray
    B_clients: np.ndarray
    averaging_error: np.ndarray


@dataclass
class FedLoRAResult:
    A: np.ndarray
    B: np.ndarray
    history: list  # (A, B) after each round, round 0 = the start
    loss: np.ndarray  # mean client loss per round (same convention as the engine: no ½)


def _n_clients(data) -> int:
    if isinstance(data, Moments):
        return data.batch_shape[0]
    if isinstance(data, Samples):
        return data.X.shape[0]
    raise TypeError(f"data must be Moments or Samples with a leading client axis, got {type(data).__name__}")


def _check(W0, A, B, data):
    W0 = V.finite_array("W0", W0, ndim=2)
    A = V.finite_array("A", A, ndim=2)
    B = V.finite_array("B", B, ndim=2)
    p, d = W0.shape
    if A.shape[1] != d or B.shape[0] != p or A.shape[0] != B.shape[1]:
        raise ValueError(f"need W0 (p, d), B (p, r), A (r, d); got W0 {W0.shape}, B {B.shape}, A {A.shape}")
    arch = DeepLinear(d, (), p)
    if (data.d if isinstance(data, Moments) else data.X.shape[-1]) != d:
        raise ValueError(f"data must have d = {d} input dimensions")
    return W0, A, B, arch


def client_losses(W0, A, B, data) -> np.ndarray:
    """Each client's loss of the model ``W_0 + BA`` (``B``, ``A`` shared or with a leading client axis)."""
    W0 = np.asarray(W0, float)
    beta = np.swapaxes(W0 + np.asarray(B, float) @ np.asarray(A, float), -1, -2)
    if beta.ndim == 2:
        beta = np.broadcast_to(beta, (_n_clients(data),) + beta.shape)
    return np.asarray(DeepLinear(W0.shape[1], (), W0.shape[0]).loss((np.array(beta),), data))


def lora_round(W0, A, B, data, eta: float, local_steps: int, mode: str = "both", round_index: int = 0,
               weights=None) -> LoRARound:
    """One federated LoRA round (module docstring). ``round_index`` decides the factor of ``"alternating"``:
    even → ``B``, odd → ``A``."""
    W0, A, B, arch = _check(W0, A, B, data)
    eta = V.positive("eta", eta)
    local_steps = V.integer("local_steps", local_steps, min_value=1)
    V.choice("mode", mode, MODES)
    C = _n_clients(data)
    w = np.full(C, 1.0 / C) if weights is None else V.finite_array("weights", weights, ndim=1)
    if w.shape[0] != C or np.any(w < 0) or not w.sum() > 0:
        raise ValueError(f"weights must be {C} non-negative numbers with a positive sum, got {w}")
    w = w / w.sum()
    train_B = mode != "alternating" or round_index % 2 == 0
    train_A = mode == "both" or (mode == "alternating" and round_index % 2 == 1)
    Ac, Bc = np.repeat(A[None], C, axis=0), np.repeat(B[None], C, axis=0)
    for _ in range(local_steps):
        beta = np.swapaxes(W0 + Bc @ Ac, -1, -2)
        value, (g_beta,) = arch.value_and_grad((beta,), data)
        if not np.all(np.isfinite(value)):
            raise FloatingPointError(f"federated LoRA diverged with step size eta={eta}")
        gW = np.swapaxes(g_beta, -1, -2)
        gB, gA = gW @ np.swapaxes(Ac, -1, -2), np.swapaxes(Bc, -1, -2) @ gW
        if train_B:
            Bc = Bc - eta * gB
        if train_A:
            Ac = Ac - eta * gA
    A_new, B_new = np.tensordot(w, Ac, axes=1), np.tensordot(w, Bc, axes=1)
    err = np.tensordot(w, Bc @ Ac, axes=1) - B_new @ A_new
    return LoRARound(A_new, B_new, Ac, Bc, err)


def federated_lora(W0, A0, B0, data, eta: float, local_steps: int, rounds: int, mode: str = "both",
                   weights=None) -> FedLoRAResult:
    """``rounds`` rounds of :func:`lora_round` from ``(A_0, B_0)``; the mean client loss after each."""
    rounds = V.integer("rounds", rounds, min_value=0)
    W0, A, B, _ = _check(W0, A0, B0, data)
    history, loss = [(A, B)], [float(np.mean(client_losses(W0, A, B, data)))]
    for r in range(rounds):
        rnd = lora_round(W0, A, B, data, eta, local_steps, mode, r, weights)
        A, B = rnd.A, rnd.B
        history.append((A, B))
        loss.append(float(np.mean(client_losses(W0, A, B, data))))
    return FedLoRAResult(A, B, history, np.array(loss))


__all__ = ["MODES", "LoRARound", "FedLoRAResult", "lora_round", "federated_lora", "client_losses"]
