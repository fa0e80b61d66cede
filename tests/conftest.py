"""Shared fixtures. Real-data tests read the shared data root ($LDSEG_DATA, default ../shared/data
next to the repo) and are skipped with a reason when it is absent; data is never copied here."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def _data_root() -> Path:
    return Path(os.environ.get("LDSEG_DATA") or DEFAULT_DATA)


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The shared data root, or skip (set LDSEG_DATA=DIR to point at your download)."""
    root = _data_root()
    if not root.is_dir():
        pytest.skip(f"real data not found at {root} (set LDSEG_DATA=DIR to run real-data tests)")
    return root


@pytest.fixture(scope="session")
def glas_dir(data_root: Path) -> Path:
    path = data_root / "glas"
    if not (path / "images").is_dir():
        pytest.skip(f"GlaS not found at {path} (expected images/ + masks/)")
    return path


@pytest.fixture(scope="session")
def knee_dir(data_root: Path) -> Path:
    path = data_root / "knee"
    if not (path / "images").is_dir():
        pytest.skip(f"knee volumes not found at {path} (expected images/ + labels/)")
    return path


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """Tests use tiny tensors: on a small shared CPU one thread is faster than two (thread
    hand-offs dominate), and results do not depend on the core count."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
