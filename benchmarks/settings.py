"""Where things live: the data root, the output root and the MLflow store.

Every location is a setting (environment variable or CLI option), never a path baked into code.
"""

from __future__ import annotations

import os
from pathlib import Path

from benchmarks.errors import DataError

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


def out_root(root: str | os.PathLike | None = None) -> Path:
    """Where runs, checkpoints and the default MLflow store go (default ./.bench)."""
    path = Path(root or os.environ.get(OUT_ENV) or ".bench").expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path
