"""Where things live: the data root, the output root and the MLflow store.

Every location is a setting (environment variable or CLI option), never a path baked into code.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from pathlib import Path

from benchmarks.errors import DataError, DiskFullError, StoreError

DATA_ENV = "LDSEG_DATA"
OUT_ENV = "LDSEG_OUT"
GLAS_URL = "https://warwick.ac.uk/fac/cross_fac/tia/data/glascontest/"


def data_root(root: str | os.PathLike | None = None) -> Path:
    """Resolve the data root: explicit argument, else $LDSEG_DATA, else ./data."""
    path = Path(root or os.environ.get(DATA_ENV) or "data").expanduser()
    if not path.is_dir():
        raise DataError(
            f"{path}: data root not found. Download GlaS from {GLAS_URL} (or any dataset laid "
            f"out as <root>/glas/images + masks) and point the harness at it with "
            f"--data-root DIR or the environment variable {DATA_ENV}=DIR."
        )
    return path


def out_root(root: str | os.PathLike | None = None, *, create: bool = True) -> Path:
    """Where runs, checkpoints and the default MLflow store go (default ./.bench); created if
    missing (StoreError, one line, when it cannot be) unless ``create=False``."""
    path = Path(root or os.environ.get(OUT_ENV) or ".bench").expanduser()
    if not create:
        return path
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise StoreError(
            f"{path}: cannot create the output root ({_reason(err)}); set {OUT_ENV}=DIR to a "
            f"writable directory"
        ) from None
    return path


def require_writable(path: Path, what: str = "output root") -> Path:
    """``path`` must be a directory that takes new files, or (not there yet) one that can be
    created: refuse a read-only one up front (StoreError, one line) instead of failing, or
    MLflow retrying, at the first write. Nothing is created."""
    path = Path(path)
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        if existing == path:
            raise StoreError(f"{path}: the {what} is not a directory")
        raise StoreError(f"{path}: cannot create the {what} ({existing} is not a directory)")
    if not os.access(existing, os.W_OK | os.X_OK):  # EROFS is reported even to root
        why = _why_not_writable(existing)
        if existing != path:
            why = f"{existing}: {why}"
        raise StoreError(f"{path}: the {what} is not writable ({why})")
    return path


def _why_not_writable(path: Path) -> str:
    try:
        if os.statvfs(path).f_flag & os.ST_RDONLY:
            return "read-only file system"
    except OSError:
        pass
    return "permission denied"


def _reason(err: OSError) -> str:
    return (err.strerror or str(err)).lower()


# -- write failures caused by the file system --------------------------------------------------
_NO_SPACE = {errno.ENOSPC, errno.EDQUOT}
# sqlite reports these through SQLAlchemy/MLflow without an errno, only as text
_SQLITE_FULL = ("database or disk is full",)
_SQLITE_READ_ONLY = ("attempt to write a readonly database", "unable to open database file")


def _chain(err: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    todo = [err]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        todo += [e.__cause__, e.__context__]


def storage_error(err: BaseException, path: os.PathLike | str | None = None) -> StoreError | None:
    """The one-line error for a write that failed because of the file system (no space left,
    read-only), found anywhere in ``err``'s cause/context chain (torch.save, for one, raises a
    RuntimeError whose context is the OSError); None for any other failure."""
    for e in _chain(err):
        if isinstance(e, OSError) and e.errno in _NO_SPACE:
            return DiskFullError(f"{path or e.filename or 'output'}: no space left on device")
        if isinstance(e, OSError) and e.errno == errno.EROFS:
            return StoreError(f"{path or e.filename or 'output'}: read-only file system")
        text = str(e).lower()
        if any(s in text for s in _SQLITE_FULL):
            return DiskFullError(f"{path or 'MLflow store'}: no space left on device")
        if any(s in text for s in _SQLITE_READ_ONLY):
            return StoreError(f"{path or 'MLflow store'}: cannot write ({_first_line(e)})")
    return None


def _first_line(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    return lines[0][:300] if lines else type(err).__name__
