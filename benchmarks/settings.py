"""Where things live: the data root, the output root and the MLflow store.

Every location is a setting (environment variable or CLI option), never a path baked into code.
"""

from __future__ import annotations

import errno
import math
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from benchmarks.errors import DataError, DiskFullError, StoreError

DATA_ENV = "LDSEG_DATA"
OUT_ENV = "LDSEG_OUT"
THREADS_ENV = "LDSEG_THREADS"
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


# -- CPU threads ---------------------------------------------------------------------------------
def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def default_threads(cpus: int | None = None, load1: float | None = None) -> int:
    """The torch thread count when neither ``--threads`` nor ``LDSEG_THREADS`` is given.

    One thread per core that nobody else used over the last minute
    (``cpus - ceil(1-minute load average)``), at least 1, and always 1 on a machine with 2 CPUs
    or fewer. Why: a torch thread that shares its core with another busy process turns every
    parallel region into a wait for a descheduled thread. Measured with
    ``python -m benchmarks.thread_policy`` (LDSeg, 256^2, DDIM K=2, batch 1, on the shared
    2-CPU machine, load average 5-7 from other users): median per image 1 thread 0.66 s,
    2 threads 1.60 s, 2 threads + OMP_WAIT_POLICY=PASSIVE 1.81 s; with one more busy process
    3.0 s, 21.4 s (7x the 1-thread time) and 2.2 s. The issue measured 0.20 s vs 5.3 s. Two
    threads can at best halve the time on an idle 2-CPU machine but multiply it when the load
    changes, which on a small shared machine it does at any moment: 1 thread there. Larger
    machines use the cores the load leaves idle (callers also cap at torch's default).
    """
    cpus = usable_cpus() if cpus is None else cpus
    if load1 is None:
        try:
            load1 = os.getloadavg()[0]
        except (OSError, AttributeError):  # not available on this OS
            load1 = 0.0
    if cpus <= 2:
        return 1
    return max(1, cpus - math.ceil(load1))


def apply_torch_threads(requested: int | None = None) -> None:
    """Give torch :func:`torch_threads`. When torch is not loaded yet (the CLI imports it only
    for commands that need it) a count up to the usable CPUs goes into ``OMP_NUM_THREADS``,
    which torch reads when it loads (it caps that variable at the CPU count, so a larger
    ``requested`` loads torch and sets it)."""
    if "torch" in sys.modules or (requested and requested > usable_cpus()):
        import torch

        torch.set_num_threads(torch_threads(requested))
        return
    if requested:
        os.environ["OMP_NUM_THREADS"] = str(requested)
        return
    if os.environ.get("OMP_NUM_THREADS"):
        return
    n = default_threads()
    if n < usable_cpus():
        os.environ["OMP_NUM_THREADS"] = str(n)


def torch_threads(requested: int | None = None) -> int:
    """The thread count to give torch: ``requested`` (``--threads`` / ``LDSEG_THREADS``) when
    given; torch's own count when ``OMP_NUM_THREADS`` is set (the user chose); else
    :func:`default_threads`, never above torch's current count (its physical cores, or what the
    process already set)."""
    if requested:
        return requested
    import torch

    if os.environ.get("OMP_NUM_THREADS"):
        return torch.get_num_threads()
    return max(1, min(torch.get_num_threads(), default_threads()))
