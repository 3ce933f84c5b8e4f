"""Declarative argument checks shared by every public entry point.

Each check raises ``ValueError`` (or ``TypeError``) naming the parameter, the value received and
the allowed range, before any work is done.
"""
from __future__ import annotations

import numbers

import numpy as np


def _fmt(value) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def integer(name: str, value, *, min_value: int | None = None, max_value: int | None = None) -> int:
    """Return ``value`` as an int, checking ``min_value <= value <= max_value``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {_fmt(value)} of type {type(value).__name__}")
    value = int(value)
    if min_value is not None and value < min_value:
        hi = "inf" if max_value is None else str(max_value)
        raise ValueError(f"{name} must be in [{min_value}, {hi}], got {value}")
    if max_value is not None and value > max_value:
        lo = "-inf" if min_value is None else str(min_value)
        raise ValueError(f"{name} must be in [{lo}, {max_value}], got {value}")
    return value


def real(
    name: str,
    value,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """Return ``value`` as a finite float inside the stated interval."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {_fmt(value)} of type {type(value).__name__}")
    value = float(value)
    lo_b = "(" if low_open or low is None else "["
    hi_b = ")" if high_open or high is None else "]"
    interval = f"{lo_b}{'-inf' if low is None else low}, {'inf' if high is None else high}{hi_b}"
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite and in {interval}, got {value}")
    if low is not None and (value < low or (low_open and value == low)):
        raise ValueError(f"{name} must be in {interval}, got {value}")
    if high is not None and (value > high or (high_open and value == high)):
        raise ValueError(f"{name} must be in {interval}, got {value}")
    return value


def positive(name: str, value) -> float:
    return real(name, value, low=0.0, low_open=True)


def nonnegative(name: str, value) -> float:
    return real(name, value, low=0.0)


def probability(name: str, value) -> float:
    return real(name, value, low=0.0, high=1.0)


def finite_array(name: str, value, *, ndim: int | None = None, min_ndim: int | None = None) -> np.ndarray:
    """Return ``value`` as a float64 array with only finite entries and the stated rank."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be array-like of real numbers, got {_fmt(value)}") from exc
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimension(s), got shape {arr.shape}")
    if min_ndim is not None and arr.ndim < min_ndim:
        raise ValueError(f"{name} must have at least {min_ndim} dimension(s), got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must contain only finite values; found {int(np.sum(~np.isfinite(arr)))} non-finite")
    return arr


def positive_array(name: str, value) -> np.ndarray:
    """A finite array (or scalar) whose entries are all > 0 (learning rates, for example)."""
    arr = finite_array(name, value)
    if np.any(arr <= 0):
        raise ValueError(f"{name} must be > 0 everywhere (allowed range (0, inf)), got minimum {arr.min()}")
    return arr


def choice(name: str, value, allowed) -> str:
    allowed = tuple(allowed)
    if value not in allowed:
        raise ValueError(f"{name} must be one of {allowed}, got {_fmt(value)}")
    return value


def same(name_a: str, a: int, name_b: str, b: int) -> None:
    if a != b:
        raise ValueError(f"{name_a} ({a}) must equal {name_b} ({b})")
