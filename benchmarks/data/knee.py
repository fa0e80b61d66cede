"""Knee MRI (OAI sample volumes of the LDSeg reference code): 3 classes background, femur region
(the paper's FC) and tibia region (TC); combined column "FC+TC".

Layout: <root>/knee/images/caseN.nii.gz (int16) + <root>/knee/labels/caseN.nii.gz ({0, 1, 2}).
- `knee3d`: one case per volume. Default split: the last fifth of the volumes in natural order is
  the test set (5 volumes: case1-4 train, case5 test); fold/num_folds gives k-fold by volume.
- `knee2d`: 2D slices along the FIRST voxel axis (240 slices of 104x160 each in the shared
  volumes): in that plane every slice that touches the joint shows femur above tibia, so both
  classes appear together, and it is the axis with the most slices. Kept: every slice with any
  foreground plus a few evenly spaced slices without (5% of the foreground count, at least 2) so
  a model also sees empty slices. Case ids are <volume>_s<index>, e.g. case3_s042; splits are by
  VOLUME (the same rules as knee3d), never by slice. Intensities are scaled per volume.
- Spacing: the label file's NIfTI header voxel size in mm (the slice axis dropped for knee2d);
  the native-resolution HD95 is in mm.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from benchmarks.data.base import Case, DatasetInfo, Sample, Source, natural_key
from benchmarks.data.readers import nifti_spacing, read_array
from benchmarks.data.validate import (
    as_image,
    as_label,
    check_same_dims,
    check_same_shape,
    pair_files,
)
from benchmarks.errors import DataError
from benchmarks.settings import data_root

log = logging.getLogger(__name__)

CLASSES = ("background", "FC", "TC")
SLICE_AXIS = 0
EMPTY_SLICE_FRACTION = 0.05
TEST_FRACTION = 0.2

_COMMON = dict(
    num_classes=3,
    class_names=CLASSES,
    combined=(1, 2),
    combined_name="FC+TC",
    in_channels=1,
    synthetic=False,
    needs_root=True,
    spacing_unit="mm",  # voxel sizes from the NIfTI header
)
KNEE3D_INFO = DatasetInfo(
    name="knee3d",
    spatial_dims=3,
    description="Knee MRI volumes (OAI samples), femur (FC) / tibia (TC) regions; 4 train / 1 test",
    **_COMMON,
)
KNEE2D_INFO = DatasetInfo(
    name="knee2d",
    spatial_dims=2,
    description="2D slices of the knee MRI volumes (FC / TC), split by volume",
    **_COMMON,
)


def volume_pairs(folder: Path) -> list[tuple[str, Path, Path]]:
    """[(volume id, image, label)] from <folder>/images + <folder>/labels, all 3D."""
    pairs = pair_files(folder / "images", folder / "labels")
    if check_same_dims([p for _, image, label in pairs for p in (image, label)]) != 3:
        raise DataError(f"{pairs[0][1]}: knee volumes must be 3D NIfTI files")
    return sorted(pairs, key=lambda p: natural_key(p[0]))


def default_splits(volumes: Sequence[str]) -> dict[str, str]:
    """The last fifth of the volumes (natural order, at least one) is the test set."""
    n_test = max(1, round(len(volumes) * TEST_FRACTION)) if len(volumes) > 1 else 0
    return {v: ("test" if i >= len(volumes) - n_test else "train") for i, v in enumerate(volumes)}


def read_volume(image_path: Path, label_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Validated (image float32 (1, X, Y, Z) in [0, 1], label uint8 (X, Y, Z))."""
    image, dims = read_array(image_path, "image")
    if dims != 3:
        raise DataError(f"{image_path}: expected a 3D volume, got shape {image.shape[1:]}")
    label, _ = read_array(label_path, "mask")
    label = as_label(label, label_path, "labels", num_classes=len(CLASSES))
    check_same_shape(image, label, image_path, label_path)
    # NIfTI arrays are Fortran-ordered: make them C-contiguous once so slicing is cheap
    return np.ascontiguousarray(as_image(image, image_path)), np.ascontiguousarray(label)


class KneeSource(Source):
    """Knee volumes (knee3d) or their slices (knee2d) under one folder."""

    def __init__(self, folder: Path, slices: bool) -> None:
        super().__init__()
        self.folder, self.slices = folder, slices
        self.info = KNEE2D_INFO if slices else KNEE3D_INFO
        self.pairs = volume_pairs(folder)
        self.split_of = default_splits([vol for vol, _, _ in self.pairs])
        self._labels: dict[str, np.ndarray] = {}
        if slices:
            self.notes.append(f"slices along voxel axis {SLICE_AXIS}; split by volume")

    def _label(self, vol: str, path: Path) -> np.ndarray:
        if vol not in self._labels:
            arr, _ = read_array(path, "mask")
            self._labels[vol] = as_label(arr, path, "labels", num_classes=len(CLASSES))
        return self._labels[vol]

    def cases(self) -> list[Case]:
        out: list[Case] = []
        for vol, image, label in self.pairs:
            split = self.split_of[vol]
            if not self.slices:
                out.append(Case(vol, vol, split, image, label))
                continue
            for idx in kept_slices(self._label(vol, label)):
                out.append(Case(f"{vol}_s{idx:03d}", vol, split, image, label, index=idx))
        return out

    def load(self, cases: Sequence[Case], size: tuple[int, ...] | None) -> Iterator[Sample]:
        current, volume, spacing = None, None, None
        for case in cases:
            if current != case.group:  # slices of one volume come together: decode it once
                current, volume = case.group, read_volume(case.image, case.mask)
                spacing = nifti_spacing(case.mask)  # the grid of the label that is scored
            image, label = volume
            case_spacing = spacing
            if self.slices:
                image = np.take(image, case.index, axis=1 + SLICE_AXIS)
                label = np.take(label, case.index, axis=SLICE_AXIS)
                case_spacing = tuple(z for a, z in enumerate(spacing) if a != SLICE_AXIS)
            yield Sample(
                case.case_id,
                np.ascontiguousarray(image),
                np.ascontiguousarray(label),
                case_spacing,
            )


def kept_slices(label: np.ndarray) -> list[int]:
    """Indices along SLICE_AXIS: all with foreground + a few evenly spaced empty ones."""
    other = tuple(a for a in range(label.ndim) if a != SLICE_AXIS)
    has_fg = (label > 0).any(axis=other)
    fg, empty = np.flatnonzero(has_fg), np.flatnonzero(~has_fg)
    n_empty = min(len(empty), max(2, round(EMPTY_SLICE_FRACTION * len(fg))))
    picked = empty[np.linspace(0, len(empty) - 1, n_empty).round().astype(int)] if n_empty else []
    return sorted({int(i) for i in fg} | {int(i) for i in picked})


def _folder(root, path) -> Path:
    folder = Path(path).expanduser() if path else data_root(root) / "knee"
    if not folder.is_dir():
        raise DataError(
            f"{folder}: knee folder not found (expected images/ + labels/ caseN.nii.gz)"
        )
    return folder


def open_knee3d(root=None, path=None, seed: int = 0) -> KneeSource:
    return KneeSource(_folder(root, path), slices=False)


def open_knee2d(root=None, path=None, seed: int = 0) -> KneeSource:
    return KneeSource(_folder(root, path), slices=True)
