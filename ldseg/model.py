"""LDSeg = label encoder + image encoder + latent denoiser + label decoder, trained end to end.

``loss`` is Algorithm 1 (one gradient step's objective); ``segment`` is Algorithm 2 with any
sampler and any number of steps, N samples per image as one batch (mean and SD maps, Fig. 10).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from monai.losses import DiceLoss
from torch import Tensor, nn

from ldseg.config import LDSegConfig, SamplerConfig
from ldseg.nets import Denoiser, ImageEncoder, LabelDecoder, LabelEncoder
from ldseg.samplers import sample_conditional
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


def one_hot(labels: Tensor, num_classes: int) -> Tensor:
    """(B, 1, *spatial) class indices -> (B, C, *spatial) float one-hot."""
    return F.one_hot(labels[:, 0].long(), num_classes).movedim(-1, 1).float()


class LDSeg(nn.Module):
    """The paper's model. ``label_encoder`` / ``image_encoder`` may be swapped for the Table V
    ablations (any module with the same input/output contract and an ``out_channels`` attribute
    for the image side)."""

    samples = True

    def __init__(
        self,
        config: LDSegConfig,
        *,
        label_encoder: nn.Module | None = None,
        image_encoder: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.config = config
        self.spatial_dims = config.spatial_dims
        self.num_classes = config.num_classes
        self.label_encoder = label_encoder or LabelEncoder(config)
        self.image_encoder = image_encoder or ImageEncoder(config)
        cond = getattr(self.image_encoder, "out_channels", config.latent_channels)
        self.denoiser = Denoiser(config.spatial_dims, config.latent_channels, cond, config.denoiser)
        self.label_decoder = LabelDecoder(config)
        self.schedule = NoiseSchedule(config.schedule)
        self.dice = DiceLoss(
            include_background=config.loss.dice_include_background,
            to_onehot_y=False,
            softmax=False,
            batch=config.loss.dice_batch,
            smooth_nr=1e-5,
            smooth_dr=1e-5,
        )

    @property
    def latent_factor(self) -> int:
        return 2**self.config.num_downsamplings

    @property
    def size_multiple(self) -> int:
        """Each input side must be a multiple of this: the encoders' 2**num_downsamplings times
        the denoiser U-Net's own 2**(levels - 1) on the latent."""
        return self.latent_factor * 2 ** (len(self.config.denoiser.channels) - 1)

    def check_size(self, images: Tensor) -> None:
        f = self.size_multiple
        bad = [s for s in images.shape[2:] if s % f]
        if bad:
            raise ValueError(
                f"image size {tuple(images.shape[2:])} is not divisible by {f} "
                f"(2**num_downsamplings x the denoiser's 2**(len(channels) - 1)); resize or "
                f"pad each axis to a multiple of {f}"
            )

    # -- Algorithm 1 -----------------------------------------------------------------------
    def loss(
        self,
        batch: dict,
        generator: torch.Generator | None = None,
        *,
        t: Tensor | None = None,
        eps: Tensor | None = None,
    ) -> dict[str, Tensor]:
        """L = CE + gamma * Dice + lambda * ||eps - eps_hat||^2 (eqs. 14-18).

        ``t`` and ``eps`` may be injected (deterministic tests); otherwise they are drawn from
        ``generator``: t ~ U{1..T}, eps ~ N(0, I) per sample (or one eps for the whole batch
        with ``loss.shared_eps``, as the reference code).
        """
        images, labels = batch["image"], batch["label"]
        self.check_size(images)
        cfg = self.config.loss
        y = one_hot(labels, self.num_classes)
        z_i = self.image_encoder(images)
        z_l0 = self.label_encoder(y)
        z_t, t, eps = self.schedule.perturb(
            z_l0, generator, t=t, eps=eps, shared_eps=cfg.shared_eps
        )
        output = self.denoiser(z_t, z_i, t)
        x0_hat, eps_hat = self.schedule.split(output, z_t, t)
        if cfg.denoised == "eq12":
            z_dn = z_t - eps_hat  # eq. (12), the paper and the reference code
        elif cfg.denoised == "x0":
            z_dn = x0_hat
        else:
            raise ValueError(f"unknown loss.denoised {cfg.denoised!r}; use 'eq12' or 'x0'")
        logits = self.label_decoder(z_dn)
        ce = F.cross_entropy(logits, labels[:, 0].long())
        dice = self.dice(torch.softmax(logits, dim=1), y)
        # ||eps - eps_hat||^2 in the network's parameterisation: exactly the paper's term for
        # "epsilon"; for "v" ||v - v_hat||^2 = ||eps - eps_hat||^2 + ||z_0 - z0_hat||^2.
        mse = F.mse_loss(output, self.schedule.target(z_l0, eps, t))
        total = ce + cfg.gamma * dice + cfg.lam * mse
        return {"loss": total, "ce": ce.detach(), "dice": dice.detach(), "mse": mse.detach()}

    # -- Algorithm 2 -----------------------------------------------------------------------
    @torch.no_grad()
    def segment(
        self,
        images: Tensor,
        *,
        num_inference_steps: int | None = None,
        sampler: str | SamplerConfig | None = None,
        num_samples: int = 1,
        generator: torch.Generator | None = None,
        callback=None,
    ) -> Segmentation:
        """Sample ``num_samples`` segmentations per image.

        The image embedding z_i is computed once per image (not per step) and the N samples of
        every image run as one batch of B * N latents.
        """
        self.check_size(images)
        config = self._sampler_config(sampler)
        z_i = self.image_encoder(images)
        n = int(num_samples)
        if n < 1:
            raise ValueError(f"num_samples must be >= 1, got {num_samples}")
        z_0 = sample_conditional(
            self.denoiser,
            z_i,
            self.config.latent_channels,
            self.schedule,
            config,
            num_samples=n,
            num_inference_steps=num_inference_steps,
            generator=generator,
            callback=callback,
        )
        probs = torch.softmax(self.label_decoder(z_0), dim=1)
        return Segmentation.from_samples(probs.reshape(images.shape[0], n, *probs.shape[1:]))

    def predict(self, images: Tensor, **sampling) -> Segmentation:
        """The method protocol's name for :meth:`segment`."""
        return self.segment(images, **sampling)

    def ema_target(self) -> nn.Module:
        """The part averaged by EMA when enabled (the reference code keeps an EMA denoiser)."""
        return self.denoiser

    def _sampler_config(self, sampler: str | SamplerConfig | None) -> SamplerConfig:
        if sampler is None:
            return self.config.sampler
        if isinstance(sampler, SamplerConfig):
            return sampler
        from dataclasses import replace

        return replace(self.config.sampler, name=sampler)
