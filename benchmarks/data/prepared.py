"""Prepared datasets: every case decoded, validated and resized once, saved as arrays.

A machine that does not hold the raw files (a lent GPU, a cluster worker) trains and scores
from these with **bit-identical inputs**: the arrays are exactly what ``load_split`` computes
from the raw files at one (size, image_resize, intensity), written by ``bench data prepare``.

Layout, under a data root: ``<root>/prepared/<dataset>/<H>x<W>[x<D>]_<resize>_<intensity>.npz``.
``open_source`` reads them when the raw files cannot be opened and ``<root>/prepared/<dataset>``
exists; raw files, when present, always win. Each file records the sha256 of the raw files it
was made from (``source_fingerprint``; printed by ``bench data prepare``, kept as a note).

Why not MONAI's PersistentDataset / CacheDataset: those cache a transform chain's output per
item on one machine; here the point is one portable file per dataset variant that carries the
case list, the native-size labels and spacings (native-resolution metrics) and a fingerprint of
the raw files it came from.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import asdict
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.data.base import Case, DatasetInfo, Sample, Source
from benchmarks.errors import DataError

log = logging.getLogger(__name__)

PREPARED_DIR = "prepared"
FORMAT = 1


def variant_file(size: Sequence[int], image_resize: str, intensity: str) -> str:
    """File name of one preprocessing variant: ``128x128_area_auto.npz``."""
    return f"{'x'.join(str(int(s)) for s in size)}_{image_resize}_{intensity}.npz"


def prepared_folder(root: Path, name: str) -> Path | None:
    """``<root>/prepared/<name>`` if it exists."""
    folder = Path(root) / PREPARED_DIR / name
    return folder if folder.is_dir() else None


def source_fingerprint(cases: Sequence[Case]) -> str:
    """sha256 over every image and mask file of the cases (names and bytes), or over the case
    ids where the cases have no files (synthetic data)."""
    digest = hashlib.sha256()
    for case in cases:
        digest.update(case.case_id.encode())
        for path in (case.image, case.mask):
            if path is not None:
                digest.update(Path(path).name.encode())
                digest.update(Path(path).read_bytes())
    return digest.hexdigest()


def _shuffle(array: np.ndarray) -> np.ndarray:
    # byte planes (all first bytes, then all second bytes, ...): float32 images compress to
    # ~0.73 of their size this way (zlib), against ~0.9 byte-interleaved
    return np.ascontiguousarray(array.reshape(-1).view(np.uint8).reshape(-1, 4).T)


def _unshuffle(planes: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    return np.ascontiguousarray(planes.T).reshape(-1).view(np.float32).reshape(shape)


def write_variant(
    file: Path,
    source: Source,
    cases: Sequence[Case],
    decoded: tuple[Any, Any, list, list],
    *,
    size: Sequence[int],
    image_resize: str,
    intensity: str,
) -> Path:
    """Save ``decoded`` (the ``load_split`` tensors of ``cases``, native labels kept for every
    case) as one prepared variant."""
    images, labels, native_labels, spacings = decoded
    shapes = [[] if n is None else list(n.shape) for n in native_labels]
    flat = [n.numpy().reshape(-1) for n in native_labels if n is not None]
    meta = {
        "format": FORMAT,
        "dataset": source.info.name,
        "size": [int(s) for s in size],
        "image_resize": image_resize,
        "intensity": intensity,
        "cases": [
            {k: v for k, v in asdict(c).items() if k not in ("image", "mask")} for c in cases
        ],
        "source_fingerprint": source_fingerprint(cases),
        "image_shape": list(images.shape),
        "native_shapes": shapes,
        "spacings": [list(s) for s in spacings],
    }
    file.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        file,
        meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
        image_planes=_shuffle(images.numpy().astype(np.float32, copy=False)),
        labels=labels.numpy(),
        native_flat=np.concatenate(flat) if flat else np.zeros(0, np.uint8),
    )
    return file


@lru_cache(maxsize=4)
def _read(file: Path) -> dict[str, Any]:
    try:
        with np.load(file) as npz:
            meta = json.loads(npz["meta"].tobytes())
            images = _unshuffle(npz["image_planes"], meta["image_shape"])
            labels, flat = npz["labels"], npz["native_flat"]
    except (OSError, ValueError, KeyError) as err:
        raise DataError(f"{file}: unreadable prepared dataset ({type(err).__name__})") from None
    if meta.get("format") != FORMAT:
        raise DataError(f"{file}: prepared format {meta.get('format')}, expected {FORMAT}")
    native, offset = [], 0
    for shape in meta["native_shapes"]:
        n = int(np.prod(shape)) if shape else 0
        native.append(flat[offset : offset + n].reshape(shape) if shape else None)
        offset += n
    index = {c["case_id"]: i for i, c in enumerate(meta["cases"])}
    return {"meta": meta, "images": images, "labels": labels, "native": native, "index": index}


class PreparedSource(Source):
    """A dataset read from ``<root>/prepared/<name>/``: the case list and, per preprocessing
    variant, the resized tensors. It has no native images, so it cannot be drawn or checked."""

    def __init__(self, folder: Path, info: DatasetInfo) -> None:
        super().__init__()
        self.folder, self.info = folder, info
        self.variants = sorted(folder.glob("*.npz"))
        if not self.variants:
            raise DataError(f"{folder}: no prepared variants (*.npz); run `bench data prepare`")
        fingerprint = _read(self.variants[0])["meta"]["source_fingerprint"]
        self.notes.append(f"prepared arrays in {folder} (raw files sha256 {fingerprint[:16]})")

    def cases(self) -> list[Case]:
        return [Case(**c) for c in _read(self.variants[0])["meta"]["cases"]]

    def load(self, cases: Sequence[Case], size: tuple[int, ...] | None) -> Iterator[Sample]:
        raise DataError(
            f"{self.folder}: prepared data hold resized arrays only, not the raw images; point "
            f"the data root at the raw files to check or draw cases"
        )

    def tensors(
        self,
        cases: Sequence[Case],
        size: tuple[int, ...],
        image_resize: str,
        intensity: str,
        keep_native: bool,
    ) -> tuple[Any, Any, list, list]:
        """The ``load_split`` tensors of ``cases`` from the matching variant file."""
        import torch

        file = self.folder / variant_file(size, image_resize, intensity)
        if not file.exists():
            have = ", ".join(v.name for v in self.variants)
            raise DataError(
                f"{file}: not prepared (have {have}); run `bench data prepare "
                f"{self.info.name}` with this profile"
            )
        data = _read(file)
        rows = [data["index"][c.case_id] for c in cases]
        images = torch.from_numpy(data["images"][rows].copy())
        labels = torch.from_numpy(data["labels"][rows].copy())
        if not keep_native:
            return images, labels, [], []
        native = [
            None if data["native"][r] is None else torch.from_numpy(data["native"][r].copy())
            for r in rows
        ]
        spacings = [tuple(data["meta"]["spacings"][r]) for r in rows]
        return images, labels, native, spacings
