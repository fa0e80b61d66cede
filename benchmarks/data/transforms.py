"""Resizing to the profile size and the training augmentation, on MONAI transforms.

Each choice is a key of the profile's dataset settings (default first; the reference code's
choice is the switch, see ``ldseg/config.py``'s table):

- Images (``image_resize``): ``"area"`` = area interpolation when every axis shrinks (no
  aliasing), else bilinear/trilinear; ``"nearest"`` = nearest neighbour at pixel centres, as the
  labels (the reference code resizes images and labels with nearest neighbour).
- Intensities (``intensity``): ``"auto"`` = as decoded (8-bit / 255, anything else min-max
  scaled, ``validate.as_image``); ``"minmax"`` = every resized image min-max scaled to [0, 1]
  over all its channels (the reference code).
- Labels: nearest neighbour, so class indices stay class indices.
- Augmentation (training only, ``augmentation``): ``"flips_rot90"`` = a random flip on every
  spatial axis and a random multiple of 90 degrees in the last two axes (only when they have
  equal length, so the batch shape is kept; otherwise the two flips already give the 180-degree
  turn); ``"flips"`` = the flips only (the reference code, 2D); ``"none"`` (the reference code in
  3D). Every sample gets its own seed derived from (aug_seed, position in the batch), so a
  resumed run sees the same batches without storing any RNG state.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from monai.data import MetaTensor
from monai.transforms import Compose, RandFlipd, RandRotate90d, Resize

from benchmarks.data.base import Augmentation, ImageResize, Intensity

KEYS = ("image", "label")


def _plain(x: torch.Tensor) -> torch.Tensor:
    """MONAI returns MetaTensors; the harness works with plain tensors."""
    return x.as_tensor() if isinstance(x, MetaTensor) else torch.as_tensor(x)


def resize_image(
    image: torch.Tensor, size: Sequence[int], mode: ImageResize = "area"
) -> torch.Tensor:
    """(C, *native) float -> (C, *size) float32, clipped to [0, 1]; ``mode`` see above."""
    size = tuple(int(s) for s in size)
    if tuple(image.shape[1:]) == size:
        return image.float()
    if mode == "nearest":
        out = Resize(spatial_size=size, mode="nearest-exact")(image.float())
        return _plain(out).contiguous()
    if mode != "area":
        raise ValueError(f"unknown image_resize {mode!r}; use 'area' or 'nearest'")
    shrink = all(s <= n for s, n in zip(size, image.shape[1:], strict=True))
    mode = "area" if shrink else ("bilinear" if len(size) == 2 else "trilinear")
    out = Resize(spatial_size=size, mode=mode)(image.float())
    return _plain(out).clamp_(0.0, 1.0).contiguous()


def scale_intensity(image: torch.Tensor, how: Intensity = "auto") -> torch.Tensor:
    """``"minmax"``: (x - min) / (max - min) over the whole image (all channels); a constant
    image becomes 0. ``"auto"``: unchanged (already scaled when decoded)."""
    if how == "auto":
        return image
    if how != "minmax":
        raise ValueError(f"unknown intensity {how!r}; use 'auto' or 'minmax'")
    lo, hi = image.min(), image.max()
    if hi <= lo:
        return torch.zeros_like(image)
    return (image - lo) / (hi - lo)


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


def augmentation(
    spatial_dims: int, spatial_shape: Sequence[int], kind: Augmentation = "flips_rot90"
) -> Compose | None:
    """The training augmentation as one MONAI dict transform (random state set by the caller);
    None for ``kind="none"``."""
    if kind == "none":
        return None
    if kind not in ("flips_rot90", "flips"):
        raise ValueError(f"unknown augmentation {kind!r}; use 'flips_rot90', 'flips' or 'none'")
    transforms = [RandFlipd(keys=KEYS, prob=0.5, spatial_axis=a) for a in range(spatial_dims)]
    if kind == "flips_rot90" and spatial_shape[-1] == spatial_shape[-2]:
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
