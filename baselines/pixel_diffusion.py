"""Pixel-space conditional diffusion baselines: ``medsegdiff`` and ``sdfddpm``.

Both diffuse a full-resolution representation x_0 in [-1, 1] of the mask, conditioned on the
image by channel concatenation: eps_hat = UNet(concat(x_t, image), t), with MONAI's
``DiffusionModelUNet`` (through ``ldseg.nets.Denoiser``). Training draws t ~ U{1..T} and eps from
the shared :class:`~ldseg.schedule.NoiseSchedule` and minimises ||eps - eps_hat||^2; inference
runs the shared sampler (``ldseg.sampling_method.SamplingMethod.predict``: DDPM or DDIM, any K)
from pure noise, N samples per image as one batch, fused by the mean of their class
probabilities, then argmax. They differ only in the mask representation (``encode`` /
``decode_latent``).

The sampler settings clip the x_0 estimate to [-1, 1], the range of both representations
(improved-diffusion's ``clip_denoised``); the sampler and K are the profile's
``[method_eval.NAME]`` choice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from scipy.ndimage import distance_transform_edt
from torch import Tensor, nn

from baselines.common import check_divisible
from ldseg.config import (
    DenoiserConfig,
    NumClasses,
    PositiveFloat,
    PositiveInt,
    SamplerSettings,
    ScheduleConfig,
    SpatialDims,
    Widths,
)
from ldseg.errors import ConfigError
from ldseg.model import one_hot
from ldseg.nets import Denoiser
from ldseg.sampling_method import SamplingMethod
from ldseg.schedule import NoiseSchedule


@dataclass(frozen=True)
class PixelSamplerSettings(SamplerSettings):
    """The shared sampler's settings with pixel-space defaults (a separate class so that a
    profile overriding one key keeps the others)."""

    x0_processing: Literal["none", "clip", "standardize"] = "clip"
    x0_clip: PositiveFloat = 1.0


@dataclass(frozen=True)
class PixelUNetConfig(DenoiserConfig):
    """``DiffusionModelUNet`` sized for full-resolution inputs: four levels, attention only at
    the deepest (1/8 size), as DDPM's 256-pixel models attend at 16x16 and below."""

    channels: Widths = (32, 64, 128, 128)
    attention_levels: tuple[bool, ...] = (False, False, False, True)
    num_res_blocks: PositiveInt = 2
    norm_num_groups: PositiveInt = 8
    num_head_channels: PositiveInt = 32


class PixelDiffusion(SamplingMethod):
    """eps-prediction diffusion on a mask representation x_0 of ``x_channels`` channels,
    conditioned on the image itself (``encode_condition`` is the identity)."""

    def __init__(
        self,
        spatial_dims: int,
        in_channels: int,
        x_channels: int,
        network: DenoiserConfig,
        schedule: ScheduleConfig,
        sampler: SamplerSettings,
    ) -> None:
        super().__init__()
        self.x_channels = self.sample_channels = x_channels
        self.denoiser = Denoiser(spatial_dims, x_channels, in_channels, network)
        self.schedule = NoiseSchedule(schedule)
        self.sampler = sampler
        self.multiple = 2 ** (len(network.channels) - 1)

    # the representation ---------------------------------------------------------------------
    def encode(self, labels: Tensor) -> Tensor:
        """(B, 1, *spatial) class indices -> x_0 (B, x_channels, *spatial) in [-1, 1]."""
        raise NotImplementedError

    def decode_latent(self, x_0: Tensor) -> Tensor:
        """A sampled x_0 -> class probabilities (B, C, *spatial) that sum to 1."""
        raise NotImplementedError

    def encode_condition(self, images: Tensor) -> Tensor:
        return images

    # the protocol -----------------------------------------------------------------------------
    def check_size(self, images: Tensor) -> None:
        check_divisible(tuple(images.shape[2:]), self.multiple, type(self).__name__)

    def loss(
        self,
        batch: dict,
        generator: torch.Generator | None = None,
        *,
        t: Tensor | None = None,
        eps: Tensor | None = None,
    ) -> dict[str, Tensor]:
        images = batch["image"]
        self.check_size(images)
        x_0 = self.encode(batch["label"].long()).to(images)
        x_t, t, eps = self.schedule.perturb(x_0, generator, t=t, eps=eps)
        output = self.denoiser(x_t, images, t)
        mse = F.mse_loss(output, self.schedule.target(x_0, eps, t))
        return {"loss": mse, "mse": mse.detach()}

    def ema_target(self) -> nn.Module:
        return self


# -- MedSegDiff-style --------------------------------------------------------------------------
@dataclass(frozen=True)
class MedSegDiffConfig:
    spatial_dims: SpatialDims = 2
    in_channels: PositiveInt = 3
    num_classes: NumClasses = 2
    # Binary data: diffuse the foreground channel alone (x_0 = 2 * mask - 1), as MedSegDiff
    # does; False diffuses the full 2-channel one-hot. Multi-class data always use C channels.
    binary_foreground_only: bool = True
    network: PixelUNetConfig = field(default_factory=PixelUNetConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    sampler: PixelSamplerSettings = field(default_factory=PixelSamplerSettings)


class MedSegDiff(PixelDiffusion):
    """Conditional DDPM on the one-hot mask scaled to [-1, 1] (Wu et al.'s set-up, simplified).

    What is built: MedSegDiff's diffusion formulation — x_0 = mask in [-1, 1], image given to the
    eps-network at every step, eps-MSE training, ensembles of N samples fused by their mean.
    What is NOT built: its network. MedSegDiff conditions through a separate image encoder whose
    features are added to the noisy-mask features with Dynamic Conditional Encoding and an
    FF-Parser (learnable Fourier-space attenuation); MedSegDiff-V2 adds a transformer
    (SS-Former). Here the image is simply concatenated to x_t at the input of a standard
    DDPM U-Net. Probabilities: the sampled x_0 clipped to [-1, 1] and mapped to [0, 1]; with
    one foreground channel p = (x + 1) / 2 and background 1 - p, otherwise the C channels are
    normalised to sum 1.
    """

    def __init__(self, config: MedSegDiffConfig) -> None:
        self.num_classes = config.num_classes
        self.foreground_only = config.binary_foreground_only and config.num_classes == 2
        x_channels = 1 if self.foreground_only else config.num_classes
        super().__init__(
            config.spatial_dims,
            config.in_channels,
            x_channels,
            config.network,
            config.schedule,
            config.sampler,
        )
        self.config = config

    def encode(self, labels: Tensor) -> Tensor:
        if self.foreground_only:
            return (labels == 1).float() * 2 - 1
        return one_hot(labels, self.num_classes) * 2 - 1

    def decode_latent(self, x_0: Tensor) -> Tensor:
        q = (x_0.clamp(-1, 1) + 1) / 2
        if self.foreground_only:
            return torch.cat([1 - q, q], dim=1)
        q = q + 1e-6  # an all-"off" pixel becomes uniform instead of 0/0
        return q / q.sum(dim=1, keepdim=True)


def build_medsegdiff(config: MedSegDiffConfig, info) -> nn.Module:
    return MedSegDiff(config)


# -- SDF-DDPM ----------------------------------------------------------------------------------
def mask_to_sdf(mask: Tensor, truncation: float) -> Tensor:
    """Binary mask (B, 1, *spatial) -> truncated signed distance map in [-1, 1], float32.

    Convention: positive inside, negative outside. A foreground pixel gets its Euclidean
    distance (pixels) to the nearest background pixel minus 1/2, a background pixel minus its
    distance to the nearest foreground pixel plus 1/2, so the zero level set lies on the
    boundary between pixel centres and |sdf| >= 1/2 everywhere (the sign is never 0). Values
    are clipped to [-truncation, truncation] and divided by ``truncation``. An empty mask maps
    to -1 everywhere, a full one to +1.
    """
    if truncation <= 0:
        raise ValueError(f"truncation must be > 0, got {truncation}")
    if mask.is_meta:  # shapes only (``bench plan`` counts FLOPs on the meta device)
        return torch.empty(mask.shape, dtype=torch.float32, device="meta")
    if mask.numel() and (int(mask.min()) < 0 or int(mask.max()) > 1):
        raise ValueError(
            f"mask_to_sdf needs a binary 0/1 mask, got values in [{int(mask.min())}, "
            f"{int(mask.max())}]: a signed distance map cannot tell several classes apart"
        )
    m = mask.detach().cpu().numpy().astype(bool)
    out = np.empty(m.shape, dtype=np.float32)
    for idx in np.ndindex(m.shape[:2]):
        fg = m[idx]
        if fg.all():
            out[idx] = truncation
        elif not fg.any():
            out[idx] = -truncation
        else:
            inside = distance_transform_edt(fg) - 0.5
            outside = distance_transform_edt(~fg) - 0.5
            out[idx] = np.where(fg, inside, -outside)
    sdf = np.clip(out, -truncation, truncation) / truncation
    return torch.from_numpy(sdf).to(mask.device)


def sdf_to_mask(sdf: Tensor) -> Tensor:
    """The sign of a signed distance map: (B, 1, *spatial) -> int64 mask (1 inside)."""
    return (sdf > 0).long()


@dataclass(frozen=True)
class SDFDDPMConfig:
    spatial_dims: SpatialDims = 2
    in_channels: PositiveInt = 3
    num_classes: NumClasses = 2
    truncation: PositiveFloat = 10.0  # pixels: the SDF is clipped here, then scaled to [-1, 1]
    # probs: foreground p = sigmoid(prob_sharpness * sdf) on the scaled SDF; with the default
    # truncation one pixel inside the boundary (sdf = 0.05) gives p = 0.92.
    prob_sharpness: PositiveFloat = 50.0
    network: PixelUNetConfig = field(default_factory=PixelUNetConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    sampler: PixelSamplerSettings = field(default_factory=PixelSamplerSettings)


class SDFDDPM(PixelDiffusion):
    """Conditional DDPM on a truncated signed distance map of a binary mask (after
    Bogensperger et al.'s SDF-DDPM), decoded by its sign. Binary data only: the registry
    refuses a multi-class dataset and so does this constructor."""

    def __init__(self, config: SDFDDPMConfig) -> None:
        if config.num_classes != 2:
            raise ConfigError(
                f"sdfddpm works on binary masks only (a signed distance map is ambiguous for "
                f"several classes); got num_classes={config.num_classes}"
            )
        super().__init__(
            config.spatial_dims,
            config.in_channels,
            1,
            config.network,
            config.schedule,
            config.sampler,
        )
        self.config = config

    def encode(self, labels: Tensor) -> Tensor:
        return mask_to_sdf(labels, self.config.truncation)

    def decode_latent(self, x_0: Tensor) -> Tensor:
        p = torch.sigmoid(self.config.prob_sharpness * x_0)
        return torch.cat([1 - p, p], dim=1)


def build_sdfddpm(config: SDFDDPMConfig, info) -> nn.Module:
    return SDFDDPM(config)
