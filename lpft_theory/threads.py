"""Thread policy: the small models here run single-threaded (torch and BLAS) unless told otherwise.

Why: a GD step of these models is a few small products; on a small machine a second BLAS/torch thread
costs more in synchronisation than it computes (one value-and-gradient call for 6 digits clients:
~5× slower with 2 threads than with 1). Parallelism comes from processes instead (sweeps, joblib).

The count is ``LPFT_THREADS`` from the environment (default 1) or what :func:`configure` is given (the
CLI's ``--threads``). It is applied when ``lpft_theory`` is imported: BLAS at once, torch when the
package's torch module is imported (``empirical.torch_arch`` calls :func:`apply_torch`), so importing the
package never imports torch.
"""
from __future__ import annotations

import os
import sys

ENV = "LPFT_THREADS"
_BLAS_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
_state = {"n": None, "torch": None}  # the count in force, and the count last applied to torch


def _from_env() -> int:
    raw = os.environ.get(ENV, "1")
    try:
        n = int(raw)
    except ValueError:
        n = 0
    if n < 1:
        raise ValueError(f"{ENV} must be an integer >= 1, got {raw!r}")
    return n


def configure(n: int | None = None) -> int:
    """Use ``n`` threads (``None``: ``LPFT_THREADS`` or 1) for BLAS now and for torch; returns ``n``."""
    if n is None:
        n = _from_env()
    elif isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"threads must be an integer >= 1, got {n!r}")
    from threadpoolctl import threadpool_limits

    for var in _BLAS_ENV:  # BLAS libraries loaded later (scipy's) and child processes read these
        os.environ[var] = str(n)
    threadpool_limits(limits=n, user_api="blas")  # the ones loaded now; stays in force (no context manager)
    _state["n"] = n
    apply_torch()
    return n


def count() -> int:
    """The thread count in force."""
    return _state["n"] if _state["n"] is not None else _from_env()


def apply_torch() -> None:
    """Apply the thread count to torch if torch is imported (cheap when already applied)."""
    torch = sys.modules.get("torch")
    if torch is None or _state["torch"] == count():
        return
    n = count()
    torch.set_num_threads(n)
    try:
        torch.set_num_interop_threads(n)
    except RuntimeError:  # settable only before torch's first inter-op parallel work; intra-op is what matters
        pass
    _state["torch"] = n


__all__ = ["ENV", "configure", "count", "apply_torch"]
