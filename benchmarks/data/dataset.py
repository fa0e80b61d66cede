"""SegDataset: every case of one split, decoded, validated and resized once, held as tensors."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.utils.data import Dataset

from benchmarks.data.base import DatasetInfo
from benchmarks.data.transforms import augment, sample_seed
from benchmarks.data.transforms import augmentation as make_augmentation


class SegDataset(Dataset):
    """In-memory segmentation split.

    `dataset[i]` -> {"image": float32 (C, *size) in [0, 1], "label": int64 (1, *size),
    "case_id": str}, never augmented. `batch(indices, aug_seed)` stacks a batch and, when the
    dataset was built with augment=True and aug_seed is given, applies the training augmentation
    (``augmentation``: "flips_rot90", "flips" or "none", see transforms.py) seeded from
    (aug_seed, position in the batch).

    A test split also keeps every case's label at its native (file) size and its spacing
    (`native(i)`), for the native-resolution metrics; `native_labels[i] is None` means the native
    size is the training size (the resized label is the native one, stored once).
    """

    def __init__(
        self,
        info: DatasetInfo,
        case_ids: Sequence[str],
        images: torch.Tensor,
        labels: torch.Tensor,
        *,
        split: str = "train",
        augment: bool = False,
        augmentation: str = "flips_rot90",
        native_labels: Sequence[torch.Tensor | None] | None = None,
        spacings: Sequence[tuple[float, ...]] | None = None,
    ) -> None:
        if len(case_ids) != len(images) or len(images) != len(labels):
            raise ValueError("case_ids, images and labels must have the same length")
        if (native_labels is None) != (spacings is None):
            raise ValueError("native_labels and spacings go together")
        if native_labels is not None and not len(native_labels) == len(spacings) == len(labels):
            raise ValueError("native_labels, spacings and labels must have the same length")
        self.info = info
        self.case_ids = list(case_ids)
        self.split = split
        self.augment = bool(augment)
        self.images = images.float().contiguous()  # (N, C, *size)
        self.labels = labels.to(torch.uint8).contiguous()  # (N, 1, *size); int64 on the way out
        self.size = tuple(self.images.shape[2:])
        self._transform = (
            make_augmentation(info.spatial_dims, self.size, augmentation) if augment else None
        )
        # (1, *native) uint8 or None (= the training-size label), and per-axis spacing
        self.native_labels = None if native_labels is None else list(native_labels)
        self.spacings = None if spacings is None else [tuple(map(float, s)) for s in spacings]

    @property
    def has_native(self) -> bool:
        """Whether native labels were kept (the test split of load_split)."""
        return self.native_labels is not None

    def native(self, i: int) -> tuple[torch.Tensor, tuple[float, ...]]:
        """Case i's label at native size, (1, *native) int64, and its spacing (in
        ``info.spacing_unit`` per axis)."""
        if self.native_labels is None or self.spacings is None:
            raise ValueError(f"{self!r} keeps no native labels (only test splits do)")
        label = self.native_labels[i]
        return (self.labels[i] if label is None else label).long(), self.spacings[i]

    def __len__(self) -> int:
        return len(self.case_ids)

    def __getitem__(self, i: int) -> dict:
        return {
            "image": self.images[i],
            "label": self.labels[i].long(),
            "case_id": self.case_ids[i],
        }

    def batch(self, indices: Sequence[int], aug_seed: int | None = None) -> dict:
        """Stack `indices` into a batch; augment (training only) when aug_seed is given."""
        idx = torch.as_tensor(list(indices), dtype=torch.long)
        images, labels = self.images[idx], self.labels[idx].long()
        if self._transform is not None and aug_seed is not None:
            pairs = [
                augment(images[p], labels[p], sample_seed(aug_seed, p), self._transform)
                for p in range(len(idx))
            ]
            images = torch.stack([im for im, _ in pairs])
            labels = torch.stack([lab for _, lab in pairs]).long()
        return {
            "image": images,
            "label": labels,
            "case_id": [self.case_ids[i] for i in idx.tolist()],
        }

    def class_frequencies(self) -> torch.Tensor:
        """Fraction of pixels/voxels per class over the whole split."""
        counts = torch.bincount(self.labels.flatten().long(), minlength=self.info.num_classes)
        return counts.double() / max(1, int(counts.sum()))

    def __repr__(self) -> str:
        return (
            f"SegDataset({self.info.name!r}, split={self.split!r}, n={len(self)}, "
            f"size={self.size}, augment={self.augment})"
        )
