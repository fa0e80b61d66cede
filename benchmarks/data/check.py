"""`check_dataset`: validate every file of a dataset at native resolution and summarise it."""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import asdict, dataclass, field

import numpy as np

from benchmarks.data.registry import open_source
from benchmarks.data.splits import SPLITS, partition

log = logging.getLogger(__name__)


@dataclass
class CheckReport:
    """What `bench data check NAME` prints; serialisable with `to_dict()`."""

    name: str
    counts: dict[str, int]  # cases per split (default split)
    image_sizes: dict[tuple[int, ...], int]  # native spatial shape -> number of cases
    class_frequencies: dict[str, float]  # class name -> fraction of pixels/voxels
    num_classes: int
    spatial_dims: int
    notes: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def to_dict(self) -> dict:
        out = asdict(self)
        out["image_sizes"] = {"x".join(map(str, k)): v for k, v in self.image_sizes.items()}
        return out


def check_dataset(name: str, root=None, path=None) -> CheckReport:
    """Decode and validate every case (raises DataError on the first bad file)."""
    start = time.perf_counter()
    source = open_source(name, root=root, path=path)
    info = source.info
    cases = source.cases()
    parts = partition(cases)
    sizes: Counter = Counter()
    pixels = np.zeros(info.num_classes, dtype=np.int64)
    channels: Counter = Counter()
    for sample in source.load(cases, source.native_size):
        sizes[tuple(sample.image.shape[1:])] += 1
        channels[sample.image.shape[0]] += 1
        pixels += np.bincount(sample.label.ravel(), minlength=info.num_classes)[: info.num_classes]
    notes = list(source.notes)
    groups = {s: len({c.group for c in parts[s]}) for s in SPLITS}
    if any(groups[s] != len(parts[s]) for s in SPLITS):
        notes.append(
            "volumes per split: " + ", ".join(f"{s} {groups[s]}" for s in SPLITS if groups[s])
        )
    if len(channels) > 1:
        notes.append(f"channel counts differ: {dict(channels)}")
    total = max(1, int(pixels.sum()))
    report = CheckReport(
        name=name,
        counts={s: len(parts[s]) for s in SPLITS if parts[s] or s != "val"},
        image_sizes=dict(sorted(sizes.items(), key=lambda kv: -kv[1])),
        class_frequencies={
            n: float(c) / total for n, c in zip(info.class_names, pixels, strict=True)
        },
        num_classes=info.num_classes,
        spatial_dims=info.spatial_dims,
        notes=notes,
    )
    log.info("checked %s: %d cases in %.1fs", name, len(cases), time.perf_counter() - start)
    return report
