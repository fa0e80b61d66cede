"""What the baselines share: the Dice + CE loss, the deterministic-method wrapper and padding to a
network's size multiple (the diffusion baselines share ``ldseg.sampling_method`` with LDSeg).

A deterministic baseline is a MONAI / smp network wrapped in :class:`DeterministicMethod`, which
answers the method protocol of ``benchmarks.methods`` (``loss``, ``predict``, ``ema_target``).
The wrapper pads the input with zeros to the size the network needs and crops
the logits back, so every network accepts every profile's image size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from monai.losses import DiceLoss
from torch import Tensor, nn

from ldseg.config import NonNegativeFloat, SamplerConfig
from ldseg.sampling_method import Segmentation


@dataclass(frozen=True)
class SegLossConfig:
    """L = ce_weight * CE + dice_weight * soft Dice (nnU-Net's recipe; every flag explicit)."""

    ce_weight: NonNegativeFloat = 1.0
    dice_weight: NonNegativeFloat = 1.0
    dice_include_background: bool = False  # nnU-Net: Dice over the foreground classes only
    dice_batch: bool = True  # pool the Dice sums over the batch (robust to empty masks)


class SegLoss(nn.Module):
    """Cross-entropy + soft Dice on logits against (B, 1, *spatial) class indices."""

    def __init__(self, config: SegLossConfig) -> None:
        super().__init__()
        self.config = config
        self.dice = DiceLoss(
            include_background=config.dice_include_background,
            to_onehot_y=True,
            softmax=True,
            batch=config.dice_batch,
            smooth_nr=1e-5,
            smooth_dr=1e-5,
        )

    def forward(self, logits: Tensor, labels: Tensor) -> dict[str, Tensor]:
        labels = labels.long()
        ce = F.cross_entropy(logits, labels[:, 0])
        dice = self.dice(logits, labels)
        total = self.config.ce_weight * ce + self.config.dice_weight * dice
        return {"loss": total, "ce": ce.detach(), "dice": dice.detach()}


def padding_for(
    shape: tuple[int, ...], multiple: tuple[int, ...] | int, min_size: int = 0
) -> list[int]:
    """Per-axis amount of zero padding (at the end) that makes ``shape`` a multiple of
    ``multiple`` and at least ``min_size``."""
    if isinstance(multiple, int):
        multiple = (multiple,) * len(shape)
    out = []
    for s, m in zip(shape, multiple, strict=True):
        target = max(math.ceil(s / m) * m, math.ceil(min_size / m) * m)
        out.append(target - s)
    return out


def pad_end(x: Tensor, pad: list[int]) -> Tensor:
    """Zero-pad the spatial axes of ``x`` at their ends by ``pad`` (one entry per axis)."""
    if not any(pad):
        return x
    flat: list[int] = []
    for p in reversed(pad):  # F.pad lists the last axis first
        flat += [0, p]
    return F.pad(x, flat)


def crop_to(x: Tensor, spatial: tuple[int, ...]) -> Tensor:
    return x[(..., *(slice(0, s) for s in spatial))]


def check_divisible(shape: tuple[int, ...], multiple: int, what: str) -> None:
    bad = [s for s in shape if s % multiple]
    if bad:
        raise ValueError(
            f"{what}: image size {tuple(shape)} is not divisible by {multiple}; resize or pad "
            f"each axis to a multiple of {multiple}"
        )


class DeterministicMethod(nn.Module):
    """A segmentation network trained with :class:`SegLoss`, predicting softmax probabilities.

    ``multiple`` / ``min_size``: what the wrapped network needs of the input size; the input is
    zero-padded at the end of each axis and the logits are cropped back, so the loss and the
    prediction only ever see the original pixels.
    """

    def __init__(
        self,
        net: nn.Module,
        loss: SegLossConfig,
        *,
        multiple: tuple[int, ...] | int = 1,
        min_size: int = 0,
    ) -> None:
        super().__init__()
        self.net = net
        self.criterion = SegLoss(loss)
        self.multiple = multiple
        self.min_size = min_size

    def forward(self, images: Tensor) -> Tensor:
        spatial = tuple(images.shape[2:])
        pad = padding_for(spatial, self.multiple, self.min_size)
        return crop_to(self.net(pad_end(images, pad)), spatial)

    def loss(self, batch: dict, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """``generator`` is unused: the loss of a deterministic network draws nothing."""
        return self.criterion(self(batch["image"]), batch["label"])

    @torch.no_grad()
    def predict(
        self,
        images: Tensor,
        *,
        num_inference_steps: int | None = None,
        sampler: str | SamplerConfig | None = None,
        num_samples: int = 1,
        generator: torch.Generator | None = None,
    ) -> Segmentation:
        """Softmax of one forward pass; the sampling arguments are accepted and ignored."""
        probs = torch.softmax(self(images), dim=1)
        return Segmentation(probs, probs.argmax(dim=1, keepdim=True))

    def ema_target(self) -> nn.Module:
        return self
