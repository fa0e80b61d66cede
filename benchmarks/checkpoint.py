"""Checkpoint files: written atomically, read with ``weights_only=True``, and refused with a
one-line message when they are not ours."""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from benchmarks.errors import CheckpointError

FORMAT = "ldseg-bench-checkpoint"
VERSION = 1


def save_checkpoint(path: Path | str, payload: dict[str, Any]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save({"format": FORMAT, "version": VERSION, **payload}, tmp)
    os.replace(tmp, path)  # a killed run never leaves a half-written checkpoint


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
