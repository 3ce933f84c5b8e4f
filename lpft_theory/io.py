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
    _target(path, flag)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{flag} {path} exists; pass --force to overwrite it or choose another {flag}")
    check_output_dir(path.parent, flag=flag)
    return path


SYSTEM_DIRS = ("/dev", "/proc", "/sys")


def _target(path: Path, flag: str) -> Path:
    """The file a write to ``path`` lands on: a symlink is followed (the link stays a link; its target is
    replaced), and refused where it leads to anything but a regular file or a missing one in a normal folder: a
    device, a pipe, a socket, a broken link, or a path in /dev, /proc or /sys (``--json /dev/stdout --force``
    would otherwise replace the system's link, as root)."""
    real = Path(os.path.realpath(path)) if path.is_symlink() else path.absolute()
    via = f" (a symlink to {real})" if path.is_symlink() else ""
    if path.is_symlink() and not real.exists():
        raise ValueError(f"{flag} {path} is a broken symlink{via}; give a file path such as out.json")
    if real.exists() and not real.is_file() and not real.is_dir():
        kind = ("a device" if real.is_char_device() or real.is_block_device() else "a pipe" if real.is_fifo()
                else "a socket" if real.is_socket() else "not a regular file")
        raise ValueError(f"{flag} {path} is {kind}{via}, not a regular file; give a file path such as out.json")
    if any(str(p) in SYSTEM_DIRS for p in [path.absolute(), real, *path.absolute().parents, *real.parents]):
        raise ValueError(f"{flag} {path}{via} is in a system folder ({', '.join(SYSTEM_DIRS)}); give a file path "
                         "such as out.json")
    return real


def write_bytes_atomic(path, data: bytes, overwrite: bool = False) -> Path:
    path = _target(Path(path), "path")
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder, not a file")
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite (--force) to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; an output is as readable as any file the user writes
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
