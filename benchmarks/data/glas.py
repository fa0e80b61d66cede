"""GlaS (Warwick-QU gland segmentation, MICCAI 2015): 2D RGB H&E histology, binary gland masks.

Two layouts are read, detected automatically under <root>/glas or in a folder given as `path`:
- the harness layout: images/<case>.png (RGB) + masks/<case>.png ({0, 255} or {0, 1});
- the original Warwick release: one folder of <case>.bmp + <case>_anno.bmp, where the
  annotation holds gland instance ids (> 0 = gland); the folder may also be one level down.
Official split by file-name prefix: train_* (85) = train, testA_* (60) + testB_* (20) = test.
The files carry no pixel size: native-resolution HD95 is in native pixels (spacing 1).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

from benchmarks.data.base import Case, DatasetInfo, Sample, Source, natural_key
from benchmarks.data.readers import read_array, stem_of
from benchmarks.data.validate import as_image, as_label, check_same_shape, pair_files
from benchmarks.errors import DataError
from benchmarks.settings import data_root

log = logging.getLogger(__name__)

GLAS_INFO = DatasetInfo(
    name="glas",
    spatial_dims=2,
    in_channels=3,
    num_classes=2,
    class_names=("background", "gland"),
    combined=None,
    combined_name=None,
    synthetic=False,
    description="GlaS colon histology (MICCAI 2015), RGB, binary glands; 85 train / 80 test",
    needs_root=True,
)

ANNO_SUFFIX = "_anno"


def official_split(path: Path) -> str:
    """train_* -> train, testA_* / testB_* / test_* -> test."""
    stem = stem_of(path).lower()
    if stem.startswith("train"):
        return "train"
    if stem.startswith("test"):
        return "test"
    raise DataError(f"{path}: GlaS file names must start with train_, testA_ or testB_")


def find_warwick(folder: Path) -> Path | None:
    """The folder (itself or one level down) that holds the original *_anno.bmp files."""
    for candidate in [folder, *sorted(p for p in folder.iterdir() if p.is_dir())]:
        if any(candidate.glob(f"*{ANNO_SUFFIX}.bmp")):
            return candidate
    return None


def warwick_pairs(folder: Path) -> list[tuple[str, Path, Path]]:
    """[(stem, image.bmp, image_anno.bmp)] of the original release; unmatched files are errors."""
    bmps = sorted(folder.glob("*.bmp"), key=lambda p: natural_key(p.name))
    masks = {p.stem[: -len(ANNO_SUFFIX)]: p for p in bmps if p.stem.endswith(ANNO_SUFFIX)}
    images = {p.stem: p for p in bmps if not p.stem.endswith(ANNO_SUFFIX)}
    for stem, path in images.items():
        if stem not in masks:
            raise DataError(f"{path}: image has no annotation {stem}{ANNO_SUFFIX}.bmp")
    for stem, path in masks.items():
        if stem not in images:
            raise DataError(f"{path}: annotation has no image {stem}.bmp")
    return [(stem, images[stem], masks[stem]) for stem in sorted(images, key=natural_key)]


class GlasSource(Source):
    def __init__(self, folder: Path, layout: str) -> None:
        super().__init__()
        self.info, self.folder, self.layout = GLAS_INFO, folder, layout
        if layout == "warwick":
            self.pairs = warwick_pairs(folder)
            self.notes.append(
                f"original Warwick .bmp release in {folder} (instance ids > 0 = gland)"
            )
        else:
            self.pairs = pair_files(folder / "images", folder / "masks")
        self.mask_mode = "instances" if layout == "warwick" else "binary"

    def cases(self) -> list[Case]:
        return [Case(stem, stem, official_split(img), img, mask) for stem, img, mask in self.pairs]

    def load(self, cases: Sequence[Case], size: tuple[int, ...] | None) -> Iterator[Sample]:
        for case in cases:
            image, dims = read_array(case.image, "image")
            if dims != 2 or image.shape[0] not in (3, 4):
                raise DataError(f"{case.image}: expected an RGB image, got shape {image.shape}")
            label, _ = read_array(case.mask, "mask")
            label = as_label(label, case.mask, self.mask_mode)
            check_same_shape(image, label, case.image, case.mask)
            yield Sample(case.case_id, as_image(image, case.image), label)


def open_glas(root=None, path=None, seed: int = 0) -> GlasSource:
    """GlaS from `path` (either layout) or from <data root>/glas."""
    folder = Path(path).expanduser() if path else data_root(root) / "glas"
    if not folder.is_dir():
        raise DataError(
            f"{folder}: GlaS folder not found (expected images/ + masks/ or the original "
            "Warwick .bmp release)"
        )
    if (folder / "images").exists() or (folder / "masks").exists():
        return GlasSource(folder, "png")
    warwick = find_warwick(folder)
    if warwick is None:
        raise DataError(
            f"{folder}: neither images/ + masks/ nor Warwick *.bmp + *_anno.bmp files found"
        )
    return GlasSource(warwick, "warwick")
