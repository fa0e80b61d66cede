"""Typed configuration of LDSeg: the single source of truth for every switch.

Where the paper and the authors' reference code differ, or the paper is silent, the library
default is the harness's historical choice and every reference-code choice is a switch (see
``../shared/paper/reference-code-facts.md``). The ``paper`` and ``reference`` profiles
(``benchmarks/profiles/``) set them; ``python -m benchmarks.fidelity`` prints where the two differ.

===================================  ================  =================================
switch                               default           reference code
===================================  ================  =================================
``loss.denoised``                    ``"eq12"``        same (paper eq. 12); ``"x0"`` alt.
``loss.shared_eps``                  False             True (one eps per batch)
``schedule.kind``                    ``"cosine"``      cosine, hard-coded
``schedule.train_timesteps``         ``"1..T"``        ``"0..T-1"``
``schedule.prediction``              ``"epsilon"``     epsilon (``"v"``: in neither)
``sampler.renormalize``              ``"none"``        ``"batch"`` (every latent)
``sampler.timestep_grid``            ``"rounded"``     ``"linspace"`` (real t)
``label_encoder.norm``               None (= norm)     ``"batch"``
``label_encoder.downsample``         ``"stride"``      ``"maxpool"`` (2D), stride (3D)
``label_encoder.dropout``            0.0               0.2
``label_encoder.affine``             False             True (LayerNorm scale/shift)
``image_encoder.norm``               None (= norm)     ``"group"`` (4 groups)
``image_encoder.dropout``            0.0               0.2
``image_encoder.head``               ``"conv"``        ``"attention"`` (+ swish + BN)
``label_decoder.norm``               None (= norm)     ``"batch"``
``label_decoder.dropout``            0.0               0.2
``label_decoder.output_norm``        False             True (BatchNorm on logits)
``denoiser.norm_num_groups``         4                 4 (GroupNorm only, as MONAI)
``denoiser.num_head_channels``       8                 (16, 32, 64): one head per block
harness ``TrainConfig.lr_schedule``  ``"exp"``         ``"constant"`` (1e-3)
harness ``TrainConfig.grad_clip``    1.0               0 (off)
harness ``TrainConfig.amp``          False             False (fp32)
harness ``TrainConfig.ema_decay``    None              0.999 (denoiser)
harness dataset ``image_resize``     ``"area"``        ``"nearest"``
harness dataset ``intensity``        ``"auto"`` (/255) ``"minmax"``
harness dataset ``augmentation``     ``"flips_rot90"`` ``"flips"`` (2D), ``"none"`` (3D)
===================================  ================  =================================

Not switchable (structural): the image encoder's first layer is a residual unit (the code: a
plain 3x3 convolution); the label-latent LayerNorm's scale/shift is per channel (the code's is
per element, which would tie the model to one image size); one Adam over all weights (the code:
four, one per component -- the same update without global clipping).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Literal

from annotated_types import Ge, Gt, Interval

# Value ranges, declared on every numeric field of every config (here, in the baselines and in the
# harness): ``benchmarks.configs.from_dict`` checks them whenever a profile, the CLI or a
# checkpoint builds a config, and a test walks the dataclasses so that no numeric field lacks one.
# The markers are annotated-types' (the library behind pydantic's constraints): they do not enter
# ``dataclasses.asdict``, so config hashes are unchanged.
PositiveInt = Annotated[int, Ge(1)]
NonNegativeInt = Annotated[int, Ge(0)]
PositiveFloat = Annotated[float, Gt(0)]
NonNegativeFloat = Annotated[float, Ge(0)]
Probability = Annotated[float, Interval(ge=0, lt=1)]  # dropout rates and other fractions
Seed = Annotated[int, Interval(ge=0, le=2**32 - 1)]  # numpy's generators take < 2**32
SpatialDims = Annotated[int, Interval(ge=2, le=3)]
NumClasses = Annotated[int, Ge(2)]  # background + at least one class
Beta = Annotated[float, Interval(gt=0, lt=1)]  # a noise-schedule beta_t
Widths = tuple[PositiveInt, ...]
Norm = Literal["group", "batch", "instance"]


@dataclass(frozen=True)
class ScheduleConfig:
    """Forward-process noise schedule (Nichol & Dhariwal cosine, or Ho et al. linear)."""

    kind: Literal["cosine", "linear"] = "cosine"
    num_train_timesteps: PositiveInt = 1000  # T
    cosine_s: NonNegativeFloat = 0.008
    max_beta: Beta = 0.999  # cosine betas are clipped here (Nichol & Dhariwal)
    linear_beta_start: Beta = 1e-4  # for T = 1000; scaled by 1000 / T
    linear_beta_end: Beta = 0.02
    # Training timesteps t ~ U{1..T} (the paper, Sec. IV-C) or U{0..T-1} (the reference code:
    # t = 0 is the clean latent, abar_0 = 1, and t = T is never drawn).
    train_timesteps: Literal["1..T", "0..T-1"] = "1..T"
    # What the network predicts: "epsilon" (the paper, eps-hat) or "v" (Salimans & Ho 2022,
    # v = sqrt(abar) eps - sqrt(1 - abar) z_0). Both give (z0-hat, eps-hat) through
    # ``NoiseSchedule.split``; "v" keeps z0-hat bounded at t ~ T, where the eps form divides by
    # sqrt(abar_T) ~ 1e-4 (the step that decides a 1- or 2-step DDIM sample).
    prediction: Literal["epsilon", "v"] = "epsilon"


@dataclass(frozen=True)
class SamplerSettings:
    """How the reverse process steps: a method's own ``sampler`` table (LDSeg and every
    diffusion baseline). Which sampler runs and its step count K are chosen per evaluation
    (``[eval]`` / ``[method_eval.NAME]`` ``sampler`` and ``num_inference_steps`` of a profile,
    ``predict(sampler=..., num_inference_steps=...)``), so they are not here."""

    # The keys that moved out (a profile that still sets one is told where they live now).
    MOVED_KEYS = {
        "name": "[eval] / [method_eval.NAME] sampler",
        "num_inference_steps": "[eval] / [method_eval.NAME] num_inference_steps",
    }

    eta: Annotated[float, Interval(ge=0, le=1)] = 0.0  # DDIM stochasticity (0 = deterministic DDIM)
    # DDPM sigma_t^2: "posterior" = beta_tilde (Ho et al. "fixed small"), "beta" = beta_t.
    ddpm_variance: Literal["posterior", "beta"] = "posterior"
    # Post-processing of the predicted clean latent at every step. The label latent is
    # standardised per sample, so "standardize" projects x0-hat back onto that set; "clip"
    # clamps it to [-x0_clip, x0_clip]. Needed at t = T where 1/sqrt(alpha_bar_T) ~ 2e4.
    x0_processing: Literal["none", "clip", "standardize"] = "none"
    x0_clip: PositiveFloat = 3.0
    # The reference code re-standardises the start noise and every intermediate latent
    # (zero mean / unit variance over the whole batch); "sample" does it per sample.
    renormalize: Literal["none", "batch", "sample"] = "none"
    # Which K timesteps: "rounded" = K evenly spaced reals in [1, T] rounded to integers (the
    # paper, after Nichol & Dhariwal); "linspace" = the real numbers linspace(0, T-1, K), not
    # rounded (the reference code; K = 1 returns the start noise, see ldseg/samplers.py).
    timestep_grid: Literal["rounded", "linspace"] = "rounded"


@dataclass(frozen=True)
class SamplerConfig(SamplerSettings):
    """A complete sampler run (what ``ldseg.samplers.sample`` reads): the settings plus which
    sampler and how many steps."""

    name: Literal["ddim", "ddpm"] = "ddim"
    num_inference_steps: PositiveInt = 2  # K: the paper's optimum


@dataclass(frozen=True)
class LabelEncoderConfig:
    """ResUNet-style encoder without skips: mask (one-hot) -> standardised z_l0."""

    widths: Widths = (16, 32, 64, 64, 32)  # stem + one per downsampling
    dropout: Probability = 0.0
    affine: bool = False  # learnable scale/shift after the standardisation (reference code)
    norm: Norm | None = None  # None: LDSegConfig.norm (the reference code: "batch")
    # "stride": stride-2 residual units; "maxpool": residual units at full size, each followed
    # by a 2x2 max-pool (the reference code in 2D; its 3D variant uses strided convolutions).
    downsample: Literal["stride", "maxpool"] = "stride"


@dataclass(frozen=True)
class ImageEncoderConfig:
    """Encoder without skips: image -> z_i, self-attention after the last two downsamplings."""

    widths: Widths = (16, 32, 64, 64, 32)
    attention_heads: PositiveInt = 8
    attention_levels: NonNegativeInt = 2  # how many of the deepest downsamplings get self-attention
    attention_3d: bool = False  # 3D: optional (the reference code has none)
    norm: Norm | None = None  # None: LDSegConfig.norm (the reference code: GroupNorm 4)
    dropout: Probability = 0.0  # in every residual unit (the reference code: 0.2)
    # after the 1x1 convolution to the latent channels: "conv" nothing more; "attention" a
    # 1-head self-attention, swish and BatchNorm (the reference code's image-encoder head).
    head: Literal["conv", "attention"] = "conv"


@dataclass(frozen=True)
class DenoiserConfig:
    """DDPM-style ResUNet (MONAI DiffusionModelUNet) on concat(z_t, z_i)."""

    channels: Widths = (16, 32, 64)
    attention_levels: tuple[bool, ...] = (False, True, True)
    num_res_blocks: PositiveInt = 2
    norm_num_groups: PositiveInt = 4
    # channels per attention head, one value or one per level (MONAI); the reference code's
    # attention blocks have one head: the level's width, e.g. (16, 32, 64)
    num_head_channels: PositiveInt | tuple[PositiveInt, ...] = 8


@dataclass(frozen=True)
class LabelDecoderConfig:
    """ResUNet-style decoder without skips: z -> class logits at full size."""

    widths: Widths = (32, 64, 64, 32)  # one per upsampling (deepest first)
    norm: Norm | None = None  # None: LDSegConfig.norm (the reference code: "batch")
    dropout: Probability = 0.0  # in every residual unit (the reference code: 0.2)
    output_norm: bool = False  # BatchNorm on the class logits (the reference code's last layer)


@dataclass(frozen=True)
class LossConfig:
    """Algorithm 1: L = CE + gamma * Dice + lambda * ||eps - eps_hat||^2."""

    gamma: NonNegativeFloat = 2.0
    lam: NonNegativeFloat = 1.0
    denoised: Literal["eq12", "x0"] = "eq12"  # z_dn = z_t - eps_hat (paper) or x0-hat
    shared_eps: bool = False  # reference code: one eps per batch, repeated per sample
    dice_include_background: bool = True
    dice_batch: bool = True  # pool the Dice sums over the batch (reference code)


@dataclass(frozen=True)
class LatentDiffusionConfig:
    """What LDSeg and the LSegDiff baseline share: the latent (size ``input /
    2**num_downsamplings``, ``latent_channels``), the image encoder, the denoiser, the label
    decoder, the schedule and the sampler settings. Each adds its own label encoder and loss."""

    spatial_dims: SpatialDims = 2
    in_channels: PositiveInt = 3
    num_classes: NumClasses = 2
    num_downsamplings: NonNegativeInt = 4  # latent = input / 2**num_downsamplings per axis
    latent_channels: PositiveInt = 1
    # encoders/decoder normalisation: "group" (4 groups, as the reference image encoder and
    # denoiser), "batch" (reference label encoder/decoder) or "instance".
    # Each encoder/decoder may override it (``label_encoder.norm``, ...); the denoiser always
    # uses GroupNorm(``denoiser.norm_num_groups``), as MONAI's DiffusionModelUNet and the
    # reference code do.
    norm: Norm = "group"
    act: str = "swish"
    image_encoder: ImageEncoderConfig = field(default_factory=ImageEncoderConfig)
    denoiser: DenoiserConfig = field(default_factory=DenoiserConfig)
    label_decoder: LabelDecoderConfig = field(default_factory=LabelDecoderConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    sampler: SamplerSettings = field(default_factory=SamplerSettings)


@dataclass(frozen=True)
class LDSegConfig(LatentDiffusionConfig):
    label_encoder: LabelEncoderConfig = field(default_factory=LabelEncoderConfig)
    loss: LossConfig = field(default_factory=LossConfig)
