"""Table V ablations: LDSeg with its label and/or image encoder replaced by nearest-neighbour
downsampling to the latent size (``ldseg-ld``, ``ldseg-id``, ``ldseg-ld-id``): a standardised
class-level map for the label latent, the one-channel grey level for the image latent.

Everything else is LDSeg (``ldseg.model.LDSeg``, same config, same loss, same sampler). The
label decoder stays learned in every variant: it is the only path from the latent back to the
full-size mask, so the ablation removes the learned *encoders* only, as the paper describes.
The replaced encoder's config section must be left at its defaults (it would otherwise be
accepted and ignored).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ldseg.config import ImageEncoderConfig, LabelEncoderConfig, LDSegConfig
from ldseg.errors import ConfigError
from ldseg.model import LDSeg
from ldseg.nets.blocks import standardize_per_sample


def _latent_size(x: Tensor, num_downsamplings: int) -> list[int]:
    f = 2**num_downsamplings
    return [s // f for s in x.shape[2:]]


class LabelDownsampler(nn.Module):
    """Label "encoder" without parameters: one-hot (B, C, *spatial) -> z_l0 (B, latent_channels,
    *spatial / 2**num_downsamplings).

    The class map is downsampled by nearest neighbour and each class index c is mapped to the
    fixed value 2c / (C - 1) - 1 (background -1, the last class +1, others evenly between),
    repeated over the latent channels, then standardised per sample exactly like the learned
    label encoder's output (``standardize_per_sample``: zero mean, unit variance), so the
    diffusion sees latents of the same scale in both arms of the ablation. An empty mask (a
    constant map) has no variance and becomes an all-zero latent.
    """

    def __init__(self, config: LDSegConfig) -> None:
        super().__init__()
        self.num_downsamplings = config.num_downsamplings
        self.latent_channels = config.latent_channels
        levels = torch.linspace(-1.0, 1.0, config.num_classes)
        self.register_buffer(
            "levels", levels.reshape(1, -1, *([1] * config.spatial_dims)), persistent=False
        )

    def forward(self, y_onehot: Tensor) -> Tensor:
        small = F.interpolate(
            y_onehot, size=_latent_size(y_onehot, self.num_downsamplings), mode="nearest"
        )
        z = (small * self.levels.to(small)).sum(dim=1, keepdim=True)  # one class per pixel
        z = z.expand(-1, self.latent_channels, *z.shape[2:]).contiguous()
        return standardize_per_sample(z)


# ITU-R BT.601 luma weights: the grey level of an RGB image
LUMA = (0.299, 0.587, 0.114)


class ImageDownsampler(nn.Module):
    """Image "encoder" without parameters: a one-channel image latent, like the paper's (its
    image encoder ends in a 1x1 conv to one channel). RGB images become their grey level (BT.601
    luma), one-channel images pass through, other channel counts are averaged; then nearest-
    neighbour downsampling to the latent size. ``out_channels`` = 1 sizes the denoiser's
    condition input."""

    out_channels = 1

    def __init__(self, config: LDSegConfig) -> None:
        super().__init__()
        self.num_downsamplings = config.num_downsamplings

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[1] == 3:
            w = torch.tensor(LUMA, dtype=x.dtype, device=x.device)
            grey = (x * w.reshape(1, 3, *([1] * (x.dim() - 2)))).sum(dim=1, keepdim=True)
        else:
            grey = x.mean(dim=1, keepdim=True)
        return F.interpolate(grey, size=_latent_size(x, self.num_downsamplings), mode="nearest")


def _ablation(config: LDSegConfig, *, label: bool, image: bool, name: str) -> LDSeg:
    if label and config.label_encoder != LabelEncoderConfig():
        raise ConfigError(
            f"{name} replaces the label encoder by downsampling; remove the "
            f"label_encoder settings from its config"
        )
    if image and config.image_encoder != ImageEncoderConfig():
        raise ConfigError(
            f"{name} replaces the image encoder by downsampling; remove the "
            f"image_encoder settings from its config"
        )
    return LDSeg(
        config,
        label_encoder=LabelDownsampler(config) if label else None,
        image_encoder=ImageDownsampler(config) if image else None,
    )


def build_ld(config: LDSegConfig, info) -> nn.Module:
    return _ablation(config, label=True, image=False, name="ldseg-ld")


def build_id(config: LDSegConfig, info) -> nn.Module:
    return _ablation(config, label=False, image=True, name="ldseg-id")


def build_ld_id(config: LDSegConfig, info) -> nn.Module:
    return _ablation(config, label=True, image=True, name="ldseg-ld-id")
