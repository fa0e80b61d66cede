"""The small types every dataset module shares: what a dataset is, one case, one decoded sample.

A dataset module (glas.py, knee.py, folder.py, synthetic.py) answers one question: given a data
root or a path, which cases exist and how is one case decoded at native resolution. Splitting,
resizing, caching and augmentation happen once, in registry.py / dataset.py, for all of them.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

# The preprocessing switches (benchmarks/data/transforms.py; keys of a profile's dataset
# settings): image resize, intensity scaling, training augmentation.
ImageResize = Literal["area", "nearest"]
Intensity = Literal["auto", "minmax"]
Augmentation = Literal["flips_rot90", "flips", "none"]


@dataclass(frozen=True)
class DatasetInfo:
    """What a model needs to know about a dataset (static; no file is read to build it)."""

    name: str
    spatial_dims: int
    in_channels: int
    num_classes: int  # includes background
    class_names: tuple[str, ...]  # "background" first
    combined: tuple[int, ...] | None  # foreground ids merged for the paper's combined column
    combined_name: str | None  # e.g. "LV+LA", "FC+TC"
    synthetic: bool
    description: str
    needs_root: bool
    #: unit of the per-case spacing the native-resolution HD95 is measured in: "mm" (NIfTI
    #: header voxel sizes) or "px" (native pixels of 2D image files: spacing 1)
    spacing_unit: str = "px"


@dataclass(frozen=True)
class Case:
    """One case before decoding: its id, its split unit and where its data comes from."""

    case_id: str
    group: str  # the unit of splitting: the volume for knee2d slices, else the case itself
    split: str | None = None  # official split ("train" / "val" / "test") or None
    image: Path | None = None
    mask: Path | None = None
    index: int = 0  # slice index (knee2d) or generator index (synthetic)


@dataclass
class Sample:
    """One decoded case at native resolution (already validated)."""

    case_id: str
    image: np.ndarray  # float32 (C, *spatial) in [0, 1]
    label: np.ndarray  # uint8 (*spatial) class indices
    # per-axis size of a pixel/voxel of `label` in the dataset's spacing_unit; None = 1 per axis
    spacing: tuple[float, ...] | None = None


class Source(ABC):
    """A dataset opened at one location: its info, its cases and how to decode them."""

    info: DatasetInfo
    #: size used by synthetic generators when no size is given (check / show); None = native files
    native_size: tuple[int, ...] | None = None

    def __init__(self) -> None:
        self.notes: list[str] = []

    @abstractmethod
    def cases(self) -> list[Case]:
        """Every case of the dataset (all splits), with official splits where they exist."""

    @abstractmethod
    def load(self, cases: Sequence[Case], size: tuple[int, ...] | None) -> Iterator[Sample]:
        """Decode and validate `cases` in order; `size` is only used by synthetic generators."""


@dataclass
class DatasetEntry:
    """One registered dataset: a name, its static info (None when it depends on files) and an
    `open(root, path, seed) -> Source` function."""

    name: str
    description: str
    needs_root: bool
    synthetic: bool
    open: Callable[..., Source]  # open(root, path, seed) -> Source
    info: DatasetInfo | None = None


def natural_key(text: str) -> tuple:
    """Sort key that puts case2 before case10 and train_9 before train_10."""
    return tuple(int(tok) if tok.isdigit() else tok.lower() for tok in re.split(r"(\d+)", text))
