"""The dataset registry: name -> entry, `get_info` and `load_split`.

    >>> ds = load_split("glas", "train", size=(128, 128), augment=True)
    >>> batch = ds.batch(range(8), aug_seed=step)      # {"image", "label", "case_id"}

`load_split` decodes, validates and resizes every case of the split once and returns an
in-memory SegDataset; an epoch never touches a file again. A test split also keeps each case's
native-size label and spacing from that same decoding pass (native-resolution metrics).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from benchmarks.data import folder, glas, knee, synthetic
from benchmarks.data.base import DatasetEntry, DatasetInfo, Source
from benchmarks.data.prepared import PreparedSource, prepared_folder
from benchmarks.data.splits import select, source_split_record
from benchmarks.errors import ConfigError, DataError

if TYPE_CHECKING:  # torch and MONAI load with the first split: `bench data list` needs neither
    from benchmarks.data.dataset import SegDataset

log = logging.getLogger(__name__)


def _entry(info: DatasetInfo, opener) -> DatasetEntry:
    return DatasetEntry(info.name, info.description, info.needs_root, info.synthetic, opener, info)


DATASETS: dict[str, DatasetEntry] = {
    "glas": _entry(glas.GLAS_INFO, glas.open_glas),
    "knee3d": _entry(knee.KNEE3D_INFO, knee.open_knee3d),
    "knee2d": _entry(knee.KNEE2D_INFO, knee.open_knee2d),
    "echo-synth": _entry(synthetic.ECHO_INFO, synthetic.open_echo),
    "synth2d": _entry(synthetic.SYNTH2D_INFO, synthetic.open_synth2d),
    "synth3d": _entry(synthetic.SYNTH3D_INFO, synthetic.open_synth3d),
    "folder": DatasetEntry(
        "folder",
        "any directory with images/ and masks/ (--path DIR); classes read from the masks",
        needs_root=False,
        synthetic=False,
        open=folder.open_folder,
        info=None,
    ),
}


def get_entry(name: str) -> DatasetEntry:
    """The registered entry; an unknown name raises ConfigError listing the valid names."""
    try:
        return DATASETS[name]
    except KeyError:
        raise ConfigError(
            f"unknown dataset {name!r}; valid datasets: {', '.join(DATASETS)}"
        ) from None


def open_source(name: str, *, root=None, path=None, seed: int = 0) -> Source:
    """Locate a dataset (data root or `path`) and list its files, without decoding them.

    Where the raw files cannot be opened but the data root holds ``prepared/<name>/``, that
    gives the prepared arrays (``benchmarks.data.prepared``, ``bench data prepare``): raw files,
    wherever the dataset keeps them (``knee3d`` in ``<root>/knee``), always win."""
    entry = get_entry(name)
    try:
        return entry.open(root, path, seed)
    except DataError:
        folder = None
        if path is None and entry.needs_root and entry.info is not None:
            from benchmarks.settings import data_root

            folder = prepared_folder(data_root(root), name)
        if folder is None:
            raise
        return PreparedSource(folder, entry.info)


def split_record(
    name: str,
    *,
    root=None,
    path=None,
    seed: int = 0,
    val_fraction: float = 0.0,
    limit: int | None = None,
    fold: int | None = None,
    num_folds: int | None = None,
) -> dict:
    """Which cases a job trains and is tested on, and by which rule: stored as ``split.json``
    beside a run's metrics (the same selection as ``load_split``, ``limit`` included)."""
    source = open_source(name, root=root, path=path, seed=seed)
    return source_split_record(
        name, source, val_fraction=val_fraction, limit=limit, fold=fold, num_folds=num_folds
    )


def get_info(name: str, path: str | None = None) -> DatasetInfo:
    """Static info of a dataset; `folder` reads its masks (under `path`) to count the classes."""
    entry = get_entry(name)
    if entry.info is not None:
        return entry.info
    return open_source(name, path=path).info


def _check_size(info: DatasetInfo, size: Sequence[int]) -> tuple[int, ...]:
    size = tuple(int(s) for s in size)
    if len(size) != info.spatial_dims or min(size) < 1:
        axes = "(H, W)" if info.spatial_dims == 2 else "(D, H, W)"
        raise ConfigError(f"{info.name} is {info.spatial_dims}D: size must be {axes}, got {size}")
    return size


def load_split(
    name: str,
    split: str,
    *,
    root=None,
    size: Sequence[int],
    augment: bool = False,
    seed: int = 0,
    val_fraction: float = 0.0,
    path=None,
    fold: int | None = None,
    num_folds: int | None = None,
    limit: int | None = None,
    native: bool | None = None,
    image_resize: str = "area",
    intensity: str = "auto",
    augmentation: str = "flips_rot90",
) -> SegDataset:
    """One split of a dataset, decoded, validated and resized to `size`, cached in memory.

    seed: draws the training cases of the synthetic datasets. Nothing else depends on it: test
        sets, the splits of file datasets and the val carve-out use fixed seeds (splits.py), so
        every method and every training seed is scored on the same cases.
    val_fraction: carve "val" out of the training cases (by group); "train" then excludes it.
    fold / num_folds: k-fold by group (knee: by volume) instead of the default split.
    limit: keep the first N cases of the split (natural order), for fast tests.
    native: keep every case's label at its native size and its spacing (``SegDataset.native``);
        default: for the test split only (the native-resolution metrics score it).
    image_resize / intensity / augmentation: the preprocessing switches of transforms.py (the
        profile's dataset settings); augmentation only acts with ``augment=True``.
    """
    from benchmarks.data.dataset import SegDataset

    start = time.perf_counter()
    source = open_source(name, root=root, path=path, seed=seed)
    size = _check_size(source.info, size)
    cases = select(source.cases(), split, val_fraction=val_fraction, fold=fold, num_folds=num_folds)
    if limit is not None:
        cases = cases[: max(0, int(limit))]
    if not cases:
        raise ConfigError(f"{name}: split {split!r} has no cases")
    keep_native = split == "test" if native is None else bool(native)
    if isinstance(source, PreparedSource):  # already decoded and resized
        decoded = source.tensors(cases, size, image_resize, intensity, keep_native)
    else:
        decoded = decode_cases(source, cases, size, image_resize, intensity, keep_native)
    images, labels, native_labels, spacings = decoded
    log.info(
        "%s/%s: %d cases at %s in %.1fs",
        name,
        split,
        len(cases),
        size,
        time.perf_counter() - start,
    )
    return SegDataset(
        source.info,
        [c.case_id for c in cases],
        images,
        labels,
        split=split,
        augment=augment,
        augmentation=augmentation,
        native_labels=native_labels if keep_native else None,
        spacings=spacings if keep_native else None,
    )


def decode_cases(
    source: Source,
    cases: Sequence,
    size: tuple[int, ...],
    image_resize: str,
    intensity: str,
    keep_native: bool,
) -> tuple:
    """Decode, resize and scale ``cases``: ``(images, labels, native_labels, spacings)`` as
    ``load_split`` keeps them (the last two empty unless ``keep_native``)."""
    import torch

    from benchmarks.data.transforms import resize_image, resize_label, scale_intensity

    images = torch.empty((len(cases), source.info.in_channels, *size), dtype=torch.float32)
    labels = torch.empty((len(cases), 1, *size), dtype=torch.uint8)
    native_labels: list = []
    spacings: list[tuple[float, ...]] = []
    for i, sample in enumerate(source.load(cases, size)):
        image = resize_image(torch.from_numpy(sample.image), size, image_resize)
        images[i] = scale_intensity(image, intensity)
        label = torch.from_numpy(sample.label[None].astype(np.uint8))
        labels[i] = resize_label(label, size)
        if keep_native:  # None: the native size is the training size, labels[i] is the label
            native_labels.append(None if tuple(label.shape[1:]) == size else label)
            spacings.append(sample.spacing or (1.0,) * len(size))
    return images, labels, native_labels, spacings
