"""Resizing to the profile size and the training augmentation, on MONAI transforms.

- Images: `area` interpolation when every axis shrinks (no aliasing), else bilinear/trilinear.
- Labels: nearest neighbour, so class indices stay class indices.
- Augmentation (training only): a random flip on every spatial axis and a random multiple of 90
  degrees in the last two axes (only when they have equal length, so the batch shape is kept;
  otherwise the two flips already give the 180-degree turn). Every sample gets its own seed
  derived from (aug_seed, position in the batch), so a resumed run sees the same batches without
  storing any RNG state.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from monai.data import MetaTensor
from monai.transforms import Compose, RandFlipd, RandRotate90d, Resize

KEYS = ("image", "label")


def _plain(x: torch.Tensor) -> torch.Tensor:
    """MONAI returns MetaTensors; the harness works with plain tensors."""
    return x.as_tensor() if isinstance(x, MetaTensor) else torch.as_tensor(x)


def resize_image(image: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """(C, *native) float -> (C, *size) float32, clipped to [0, 1]."""
    size = tuple(int(s) for s in size)
    if tuple(image.shape[1:]) == size:
        return image.float()
    shrink = all(s <= n for s, n in zip(size, image.shape[1:], strict=True))
    mode = "area" if shrink else ("bilinear" if len(size) == 2 else "trilinear")
    out = Resize(spatial_size=size, mode=mode)(image.float())
    return _plain(out).clamp_(0.0, 1.0).contiguous()


def resize_label(label: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """(1, *native) integer -> (1, *size) uint8, nearest neighbour sampled at pixel centres.

    ``"nearest-exact"`` (not PyTorch's legacy ``"nearest"``, which reads native index
    floor(i * scale), the left edge of output pixel i's footprint): the images are resized
    centre-aligned (area / bilinear, align_corners=False), so the legacy rule shifted every label
    by up to half an output pixel against its image (775 -> 128 px on GlaS: ~3 native pixels).
    """
    size = tuple(int(s) for s in size)
    if tuple(label.shape[1:]) == size:
        return label.to(torch.uint8)
    out = Resize(spatial_size=size, mode="nearest-exact")(label.float())
    return _plain(out).to(torch.uint8).contiguous()  # nearest: values are exact


def sample_seed(aug_seed: int, position: int) -> int:
    """A 32-bit seed for one sample from the batch seed and its position in the batch."""
    return int(np.random.SeedSequence([int(aug_seed) & 0xFFFFFFFF, position]).generate_state(1)[0])


def augmentation(spatial_dims: int, spatial_shape: Sequence[int]) -> Compose:
    """The training augmentation as one MONAI dict transform (random state set by the caller)."""
    transforms = [RandFlipd(keys=KEYS, prob=0.5, spatial_axis=a) for a in range(spatial_dims)]
    if spatial_shape[-1] == spatial_shape[-2]:
        axes = (spatial_dims - 2, spatial_dims - 1)
        transforms.append(RandRotate90d(keys=KEYS, prob=0.5, max_k=3, spatial_axes=axes))
    return Compose(transforms)


def augment(
    image: torch.Tensor, label: torch.Tensor, seed: int, transform: Compose | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Apply the same random flips / rotations to one (image, label) pair, seeded by `seed`."""
    spatial = tuple(image.shape[1:])
    transform = transform or augmentation(len(spatial), spatial)
    transform.set_random_state(seed=seed)
    out = transform({"image": image, "label": label})
    return _plain(out["image"]).contiguous(), _plain(out["label"]).contiguous()
