"""Deterministic U-shaped baselines of Tables I-III, each a MONAI / smp network in
:class:`~baselines.common.DeterministicMethod` (Dice + CE loss, softmax prediction).

=========  ===========================================  ==========  ======================
name       network                                      dims        input zero-padded to
=========  ===========================================  ==========  ======================
unet       MONAI ``BasicUNet`` (Ronneberger et al.)     2D, 3D      >= 32 (pads odd sizes)
resunet    MONAI ``UNet``, 2 residual units per level   2D, 3D      k * 2**L, >= 2**(L+1)
unetpp     smp ``UnetPlusPlus`` (Zhou et al.)           2D          k * 2**D, >= 2**(D+1)
swinunetr  MONAI ``SwinUNETR`` (spatial_dims=2)         2D          k * 32, >= 64
vnet       MONAI ``VNet`` (Milletari et al.)            2D, 3D      k * 16, >= 32
=========  ===========================================  ==========  ======================

L = downsamplings, D = encoder depth. The minimum keeps at least 2 pixels per axis at the
bottleneck, where a normalisation layer would otherwise see a single value; it only pads images
smaller than that (the smoke profile's), never the paper-sized ones. Logits are cropped back.
``swinunetr`` is kept as a stand-in; the paper's Swin-Unet is ``swinunet`` (``swin_unet.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Literal

import segmentation_models_pytorch as smp
import torch.nn.functional as F
from annotated_types import Ge, Interval, MultipleOf
from monai.networks.nets import BasicUNet, SwinUNETR, UNet, VNet
from torch import Tensor, nn

from baselines.common import DeterministicMethod, SegLossConfig
from ldseg.config import NonNegativeInt, NumClasses, PositiveInt, Probability, SpatialDims, Widths


# -- U-Net -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class UNetConfig:
    spatial_dims: SpatialDims = 2
    in_channels: PositiveInt = 3
    num_classes: NumClasses = 2
    # five encoder widths (the deepest is the bottleneck) and the last decoder width
    features: Widths = (32, 32, 64, 128, 256, 32)
    dropout: Probability = 0.0
    upsample: Literal["deconv", "pixelshuffle", "nontrainable"] = "deconv"
    loss: SegLossConfig = field(default_factory=SegLossConfig)


def build_unet(config: UNetConfig, info) -> nn.Module:
    """MONAI ``BasicUNet``: two conv-norm-act per level, 4 max-pool downsamplings, skips.

    Chosen over smp ``Unet`` because one class serves 2D and 3D (the Knee data are volumes) and
    it is the plain U-Net; smp's Unet is 2D only and is built around ImageNet-style encoders
    (ResNet & co.), i.e. a different network from Ronneberger et al.'s. BasicUNet pads odd
    sizes itself; inputs under 32 pixels per axis are zero-padded to 32 (4 max-pools).
    """
    if len(config.features) != 6:
        raise ValueError(
            f"unet.features needs 6 entries (5 encoder + 1 decoder), got {config.features}"
        )
    net = BasicUNet(
        spatial_dims=config.spatial_dims,
        in_channels=config.in_channels,
        out_channels=config.num_classes,
        features=config.features,
        dropout=config.dropout,
        upsample=config.upsample,
    )
    return DeterministicMethod(net, config.loss, min_size=32)


# -- Res-UNet ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class ResUNetConfig:
    spatial_dims: SpatialDims = 2
    in_channels: PositiveInt = 3
    num_classes: NumClasses = 2
    channels: Widths = (16, 32, 64, 128, 256)  # one per level; stride 2 between
    num_res_units: NonNegativeInt = 2
    norm: str = "batch"  # Zhang et al. use batch norm
    act: str = "relu"  # and ReLU
    dropout: Probability = 0.0
    loss: SegLossConfig = field(default_factory=SegLossConfig)


def build_resunet(config: ResUNetConfig, info) -> nn.Module:
    """MONAI ``UNet`` with ``num_res_units`` residual units (Kerfoot et al.'s implementation):
    every encoder and decoder level is a residual unit, stride-2 convolutions downsample, the
    skips concatenate encoder features into the decoder — Zhang et al.'s deep residual U-Net.
    """
    levels = len(config.channels) - 1
    net = UNet(
        spatial_dims=config.spatial_dims,
        in_channels=config.in_channels,
        out_channels=config.num_classes,
        channels=config.channels,
        strides=(2,) * levels,
        num_res_units=config.num_res_units,
        norm=config.norm,
        act=config.act,
        dropout=config.dropout,
    )
    return DeterministicMethod(net, config.loss, multiple=2**levels, min_size=2 ** (levels + 1))


# -- U-Net++ -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class UNetPPConfig:
    spatial_dims: SpatialDims = 2
    in_channels: PositiveInt = 3
    num_classes: NumClasses = 2
    encoder_name: str = "resnet18"  # any smp encoder; weights are never downloaded
    encoder_depth: Annotated[int, Interval(ge=3, le=5)] = 5  # smp: 3..5
    decoder_channels: Widths = (256, 128, 64, 32, 16)  # one per encoder stage
    loss: SegLossConfig = field(default_factory=SegLossConfig)


def build_unetpp(config: UNetPPConfig, info) -> nn.Module:
    """smp ``UnetPlusPlus`` (nested dense skip pathways) on a randomly initialised encoder
    (``encoder_weights=None``: nothing is downloaded, and every baseline starts from scratch as
    LDSeg does). smp needs sizes divisible by 2**encoder_depth: the input is zero-padded."""
    if len(config.decoder_channels) != config.encoder_depth:
        raise ValueError(
            f"unetpp.decoder_channels needs encoder_depth = {config.encoder_depth} "
            f"entries, got {config.decoder_channels}"
        )
    net = smp.UnetPlusPlus(
        encoder_name=config.encoder_name,
        encoder_depth=config.encoder_depth,
        encoder_weights=None,
        decoder_channels=config.decoder_channels,
        in_channels=config.in_channels,
        classes=config.num_classes,
    )
    return DeterministicMethod(
        net, config.loss, multiple=2**config.encoder_depth, min_size=2 ** (config.encoder_depth + 1)
    )


# -- SwinUNETR (a stand-in for Swin-Unet) -----------------------------------------------------
@dataclass(frozen=True)
class SwinUNETRConfig:
    spatial_dims: SpatialDims = 2
    in_channels: PositiveInt = 3
    num_classes: NumClasses = 2
    feature_size: Annotated[int, Ge(12), MultipleOf(12)] = 24  # MONAI: a multiple of 12
    depths: Widths = (2, 2, 2, 2)
    num_heads: Widths = (3, 6, 12, 24)
    window_size: PositiveInt = 7
    drop_rate: Probability = 0.0
    attn_drop_rate: Probability = 0.0
    dropout_path_rate: Probability = 0.0
    use_v2: bool = False
    loss: SegLossConfig = field(default_factory=SegLossConfig)


def build_swinunetr(config: SwinUNETRConfig, info) -> nn.Module:
    """MONAI ``SwinUNETR`` with ``spatial_dims=2``, kept as a stand-in for SwinUNet (the
    harness's first SwinUNet row; the true Swin-Unet is ``swinunet``).

    Not the same network: SwinUNet (Cao et al.) is a pure transformer — a Swin encoder, a Swin
    decoder that upsamples with *patch expanding* layers, and skip connections between them.
    SwinUNETR (Hatamizadeh et al.) keeps the Swin encoder (patch merging, shifted windows) but
    decodes with convolutional residual blocks and transposed convolutions, taking CNN-processed
    skips from every encoder stage and the input. MONAI has no SwinUNet, so this row stood in
    for it until ``swinunet`` (timm Swin blocks) was added; reports never put its numbers beside
    the paper's Swin-Unet. Input sizes must be divisible by 2**5 = 32 and, with instance norm,
    at least 64 (the bottleneck must keep more than one pixel): zero-padded.
    """
    if len(config.depths) != len(config.num_heads):
        raise ValueError("swinunetr.depths and swinunetr.num_heads need the same length")
    net = SwinUNETR(
        in_channels=config.in_channels,
        out_channels=config.num_classes,
        feature_size=config.feature_size,
        depths=config.depths,
        num_heads=config.num_heads,
        window_size=config.window_size,
        drop_rate=config.drop_rate,
        attn_drop_rate=config.attn_drop_rate,
        dropout_path_rate=config.dropout_path_rate,
        spatial_dims=2,
        use_v2=config.use_v2,
    )
    return DeterministicMethod(net, config.loss, multiple=32, min_size=64)


# -- V-Net -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class VNetConfig:
    spatial_dims: SpatialDims = 2
    in_channels: PositiveInt = 3
    num_classes: NumClasses = 2
    act: str = "elu"
    dropout_down: Probability = 0.5  # the two deepest down transitions (Milletari et al.)
    dropout_up: Probability = 0.5  # the two deepest up transitions, on input and skip
    loss: SegLossConfig = field(default_factory=SegLossConfig)


class _ChannelPad(nn.Module):
    """Zero channels appended so that MONAI VNet's ``16 % in_channels == 0`` holds (RGB -> 4)."""

    def __init__(self, extra: int) -> None:
        super().__init__()
        self.extra = extra

    def forward(self, x: Tensor) -> Tensor:
        if not self.extra:
            return x
        return F.pad(x, [0, 0] * (x.dim() - 2) + [0, self.extra])


def build_vnet(config: VNetConfig, info) -> nn.Module:
    """MONAI ``VNet`` (fixed widths 16..256, 5x5(x5) convolutions, residual stages, 4
    downsamplings: sizes are zero-padded to 16).

    Two adaptations, both about MONAI's implementation rather than the method: (1) VNet's input
    stage repeats the input channels up to 16, so ``in_channels`` must divide 16; an RGB image
    gets one zero channel (3 -> 4), which adds no information. (2) MONAI's VNet ignores its
    ``dropout_dim`` argument and always builds ``Dropout3d``, which on 2D feature maps drops
    whole *samples*; in 2D those layers are swapped for ``Dropout2d`` (channel dropout).
    """
    c_in = config.in_channels
    if c_in > 16:
        raise ValueError(f"vnet supports at most 16 input channels, got {c_in}")
    padded = next(c for c in (1, 2, 4, 8, 16) if c >= c_in)
    net = VNet(
        spatial_dims=config.spatial_dims,
        in_channels=padded,
        out_channels=config.num_classes,
        act=config.act,
        dropout_prob_down=config.dropout_down,
        dropout_prob_up=(config.dropout_up, config.dropout_up),
        dropout_dim=config.spatial_dims,
    )
    if config.spatial_dims == 2:
        _dropout3d_to_2d(net)
    return DeterministicMethod(
        nn.Sequential(_ChannelPad(padded - c_in), net), config.loss, multiple=16, min_size=32
    )


def _dropout3d_to_2d(module: nn.Module) -> None:
    for name, child in module.named_children():
        if isinstance(child, nn.Dropout3d):
            setattr(module, name, nn.Dropout2d(child.p))
        else:
            _dropout3d_to_2d(child)
