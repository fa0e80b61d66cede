"""LDSeg = label encoder + image encoder + latent denoiser + label decoder, trained end to end.

``loss`` is Algorithm 1 (one gradient step's objective); ``segment`` is Algorithm 2 with any
sampler and any number of steps, N samples per image as one batch (mean and SD maps, Fig. 10):
the shared :class:`~ldseg.sampling_method.SamplingMethod` ``predict``, with z_i as the condition
and the label decoder's softmax as the decoding.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from monai.losses import DiceLoss
from torch import Tensor, nn

from ldseg.config import LDSegConfig
from ldseg.nets import Denoiser, ImageEncoder, LabelDecoder, LabelEncoder
from ldseg.sampling_method import SamplingMethod, Segmentation
from ldseg.schedule import NoiseSchedule

__all__ = ["LDSeg", "Segmentation", "one_hot"]


def one_hot(labels: Tensor, num_classes: int) -> Tensor:
    """(B, 1, *spatial) class indices -> (B, C, *spatial) float one-hot: the project's one.

    Not MONAI's ``one_hot``: it gives the same values in another memory layout, which changes the
    convolutions' rounding, so training would no longer be bit-identical to the cached jobs.
    """
    return F.one_hot(labels[:, 0].long(), num_classes).movedim(-1, 1).float()


class LDSeg(SamplingMethod):
    """The paper's model. ``label_encoder`` / ``image_encoder`` may be swapped for the Table V
    ablations (any module with the same input/output contract and an ``out_channels`` attribute
    for the image side)."""

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
        self.sampler = config.sampler
        self.sample_channels = config.latent_channels
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

    # -- Algorithm 2 (SamplingMethod.predict) -----------------------------------------------
    def encode_condition(self, images: Tensor) -> Tensor:
        """z_i, once per image."""
        return self.image_encoder(images)

    def decode_latent(self, z_0: Tensor) -> Tensor:
        return torch.softmax(self.label_decoder(z_0), dim=1)

    def segment(self, images: Tensor, **sampling) -> Segmentation:
        """Algorithm 2, the paper's name for :meth:`predict`."""
        return self.predict(images, **sampling)

    def ema_target(self) -> nn.Module:
        """The part averaged by EMA when enabled (the reference code keeps an EMA denoiser)."""
        return self.denoiser
