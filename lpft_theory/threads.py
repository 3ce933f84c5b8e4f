"""Thread policy: the small models here run single-threaded (torch and BLAS) unless told otherwise.

Why: a GD step of these models is a few small products; on a small machine a second BLAS/torch thread
costs more in synchronisation than it computes (one value-and-gradient call for 6 digits clients:
~5× slower with 2 threads than with 1). Parallelism comes from processes instead (sweeps, joblib).

The count is ``LPFT_THREADS`` from the environment (default 1) or what :func:`configure` is given (the
CLI's ``--threads``). It is applied when ``lpft_theory`` is imported: BLAS at once, torch when the
package's torch module is imported (``empirical.torch_arch`` calls :func:`apply_torch`), so importing the
package never imports torch. A bad ``LPFT_THREADS`` never breaks the import (``configure(strict=False)``
there: 1 thread, the error kept for :func:`env_error`); an explicit :func:`configure` (the CLI without
``--threads``) refuses it in one line, and ``--threads`` overrides it.
"""
from __future__ import annotations

import numbers
import os
import sys

ENV = "LPFT_THREADS"
#: Most threads accepted (as for ``lpft sweep --jobs``): beyond a few, these small models only slow down.
MAX = 1024
_BLAS_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
_state = {"n": None, "torch": None}  # the count in force, and the count last applied to torch


def parse(raw, name: str = "threads") -> int:
    """A thread count from an int or a string (``"2"``); ``ValueError`` naming ``name``, the value and the range."""
    n = None
    if isinstance(raw, str):
        try:
            n = int(raw.strip())
        except ValueError:
            pass
    elif isinstance(raw, numbers.Integral) and not isinstance(raw, bool):
        n = int(raw)
    if n is None or not 1 <= n <= MAX:
        raise ValueError(f"{name} must be an integer in [1, {MAX}], got {raw if n is None else n!r}")
    return n


def env_error() -> str | None:
    """Why ``LPFT_THREADS`` is not usable (one line), or None when it is unset or valid."""
    try:
        _from_env()
    except ValueError as exc:
        return str(exc)
    return None


def _from_env() -> int:
    return parse(os.environ.get(ENV, "1"), ENV)


def configure(n: int | None = None, *, strict: bool = True) -> int:
    """Use ``n`` threads (``None``: ``LPFT_THREADS`` or 1) for BLAS now and for torch; returns ``n``.

    A bad ``LPFT_THREADS`` raises ``ValueError``, or with ``strict=False`` (the package's import) gives 1."""
    if n is None:
        try:
            n = _from_env()
        except ValueError:
            if strict:
                raise
            n = 1
    else:
        n = parse(n)
    from threadpoolctl import threadpool_limits

    for var in _BLAS_ENV:  # BLAS libraries loaded later (scipy's) and child processes read these
        os.environ[var] = str(n)
    threadpool_limits(limits=n, user_api="blas")  # the ones loaded now; stays in force (no context manager)
    _state["n"] = n
    apply_torch()
    return n


def count() -> int:
    """The thread count in force."""
    if _state["n"] is not None:
        return _state["n"]
    return 1 if env_error() else _from_env()


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


__all__ = ["ENV", "MAX", "parse", "env_error", "configure", "count", "apply_torch"]
