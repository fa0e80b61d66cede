"""What every diffusion segmenter shares: ``predict`` = Algorithm 2 for N samples per image.

LDSeg, LSegDiff and the pixel-space baselines (MedSegDiff-style, SDF-DDPM-style) differ only in
what they sample and what they condition on. A :class:`SamplingMethod` provides

* ``encode_condition(images) -> c``: the condition given to ``denoiser(z_t, c, t)`` at every
  step, computed once per image (LDSeg: z_i; pixel-space methods: the image itself);
* ``decode_latent(z_0) -> probs``: a sampled z_0 (a latent, or a pixel-space mask
  representation) -> class probabilities (B, C, *spatial) that sum to 1;
* the attributes ``denoiser``, ``schedule`` (:class:`~ldseg.schedule.NoiseSchedule`),
  ``sampler`` (its :class:`~ldseg.config.SamplerSettings`), ``sample_channels`` (channels of
  z_0) and ``check_size(images)``,

and the base owns the rest: the argument checks (sampler name, K within 1..T, ``num_samples``),
the N samples of every image as one batch of B * N, and the mean / SD maps (:class:`Segmentation`).
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

import torch
from torch import Tensor, nn

from ldseg.config import SamplerConfig, SamplerSettings
from ldseg.samplers import STEPS, sample_conditional
from ldseg.schedule import NoiseSchedule


@dataclass
class Segmentation:
    """What every method's ``predict`` returns.

    probs: (B, C, *spatial) class probabilities (the mean over samples when N > 1);
    labels: (B, 1, *spatial) argmax label map of ``probs``;
    std: (B, C, *spatial) per-pixel SD of the class probabilities over the N samples, or None;
    uncertainty: (B, 1, *spatial) the SD map of Fig. 10 (SD averaged over classes), or None.
    """

    probs: Tensor
    labels: Tensor
    std: Tensor | None = None
    uncertainty: Tensor | None = None

    @classmethod
    def from_samples(cls, probs: Tensor) -> Segmentation:
        """probs: (B, N, C, *spatial) -> mean / SD over the N samples."""
        mean = probs.mean(dim=1)
        std = probs.std(dim=1, correction=0) if probs.shape[1] > 1 else None
        unc = std.mean(dim=1, keepdim=True) if std is not None else None
        return cls(mean, mean.argmax(dim=1, keepdim=True), std, unc)


def sampler_config(
    settings: SamplerSettings,
    sampler: str | SamplerConfig | None,
    num_inference_steps: int | None,
    T: int,
) -> SamplerConfig:
    """The complete sampler run of one ``predict`` call, checked.

    ``sampler``: a name ("ddim" / "ddpm"; None = "ddim") run with the method's own ``settings``,
    or a complete :class:`SamplerConfig` (its own settings). ``num_inference_steps`` = K (None:
    the config's K, by default the paper's 2) must lie in 1..T.
    """
    config = sampler if isinstance(sampler, SamplerConfig) else SamplerConfig(**asdict(settings))
    if isinstance(sampler, str):
        config = replace(config, name=sampler)
    if config.name not in STEPS:
        raise ValueError(f"unknown sampler {config.name!r}; valid: {', '.join(sorted(STEPS))}")
    k = config.num_inference_steps if num_inference_steps is None else num_inference_steps
    if not _is_int(k) or not 1 <= k <= T:
        raise ValueError(f"num_inference_steps must be an integer in [1, {T}], got {k!r}")
    return replace(config, num_inference_steps=int(k))


def check_num_samples(num_samples: int) -> int:
    if not _is_int(num_samples) or num_samples < 1:
        raise ValueError(f"num_samples must be an integer >= 1, got {num_samples!r}")
    return int(num_samples)


def _is_int(x: object) -> bool:
    return isinstance(x, numbers.Integral) and not isinstance(x, bool)


class SamplingMethod(nn.Module):
    """Base of every method whose ``predict`` runs the shared diffusion sampler."""

    denoiser: nn.Module
    schedule: NoiseSchedule
    sampler: SamplerSettings
    sample_channels: int

    def check_size(self, images: Tensor) -> None:
        """Raise a ValueError saying what to pad when ``images`` cannot be processed."""

    def encode_condition(self, images: Tensor) -> Tensor:
        raise NotImplementedError

    def decode_latent(self, z_0: Tensor) -> Tensor:
        raise NotImplementedError

    @torch.no_grad()
    def predict(
        self,
        images: Tensor,
        *,
        num_inference_steps: int | None = None,
        sampler: str | SamplerConfig | None = None,
        num_samples: int = 1,
        generator: torch.Generator | None = None,
        callback: Callable[[int, int], None] | None = None,
    ) -> Segmentation:
        """``num_samples`` segmentations per image: the condition is encoded once per image (not
        per step or sample) and the N samples of every image run as one batch of B * N."""
        self.check_size(images)
        config = sampler_config(self.sampler, sampler, num_inference_steps, self.schedule.T)
        n = check_num_samples(num_samples)
        z_0 = sample_conditional(
            self.denoiser,
            self.encode_condition(images),
            self.sample_channels,
            self.schedule,
            config,
            num_samples=n,
            num_inference_steps=config.num_inference_steps,
            generator=generator,
            callback=callback,
        )
        probs = self.decode_latent(z_0)
        return Segmentation.from_samples(probs.reshape(images.shape[0], n, *probs.shape[1:]))
