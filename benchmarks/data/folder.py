"""`folder`: any directory given as `path` with images/ and masks/ (or labels/).

- Pairs are matched by file stem (case1.png <-> case1.png, case1.nii.gz <-> case1.nii.gz);
  PNG / BMP / JPEG / TIFF / NIfTI; all files 2D or all 3D.
- Masks: {0, 255} or {0, 1} are binary -> {0, 1}; anything else is read as class indices, and
  num_classes = max label + 1 over the folder (at least 2).
- Split, in order: `split.csv` in the folder (header `case_id,split`, one row per case, split one
  of train / val / test; every case listed); else, when every file name starts with train / val /
  test (train_1, testA_3, val_07 ...), those prefixes; otherwise a seeded 80/20 train/test split
  of the cases (splits.py: TEST_FRACTION, SPLIT_SEED). `bench data check folder` prints which.
- Spacing (native-resolution HD95): when every mask is NIfTI, each mask header's voxel size in
  mm; otherwise native pixels (spacing 1).
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

from benchmarks.data.base import Case, DatasetInfo, Sample, Source
from benchmarks.data.readers import SUFFIXES_NIFTI, nifti_spacing, read_array, suffix_of
from benchmarks.data.splits import SPLIT_SEED, TEST_FRACTION
from benchmarks.data.validate import (
    as_image,
    as_label,
    check_same_dims,
    check_same_shape,
    pair_files,
)
from benchmarks.errors import ConfigError, DataError

log = logging.getLogger(__name__)

PREFIXES = ("train", "val", "test")
SPLIT_CSV = "split.csv"
_SCANS: dict[tuple, DatasetInfo] = {}


def prefix_split(stem: str) -> str | None:
    low = stem.lower()
    return next((p for p in PREFIXES if low.startswith(p)), None)


class FolderSource(Source):
    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.folder = folder
        masks = folder / "masks"
        if not masks.exists() and (folder / "labels").is_dir():
            masks = folder / "labels"
        for sub in (folder / "images", masks):
            if not sub.is_dir():
                raise DataError(
                    f"{sub}: folder not found (a folder dataset needs {folder}/images and "
                    f"{folder}/masks, pairs matched by file stem)"
                )
        self.pairs = pair_files(folder / "images", masks)
        self.spatial_dims = check_same_dims([p for _, im, mk in self.pairs for p in (im, mk)])
        csv_file = folder / SPLIT_CSV
        if csv_file.is_file():
            self.split_of = read_split_csv(csv_file, [stem for stem, _, _ in self.pairs])
            self.split_rule = f"split from {csv_file}"
        elif all(prefix_split(stem) is not None for stem, _, _ in self.pairs):
            self.split_of = {stem: prefix_split(stem) for stem, _, _ in self.pairs}
            self.split_rule = "split from train_/val_/test_ file-name prefixes"
        else:
            self.split_of = {}
            self.split_rule = (
                f"seeded {1 - TEST_FRACTION:.0%}/{TEST_FRACTION:.0%} train/test split of the "
                f"cases (split seed {SPLIT_SEED}); put a {SPLIT_CSV} (case_id,split) in "
                f"{folder} to choose it"
            )
        self.notes.append(self.split_rule)
        self.info = self._scan()

    def _scan(self) -> DatasetInfo:
        """Channels from the first image, num_classes from every mask (memoised on the files'
        names, sizes and modification times, so get_info + train + test read the masks once)."""
        key = tuple(
            (str(p), st.st_size, st.st_mtime_ns)
            for _, im, mk in self.pairs
            for p in (im, mk)
            for st in [p.stat()]
        )
        if key not in _SCANS:
            _SCANS.clear()  # keep one folder: enough for get_info + load_split of one job
            _SCANS[key] = self._scan_files()
        return _SCANS[key]

    def _scan_files(self) -> DatasetInfo:
        first = self.pairs[0][1]
        channels = as_image(read_array(first, "image")[0], first).shape[0]  # alpha dropped
        top = 1
        for _, _, mask in self.pairs:
            arr, _ = read_array(mask, "mask")
            top = max(top, int(as_label(arr, mask, "labels").max()))
        k = top + 1
        # HD95 in mm needs every mask's header; one file type without spacing -> native pixels
        nifti = all(suffix_of(mask) in SUFFIXES_NIFTI for _, _, mask in self.pairs)
        names = (
            ("background", "foreground")
            if k == 2
            else ("background",) + tuple(f"class{i}" for i in range(1, k))
        )
        return DatasetInfo(
            name="folder",
            spatial_dims=self.spatial_dims,
            in_channels=channels,
            num_classes=k,
            class_names=names,
            combined=None if k == 2 else tuple(range(1, k)),
            combined_name=None if k == 2 else "foreground",
            synthetic=False,
            description=f"image folder {self.folder}",
            needs_root=False,
            spacing_unit="mm" if nifti else "px",
        )

    def cases(self) -> list[Case]:
        return [Case(stem, stem, self.split_of.get(stem), im, mk) for stem, im, mk in self.pairs]

    def load(self, cases: Sequence[Case], size: tuple[int, ...] | None) -> Iterator[Sample]:
        for case in cases:
            image, _ = read_array(case.image, "image")
            image = as_image(image, case.image)
            if image.shape[0] != self.info.in_channels:
                raise DataError(
                    f"{case.image}: {image.shape[0]} channel(s) but the folder's first image "
                    f"has {self.info.in_channels}"
                )
            arr, _ = read_array(case.mask, "mask")
            label = as_label(arr, case.mask, "labels", num_classes=self.info.num_classes)
            check_same_shape(image, label, case.image, case.mask)
            spacing = nifti_spacing(case.mask) if self.info.spacing_unit == "mm" else None
            yield Sample(case.case_id, image, label, spacing)


def read_split_csv(path: Path, stems: Sequence[str]) -> dict[str, str]:
    """``split.csv`` -> {case id: split}; every case of the folder exactly once, no other ids."""
    known = set(stems)
    out: dict[str, str] = {}
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            cols = {c.strip().lower(): c for c in reader.fieldnames or []}
            if "case_id" not in cols or "split" not in cols:
                raise DataError(
                    f"{path}: needs a header with the columns case_id,split, got "
                    f"{','.join(reader.fieldnames or []) or 'nothing'}"
                )
            for row in reader:
                line = reader.line_num
                case = (row[cols["case_id"]] or "").strip()
                split = (row[cols["split"]] or "").strip().lower()
                if not case and not split:
                    continue
                if split not in PREFIXES:
                    raise DataError(
                        f"{path}:{line}: split {split!r} for {case!r}; use train, val or test"
                    )
                if case not in known:
                    raise DataError(f"{path}:{line}: no image/mask pair named {case!r}")
                if case in out:
                    raise DataError(f"{path}:{line}: {case!r} is listed twice")
                out[case] = split
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise DataError(f"{path}: cannot read the split file ({err})") from None
    missing = [s for s in stems if s not in out]
    if missing:
        shown = ", ".join(missing[:5]) + (
            f" (+{len(missing) - 5} more)" if len(missing) > 5 else ""
        )
        raise DataError(f"{path}: no split for {len(missing)} case(s): {shown}")
    return out


def open_folder(root=None, path=None, seed: int = 0) -> FolderSource:
    if path is None:
        raise ConfigError("dataset 'folder' needs path=DIR (--path DIR) holding images/ and masks/")
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise DataError(f"{folder}: folder not found")
    return FolderSource(folder)
