"""Checkpoint files: written atomically, read with ``weights_only=True``, and refused with a
one-line message when they are not ours."""

from __future__ import annotations

import contextlib
import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from benchmarks.errors import CheckpointError, DiskFullError

FORMAT = "ldseg-bench-checkpoint"
VERSION = 1


def save_checkpoint(path: Path | str, payload: dict[str, Any]) -> None:
    """Write ``path`` atomically: a temporary file, fsync, then rename over the old one. A full
    or read-only disk raises DiskFullError / StoreError (one line) and leaves the previous
    checkpoint as it was (the partial temporary file is removed, giving its space back)."""
    from benchmarks.settings import storage_error

    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # through a Python file object: a failed write then carries its OSError (ENOSPC)
        # as the context of torch's RuntimeError
        with open(tmp, "wb") as f:
            torch.save({"format": FORMAT, "version": VERSION, **payload}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)  # a killed run never leaves a half-written checkpoint
    except BaseException as err:
        with contextlib.suppress(OSError):
            tmp.unlink()
        fault = storage_error(err, path) if isinstance(err, Exception) else None
        if isinstance(fault, DiskFullError):
            fault = DiskFullError(
                f"{path}: no space left on device (the last complete checkpoint is kept: free "
                f"some space and rerun to resume)"
            )
        if fault is not None:
            raise fault from err
        raise


def load_checkpoint(path: Path | str, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except (pickle.UnpicklingError, zipfile.BadZipFile, RuntimeError, EOFError, ValueError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(f"{path}: not a readable ldseg-bench checkpoint ({first})") from err
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not an ldseg-bench checkpoint (no '{FORMAT}' marker)")
    if ckpt.get("version") != VERSION:
        raise CheckpointError(
            f"{path}: checkpoint version {ckpt.get('version')} is not supported (expected {VERSION})"
        )
    return ckpt


def ema_weights(ckpt: dict[str, Any]) -> dict[str, torch.Tensor] | None:
    """The EMA target's weights from an AveragedModel state dict (keys 'module.*'), or None."""
    ema = ckpt.get("ema")
    if not ema:
        return None
    return {k[len("module.") :]: v for k, v in ema.items() if k.startswith("module.")}
