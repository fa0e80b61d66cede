"""Swin-Unet (Cao et al., "Swin-Unet: Unet-like Pure Transformer for Medical Image
Segmentation", 2021 / ECCV workshops 2022), 2D, built from timm's Swin Transformer blocks.

The U shape of Sec. 3 / Fig. 1, every stage made of Swin Transformer blocks (W-MSA and SW-MSA
alternating, Sec. 3.2):

* patch partition + linear embedding (Sec. 3.1): non-overlapping ``patch_partition`` pixel
  patches -> ``embed_dim`` (C) channels (a conv with kernel = stride = patch size, i.e. one
  linear map per patch, as timm's ``PatchEmbed``), then LayerNorm;
* encoder (Sec. 3.3): Swin blocks at H/4 x W/4 (H/``patch_partition``) with C channels, then
  ``len(depths) - 2`` times patch merging (2x2 tokens -> 1, channels x 2) + Swin blocks;
* bottleneck (Sec. 3.4): patch merging + the last ``depths`` entry of Swin blocks (at 8C with
  the paper's 4 stages);
* decoder (Sec. 3.5): patch expanding (x2 size, channels / 2), concatenation with the encoder
  features of that size (the skip connection, Sec. 3.6), a linear layer back to the stage width,
  Swin blocks (the encoder's depths, mirrored);
* the last patch expanding (x ``patch_partition``, "4x" in the paper) back to H x W with C
  channels and a linear (1x1 conv) head to the classes.

timm provides the blocks, the window attention with its relative position bias, and patch
merging (``SwinTransformerStage`` = optional ``PatchMerging`` + blocks); timm has no patch
expanding, so :class:`PatchExpand` (a linear layer and a pixel rearrangement, Sec. 3.5) is here.
The skips carry the encoder stage *outputs* (Fig. 1); the authors' code takes each stage's
input instead. Nothing is pretrained or downloaded (the paper initialises the encoder from
ImageNet Swin-T; every baseline of this harness starts from scratch).

Sizes: every stage's feature map must be a whole number of windows, so each side must be a
multiple of ``patch_partition * window_size * 2**mergings`` (4 * 7 * 8 = 224 for the paper's
model; 4 * 4 * 8 = 128 with 4x4 windows); other sizes are an :class:`InputSizeError` that names
the size to use. A map that is exactly one window gets no shifted windows (as in Swin).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from timm.models.swin_transformer import SwinTransformerStage
from torch import Tensor, nn

from baselines.common import DeterministicMethod, SegLossConfig
from ldseg.config import NumClasses, PositiveFloat, PositiveInt, Probability, SpatialDims, Widths
from ldseg.errors import ConfigError, InputSizeError


@dataclass(frozen=True)
class SwinUNetConfig:
    """Defaults: the paper's model (Swin-T sized: C = 96, depths 2-2-2-2, heads 3-6-12-24,
    window 7, 4x4 patches, MLP ratio 4, stochastic depth 0.1 as in the authors' model class)."""

    spatial_dims: SpatialDims = 2
    in_channels: PositiveInt = 3
    num_classes: NumClasses = 2
    patch_partition: PositiveInt = 4  # pixels per patch side (the paper's "patch size" 4)
    embed_dim: PositiveInt = 96  # C
    # Swin blocks per encoder stage; the last entry is the bottleneck. The decoder mirrors the
    # entries before it. len(depths) - 1 patch mergings.
    depths: Widths = (2, 2, 2, 2)
    num_heads: Widths = (3, 6, 12, 24)  # per encoder stage (mirrored in the decoder)
    window_size: PositiveInt = 7
    mlp_ratio: PositiveFloat = 4.0
    qkv_bias: bool = True
    drop_rate: Probability = 0.0
    attn_drop_rate: Probability = 0.0
    drop_path_rate: Probability = 0.1
    loss: SegLossConfig = field(default_factory=SegLossConfig)


class PatchExpand(nn.Module):
    """Patch expanding (Sec. 3.5): a linear layer to ``scale**2 * out_dim`` channels, each token
    rearranged into a ``scale x scale`` block of ``out_dim``-channel tokens, LayerNorm.
    Channels-last (B, H, W, C) like timm's Swin stages. scale 2 / out_dim = C/2 is the decoder's
    up-sampling; scale 4 / out_dim = C is the final "4x" expanding."""

    def __init__(self, dim: int, out_dim: int, scale: int) -> None:
        super().__init__()
        self.scale, self.out_dim = scale, out_dim
        self.expand = nn.Linear(dim, scale * scale * out_dim, bias=False)
        self.norm = nn.LayerNorm(out_dim)

    def forward(self, x: Tensor) -> Tensor:
        b, h, w, _ = x.shape
        s = self.scale
        x = self.expand(x).reshape(b, h, w, s, s, self.out_dim)
        x = x.permute(0, 1, 3, 2, 4, 5).reshape(b, h * s, w * s, self.out_dim)
        return self.norm(x)


class SwinUNet(nn.Module):
    """Encoder - bottleneck - decoder of Swin stages with skips; logits (B, classes, H, W)."""

    def __init__(self, config: SwinUNetConfig) -> None:
        super().__init__()
        _check(config)
        self.config = config
        c, p, win = config.embed_dim, config.patch_partition, config.window_size
        n = len(config.depths)
        dims = [c * 2**i for i in range(n)]
        # stochastic depth rising linearly over the encoder blocks, mirrored in the decoder
        total = sum(config.depths)
        rates = torch.linspace(0, config.drop_path_rate, total).tolist() if total else []
        starts = [sum(config.depths[:i]) for i in range(n)]

        def stage(i: int, dim_in: int, downsample: bool, depth: int) -> SwinTransformerStage:
            # timm fixes each block's window / shift from a construction-time resolution;
            # forward re-fits them to the real map through timm's own ``set_input_size``
            return SwinTransformerStage(
                dim=dim_in,
                out_dim=dims[i],
                input_resolution=(4 * win, 4 * win),
                depth=depth,
                downsample=downsample,
                num_heads=config.num_heads[i],
                window_size=win,
                dynamic_mask=True,  # the shifted-window mask follows the map's size
                mlp_ratio=config.mlp_ratio,
                qkv_bias=config.qkv_bias,
                proj_drop=config.drop_rate,
                attn_drop=config.attn_drop_rate,
                drop_path=rates[starts[i] : starts[i] + depth],
            )

        self.embed = nn.Conv2d(config.in_channels, c, kernel_size=p, stride=p)
        self.embed_norm = nn.LayerNorm(c)
        self.drop = nn.Dropout(config.drop_rate)
        self.encoder = nn.ModuleList(
            stage(i, dims[max(i - 1, 0)], i > 0, config.depths[i]) for i in range(n)
        )
        self.bottleneck_norm = nn.LayerNorm(dims[-1])
        decoder_levels = range(n - 2, -1, -1)
        self.expand = nn.ModuleList(PatchExpand(dims[i + 1], dims[i], 2) for i in decoder_levels)
        self.concat_back = nn.ModuleList(nn.Linear(2 * dims[i], dims[i]) for i in decoder_levels)
        self.decoder = nn.ModuleList(
            stage(i, dims[i], False, config.depths[i]) for i in decoder_levels
        )
        self.decoder_norm = nn.LayerNorm(c)
        self.final_expand = PatchExpand(c, c, p)
        self.head = nn.Conv2d(c, config.num_classes, 1, bias=False)
        self.apply(_init_weights)

    @property
    def multiple(self) -> int:
        """Each side must be a multiple of this: whole windows at every stage."""
        c = self.config
        return c.patch_partition * c.window_size * 2 ** (len(c.depths) - 1)

    def check_size(self, spatial: tuple[int, ...]) -> None:
        m = self.multiple
        if any(s % m for s in spatial):
            fixed = tuple(max(math.ceil(s / m), 1) * m for s in spatial)
            c = self.config
            raise InputSizeError(
                f"swinunet: image size {tuple(spatial)} is not divisible by {m} "
                f"(patch_partition {c.patch_partition} x window_size {c.window_size} x "
                f"2**{len(c.depths) - 1} patch mergings); resize or pad to {fixed}, or pick a "
                f"window_size that divides the feature maps"
            )

    def forward(self, x: Tensor) -> Tensor:
        self.check_size(tuple(x.shape[2:]))
        x = self.drop(self.embed_norm(self.embed(x).permute(0, 2, 3, 1)))  # (B, H/p, W/p, C)
        skips = []
        for stage in self.encoder:
            _fit(stage, x.shape[1:3], self.config.window_size)
            x = stage(x)
            skips.append(x)
        x = self.bottleneck_norm(x)
        for expand, linear, stage, skip in zip(
            self.expand, self.concat_back, self.decoder, reversed(skips[:-1]), strict=True
        ):
            x = linear(torch.cat([expand(x), skip], dim=-1))
            _fit(stage, x.shape[1:3], self.config.window_size)
            x = stage(x)
        x = self.final_expand(self.decoder_norm(x))
        return self.head(x.permute(0, 3, 1, 2))


def _fit(stage: SwinTransformerStage, size: tuple[int, int], window: int) -> None:
    """Give ``stage`` the size of the map it is about to see (timm's ``set_input_size``): a map
    that is one window gets no shift. Checked sizes keep every map >= one window, so the window
    (and with it the relative-position table, a weight) never changes here."""
    size = tuple(int(s) for s in size)
    if tuple(stage.input_resolution) != size:
        stage.set_input_size(size, window)


def _init_weights(m: nn.Module) -> None:
    """Swin's initialisation: truncated normal (std 0.02) linear weights, zero biases; unit
    LayerNorms. timm's stages leave their Linear layers at PyTorch's default otherwise."""
    if isinstance(m, nn.Linear):
        nn.init.trunc_normal_(m.weight, std=0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.LayerNorm):
        nn.init.ones_(m.weight)
        nn.init.zeros_(m.bias)


def _check(config: SwinUNetConfig) -> None:
    if len(config.depths) < 2 or len(config.depths) != len(config.num_heads):
        raise ConfigError(
            f"swinunet.depths and swinunet.num_heads need the same length >= 2 (stages incl. the "
            f"bottleneck), got {config.depths} and {config.num_heads}"
        )
    for i, heads in enumerate(config.num_heads):
        if (config.embed_dim * 2**i) % heads:
            raise ConfigError(
                f"swinunet: stage {i} width {config.embed_dim * 2**i} (embed_dim * 2**{i}) is not "
                f"divisible by num_heads[{i}] = {heads}"
            )
    if config.patch_partition < 1 or config.window_size < 1:
        raise ConfigError("swinunet.patch_partition and swinunet.window_size must be >= 1")


class SwinUNetMethod(DeterministicMethod):
    """:class:`DeterministicMethod` that refuses sizes Swin-Unet cannot take (no padding)."""

    def check_size(self, images: Tensor) -> None:
        self.net.check_size(tuple(images.shape[2:]))


def build_swinunet(config: SwinUNetConfig, info) -> nn.Module:
    """Swin-Unet in :class:`DeterministicMethod` (Dice + CE as every deterministic baseline
    here; the authors' code weighs them 0.6 / 0.4), randomly initialised; sizes not divisible by ``patch_partition * window_size * 2**mergings`` are an
    error rather than padded (padding would change what the windows see)."""
    return SwinUNetMethod(SwinUNet(config), config.loss)
