"""Datasets for the harness: registry, readers, validation, splits, transforms.

    from benchmarks.data import load_split, get_info, check_dataset
    train = load_split("glas", "train", size=(128, 128), augment=True, val_fraction=0.1)
    batch = train.batch([0, 1, 2, 3], aug_seed=step)

Registered: glas, knee3d, knee2d, echo-synth (SYNTHETIC echo stand-in), synth2d, synth3d,
folder (any images/ + masks/ directory). See each module's docstring for layout and splits.
"""

from benchmarks.data.base import DatasetInfo
from benchmarks.data.check import CheckReport, check_dataset
from benchmarks.data.registry import DATASETS, get_info, load_split, open_source

__all__ = [
    "DATASETS",
    "CheckReport",
    "DatasetInfo",
    "SegDataset",
    "check_dataset",
    "get_info",
    "load_split",
    "open_source",
]


def __getattr__(name: str):
    # SegDataset (torch, MONAI transforms) loads on first use: listing and checking datasets
    # (`bench data list`, `bench train` before its first split) need neither
    if name == "SegDataset":
        from benchmarks.data.dataset import SegDataset

        return SegDataset
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
