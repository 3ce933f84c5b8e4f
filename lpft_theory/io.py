"""Atomic output: write to a temporary file in the target folder, then rename over it.

Nothing is silently overwritten: an existing file is replaced only with ``overwrite=True``.
"""
from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path

import numpy as np


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, (np.floating, float)):
        v = float(obj)
        return None if math.isnan(v) else (str(v) if math.isinf(v) else v)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj


def _nearest_existing(path: Path) -> Path:
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_output_dir(path, *, flag: str = "out") -> Path:
    """Refuse, before any work, a folder that cannot be created or written (``flag`` names the option)."""
    if path is None or str(path).strip() == "":
        raise ValueError(f"{flag} must be a folder path, got {str(path)!r}")
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(f"{flag} {path} is a file, not a folder; choose another {flag}")
    base = _nearest_existing(path)
    if not base.is_dir():
        raise NotADirectoryError(f"{flag} {path}: {base} is a file, not a folder; choose another {flag}")
    try:  # a real write, not os.access: also right for root, read-only mounts and ACLs
        with tempfile.TemporaryFile(dir=base):
            pass
    except OSError as exc:
        raise PermissionError(f"{flag} {path}: cannot write in {base} ({exc.strerror}); choose another {flag}") from None
    return path


def check_output_file(path, *, overwrite: bool = False, flag: str = "path") -> Path:
    """Refuse, before any work, a file that cannot be written: an empty path, a folder, an existing file
    (without ``overwrite``), or one whose folder is a file or not writable (``flag`` names the option)."""
    if path is None or str(path).strip() == "":
        raise ValueError(f"{flag} must be a file path, got {str(path)!r}")
    path = Path(path)
    if path.is_dir() or str(path).endswith(os.sep):
        raise IsADirectoryError(f"{flag} {path} is a folder; give a file path such as {path / 'out.json'}")
    if path.exists() and not overwrite:
        raise FileExistsError(f"{flag} {path} exists; pass --force to overwrite it or choose another {flag}")
    check_output_dir(path.parent, flag=flag)
    return path


def write_bytes_atomic(path, data: bytes, overwrite: bool = False) -> Path:
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder, not a file")
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite (--force) to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def write_text_atomic(path, text: str, overwrite: bool = False) -> Path:
    return write_bytes_atomic(path, text.encode("utf-8"), overwrite)


def to_json(obj) -> str:
    """Deterministic JSON (sorted keys; NaN as null) so equal results give identical files."""
    return json.dumps(_jsonable(obj), indent=2, sort_keys=True, allow_nan=False) + "\n"


def write_json_atomic(path, obj, overwrite: bool = False) -> Path:
    return write_text_atomic(path, to_json(obj), overwrite)
