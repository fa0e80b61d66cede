"""Checks run before any file is used. Each failure is a DataError whose one-line message names the
file and the problem (the CLI prints it as `error: <message>` and exits with code 2).

- pairing: image without mask, mask without image, two files with the same stem, empty or
  missing folders, 2D and 3D files mixed in one folder;
- content: NaN/inf in an image, image/mask shape mismatch, mask values that are not class labels
  (fractions, negatives, colour channels that differ, too many distinct values, 8-bit grey
  levels such as 128 next to 255).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from benchmarks.data.readers import SUFFIXES, is_image_file, spatial_dims_of, stem_of
from benchmarks.errors import DataError

log = logging.getLogger(__name__)

#: a label mask holds class indices 0..MAX_CLASSES-1 (or is binary {0, 255});
#: more distinct values than this means a photo or grey-scale image was given as a mask
MAX_CLASSES = 20


def list_images(folder: Path) -> list[Path]:
    """Image files in `folder` (sorted by name); DataError when missing or empty."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: folder not found")
    files = sorted(p for p in folder.iterdir() if is_image_file(p))
    if not files:
        raise DataError(f"{folder}: no image files in folder (expected {' '.join(SUFFIXES)})")
    return files


def pair_files(images_dir: Path, masks_dir: Path) -> list[tuple[str, Path, Path]]:
    """Match images and masks by file stem: [(stem, image, mask)] sorted by stem."""
    images, masks = _by_stem(list_images(images_dir)), _by_stem(list_images(masks_dir))
    for stem, path in images.items():
        if stem not in masks:
            raise DataError(f"{path}: image has no mask in {masks_dir} (matched by file stem)")
    for stem, path in masks.items():
        if stem not in images:
            raise DataError(f"{path}: mask has no image in {images_dir} (matched by file stem)")
    return [(stem, images[stem], masks[stem]) for stem in sorted(images)]


def _by_stem(files: list[Path]) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for path in files:
        stem = stem_of(path)
        if stem in out:
            raise DataError(f"{path}: two files with the same name stem ({out[stem].name})")
        out[stem] = path
    return out


def check_same_dims(files: list[Path]) -> int:
    """All files 2D or all 3D; returns that spatial dimensionality."""
    first, dims0 = None, None
    for path in files:
        dims = spatial_dims_of(path)
        if dims0 is None:
            first, dims0 = path, dims
        elif dims != dims0:
            raise DataError(
                f"{path}: {dims}D file mixed with {dims0}D files (e.g. {first.name}) in one folder"
            )
    return int(dims0 or 2)


def as_image(arr: np.ndarray, path: Path) -> np.ndarray:
    """Channel-first array -> float32 in [0, 1]: uint8 / 255, anything else min-max scaled."""
    if arr.dtype.kind == "f":
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        if bad:
            raise DataError(f"{path}: image contains NaN or inf values ({bad} voxels)")
    if arr.ndim == 3 and arr.shape[0] in (2, 4):  # drop alpha (grey+alpha, RGBA)
        arr = arr[:-1]
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) / 255.0
    arr = arr.astype(np.float64)
    lo, hi = float(arr.min()), float(arr.max())
    if hi <= lo:
        log.info("%s: constant image (value %s)", path, lo)
        return np.zeros(arr.shape, np.float32)
    return ((arr - lo) / (hi - lo)).astype(np.float32)


def as_label(
    arr: np.ndarray, path: Path, mode: str = "labels", num_classes: int | None = None
) -> np.ndarray:
    """Channel-first mask -> uint8 (*spatial) class indices.

    mode: "binary" ({0,1} or {0,255} -> {0,1}), "instances" (ids > 0 -> 1, the Warwick GlaS
    annotations) or "labels" (class indices; a {0,255} mask is read as binary).
    """
    arr = _single_channel(arr, path)
    if arr.dtype.kind == "f":
        if not np.isfinite(arr).all():
            raise DataError(f"{path}: mask contains NaN or inf values")
        frac = arr[arr != np.round(arr)]
        if frac.size:
            raise DataError(
                f"{path}: mask has fractional values (e.g. {frac.flat[0]:g}); "
                "expected integer class labels"
            )
    if arr.dtype == bool:
        arr = arr.astype(np.uint8)
    if arr.min() < 0:
        raise DataError(f"{path}: mask has negative values (min {arr.min()}); expected labels >= 0")
    if mode == "instances":
        return (arr > 0).astype(np.uint8)
    values = np.unique(arr)
    if len(values) > MAX_CLASSES:
        raise DataError(
            f"{path}: mask has {len(values)} distinct values; expected a few class labels "
            "(is it a photo or a grey-scale image?)"
        )
    shown = "{" + ", ".join(str(int(v)) for v in values) + "}"
    if set(values.tolist()) <= {0, 255}:
        return (arr > 0).astype(np.uint8)
    if mode == "binary" and not set(values.tolist()) <= {0, 1}:
        raise DataError(f"{path}: binary mask has values {shown}; expected {{0, 255}} or {{0, 1}}")
    if values.max() >= MAX_CLASSES:
        raise DataError(
            f"{path}: mask values {shown} are not class labels (binary masks are {{0, 255}} or "
            f"{{0, 1}}; multi-class masks hold 0..K-1 with K <= {MAX_CLASSES})"
        )
    if num_classes is not None and values.max() >= num_classes:
        raise DataError(
            f"{path}: mask has label {int(values.max())} but the dataset has {num_classes} "
            f"classes (0..{num_classes - 1})"
        )
    return arr.astype(np.uint8)


def _single_channel(arr: np.ndarray, path: Path) -> np.ndarray:
    """(C, *spatial) -> (*spatial); a colour mask is accepted only when all channels agree."""
    if arr.shape[0] == 1:
        return arr[0]
    channels = arr[:-1] if arr.shape[0] in (2, 4) else arr  # drop alpha
    if not (channels == channels[:1]).all():
        raise DataError(
            f"{path}: mask has {channels.shape[0]} colour channels that differ (a photo or a "
            "colour-coded mask?); save class indices as a single-channel image"
        )
    return channels[0]


def check_same_shape(image: np.ndarray, label: np.ndarray, image_path: Path, mask_path: Path):
    """Image (C, *spatial) and label (*spatial) must cover the same grid."""
    if tuple(image.shape[1:]) != tuple(label.shape):
        raise DataError(
            f"{mask_path}: mask shape {tuple(label.shape)} does not match image "
            f"{Path(image_path).name} shape {tuple(image.shape[1:])}"
        )
