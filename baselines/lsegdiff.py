"""LSegDiff-style two-stage latent diffusion (Vu Quoc et al.), the paper's closest competitor.

The same latent (size ``input / 2**num_downsamplings``, ``latent_channels`` channels), the same
image encoder, denoiser, label decoder, schedule and sampler as LDSeg: only the training
strategy differs, which is the comparison the paper draws (Sec. V-B).

* Stage 1 (the first ``stage1_fraction`` of the ``train_steps`` optimiser steps): a KL-regularised
  label VAE on the masks alone. Encoder = LDSeg's label-encoder body (residual units, stride-2
  downsamplings) with a 1x1 head giving mean and log-variance; decoder = LDSeg's LabelDecoder.
  L1 = CE + Dice (``vae_loss``) + ``kl_beta`` * KL(q(z|y) || N(0, I)), KL averaged per latent
  element.
* Stage 2: the VAE is frozen (run in eval mode under ``no_grad``); z_0 = posterior mean times a
  scale factor estimated once, on the first stage-2 batch, as 1 / std(z_0) (Rombach et al.'s
  unit-variance rescaling). An ImageEncoder + Denoiser learn eps with the MSE only.
* Inference: the shared sampler in latent space (``ldseg.sampling_method.SamplingMethod``), then
  z_0 / scale through the VAE decoder.

The protocol has no stage hook, so the module counts its own optimiser steps in a buffer (kept by
checkpoints) and advances it on every ``loss`` call made in training mode with gradients on.
Stage-1 parameters get no gradient in stage 2 and stage-2 parameters none in stage 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from baselines.common import SegLoss, SegLossConfig, check_divisible
from ldseg.config import (
    LatentDiffusionConfig,
    NonNegativeFloat,
    PositiveInt,
    Probability,
    Widths,
)
from ldseg.model import one_hot
from ldseg.nets import Denoiser, ImageEncoder, LabelDecoder
from ldseg.nets.blocks import conv1, res_unit
from ldseg.sampling_method import SamplingMethod
from ldseg.schedule import NoiseSchedule


@dataclass(frozen=True)
class LabelVAEConfig:
    """The VAE encoder: LDSeg's label-encoder widths (stem + one per downsampling)."""

    widths: Widths = (16, 32, 64, 64, 32)
    dropout: Probability = 0.0


@dataclass(frozen=True)
class LSegDiffConfig(LatentDiffusionConfig):
    """LDSeg's latent, image encoder, denoiser, label decoder, schedule and sampler settings
    (:class:`~ldseg.config.LatentDiffusionConfig`), a label VAE instead of LDSeg's label encoder,
    and the two-stage training instead of LDSeg's loss."""

    label_encoder: LabelVAEConfig = field(default_factory=LabelVAEConfig)
    # The run's optimiser steps (the harness fills it from the train config) and the share of
    # them spent on stage 1.
    train_steps: PositiveInt = 1000
    stage1_fraction: Probability = 0.4
    kl_beta: NonNegativeFloat = 1e-3
    vae_loss: SegLossConfig = field(default_factory=SegLossConfig)  # stage-1 CE + Dice

    def __post_init__(self) -> None:
        if not 0.0 <= self.stage1_fraction < 1.0:
            raise ValueError(f"stage1_fraction must be in [0, 1), got {self.stage1_fraction}")
        if self.train_steps < 1:
            raise ValueError(f"train_steps must be >= 1, got {self.train_steps}")


class LabelVAEEncoder(nn.Module):
    """One-hot mask -> (mean, log-variance) of q(z | y), each (B, latent_channels, *latent)."""

    def __init__(self, config: LSegDiffConfig) -> None:
        super().__init__()
        d, widths = config.spatial_dims, config.label_encoder.widths
        if len(widths) != config.num_downsamplings + 1:
            raise ValueError(
                f"label_encoder.widths needs num_downsamplings + 1 = "
                f"{config.num_downsamplings + 1} entries, got {len(widths)}"
            )
        kw = {"norm": config.norm, "act": config.act, "dropout": config.label_encoder.dropout}
        layers = [res_unit(d, config.num_classes, widths[0], **kw)]
        for c_in, c_out in zip(widths[:-1], widths[1:], strict=True):
            layers.append(res_unit(d, c_in, c_out, stride=2, **kw))
        layers.append(conv1(d, widths[-1], 2 * config.latent_channels))
        self.body = nn.Sequential(*layers)

    def forward(self, y_onehot: Tensor) -> tuple[Tensor, Tensor]:
        mean, logvar = self.body(y_onehot).chunk(2, dim=1)
        return mean, logvar.clamp(-30.0, 20.0)


class LSegDiff(SamplingMethod):
    def __init__(self, config: LSegDiffConfig) -> None:
        super().__init__()
        self.config = config
        self.num_classes = config.num_classes
        # stage 1
        self.vae_encoder = LabelVAEEncoder(config)
        self.label_decoder = LabelDecoder(config)
        # stage 2
        self.image_encoder = ImageEncoder(config)
        self.denoiser = Denoiser(
            config.spatial_dims,
            config.latent_channels,
            self.image_encoder.out_channels,
            config.denoiser,
        )
        self.schedule = NoiseSchedule(config.schedule)
        self.sampler = config.sampler
        self.sample_channels = config.latent_channels
        self.vae_loss = SegLoss(config.vae_loss)
        self.stage1_steps = round(config.stage1_fraction * config.train_steps)
        self.register_buffer("step", torch.zeros((), dtype=torch.long))
        self.register_buffer("scale_factor", torch.ones(()))
        self.register_buffer("scale_estimated", torch.zeros((), dtype=torch.bool))

    @property
    def stage(self) -> int:
        return 1 if int(self.step) < self.stage1_steps else 2

    def stage_modules(self, stage: int) -> list[nn.Module]:
        """The modules trained in ``stage`` (1: the label VAE, 2: image encoder + denoiser)."""
        if stage == 1:
            return [self.vae_encoder, self.label_decoder]
        return [self.image_encoder, self.denoiser]

    @property
    def size_multiple(self) -> int:
        """The encoders' 2**num_downsamplings times the denoiser's 2**(levels - 1) (as LDSeg)."""
        c = self.config
        return 2**c.num_downsamplings * 2 ** (len(c.denoiser.channels) - 1)

    def check_size(self, images: Tensor) -> None:
        check_divisible(tuple(images.shape[2:]), self.size_multiple, "lsegdiff")

    # -- training --------------------------------------------------------------------------
    def loss(
        self,
        batch: dict,
        generator: torch.Generator | None = None,
        *,
        t: Tensor | None = None,
        eps: Tensor | None = None,
    ) -> dict[str, Tensor]:
        """Stage 1 or stage 2 by the step count; ``t`` / ``eps`` may be injected (stage 2)."""
        self.check_size(batch["image"])
        stage = self.stage
        if stage == 1:
            terms = self._vae_loss(batch, generator)
        else:
            terms = self._diffusion_loss(batch, generator, t=t, eps=eps)
        if self.training and torch.is_grad_enabled():
            self.step += 1
        terms["stage"] = torch.tensor(float(stage))
        return terms

    def _vae_loss(self, batch: dict, generator: torch.Generator | None) -> dict[str, Tensor]:
        labels = batch["label"].long()
        mean, logvar = self.vae_encoder(one_hot(labels, self.num_classes))
        noise = torch.randn(mean.shape, generator=generator).to(mean)
        z = mean + torch.exp(0.5 * logvar) * noise
        terms = self.vae_loss(self.label_decoder(z), labels)
        kl = 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar).mean()
        total = terms["loss"] + self.config.kl_beta * kl
        return {"loss": total, "ce": terms["ce"], "dice": terms["dice"], "kl": kl.detach()}

    @torch.no_grad()
    def encode(self, labels: Tensor) -> Tensor:
        """The frozen VAE's scaled posterior mean z_0 (eval mode: no dropout, fixed norms)."""
        was_training = self.vae_encoder.training
        self.vae_encoder.eval()
        mean, _ = self.vae_encoder(one_hot(labels, self.num_classes))
        self.vae_encoder.train(was_training)
        if self.training and not bool(self.scale_estimated):
            self.scale_factor.fill_(1.0 / float(mean.std().clamp_min(1e-6)))
            self.scale_estimated.fill_(True)
        return mean * self.scale_factor

    def _diffusion_loss(
        self,
        batch: dict,
        generator: torch.Generator | None,
        *,
        t: Tensor | None,
        eps: Tensor | None,
    ) -> dict[str, Tensor]:
        z_0 = self.encode(batch["label"].long())
        z_i = self.image_encoder(batch["image"])
        z_t, t, eps = self.schedule.perturb(z_0, generator, t=t, eps=eps)
        output = self.denoiser(z_t, z_i, t)
        mse = F.mse_loss(output, self.schedule.target(z_0, eps, t))
        return {"loss": mse, "mse": mse.detach()}

    # -- inference (SamplingMethod.predict) ------------------------------------------------
    def encode_condition(self, images: Tensor) -> Tensor:
        return self.image_encoder(images)

    def decode_latent(self, z_0: Tensor) -> Tensor:
        """Through the frozen VAE decoder, z_0 / scale (the scaled latent back to the VAE's)."""
        return torch.softmax(self.label_decoder(z_0 / self.scale_factor), dim=1)

    def ema_target(self) -> nn.Module:
        return self


def build_lsegdiff(config: LSegDiffConfig, info) -> nn.Module:
    return LSegDiff(config)
