"""Shared building blocks, one code path for 2D and 3D (``spatial_dims``), on MONAI layers."""

from __future__ import annotations

import torch
from monai.networks.blocks import Convolution, ResidualUnit
from monai.networks.layers.factories import Act, Norm, Pool
from torch import Tensor, nn


def norm_spec(norm: str, channels: int) -> tuple | str:
    """MONAI Norm factory spec; "group" uses up to 4 groups (the reference code's GroupNorm 4)."""
    if norm == "group":
        groups = 4 if channels % 4 == 0 else 1
        return ("group", {"num_groups": groups})
    if norm in ("batch", "instance"):
        return norm
    raise ValueError(f"unknown norm {norm!r}; use 'group', 'batch' or 'instance'")


def res_unit(
    spatial_dims: int,
    c_in: int,
    c_out: int,
    *,
    stride: int = 1,
    norm: str = "group",
    act: str = "swish",
    dropout: float = 0.0,
) -> ResidualUnit:
    """ResUNet residual unit (Zhang et al.): two norm-act-conv subunits plus a projected skip."""
    return ResidualUnit(
        spatial_dims,
        c_in,
        c_out,
        strides=stride,
        kernel_size=3,
        subunits=2,
        act=act,
        norm=norm_spec(norm, c_out),
        dropout=dropout or None,
        adn_ordering="NDA",
    )


def down_unit(
    spatial_dims: int,
    c_in: int,
    c_out: int,
    *,
    downsample: str = "stride",
    norm: str = "group",
    act: str = "swish",
    dropout: float = 0.0,
) -> nn.Module:
    """Halve every spatial axis: a stride-2 residual unit (``"stride"``) or a 2x2 max-pool
    followed by a residual unit at the pooled size (``"maxpool"``, the reference label encoder:
    residual block, then ``MaxPooling2D``, so the pool sits between consecutive blocks)."""
    kw = {"norm": norm, "act": act, "dropout": dropout}
    if downsample == "stride":
        return res_unit(spatial_dims, c_in, c_out, stride=2, **kw)
    if downsample == "maxpool":
        pool = Pool[Pool.MAX, spatial_dims](kernel_size=2)
        return nn.Sequential(pool, res_unit(spatial_dims, c_in, c_out, **kw))
    raise ValueError(f"unknown downsample {downsample!r}; use 'stride' or 'maxpool'")


def up_unit(
    spatial_dims: int,
    c_in: int,
    c_out: int,
    *,
    norm: str = "group",
    act: str = "swish",
    dropout: float = 0.0,
) -> nn.Sequential:
    """Stride-2 transposed convolution followed by a residual unit (the reference decoder)."""
    return nn.Sequential(
        Convolution(
            spatial_dims,
            c_in,
            c_out,
            strides=2,
            kernel_size=3,
            is_transposed=True,
            act=act,
            norm=norm_spec(norm, c_out),
            adn_ordering="NDA",
        ),
        res_unit(spatial_dims, c_out, c_out, norm=norm, act=act, dropout=dropout),
    )


def conv1(spatial_dims: int, c_in: int, c_out: int) -> nn.Module:
    """A plain 1x1 (x1) convolution with bias, no norm/activation."""
    return Convolution(spatial_dims, c_in, c_out, kernel_size=1, conv_only=True)


def batch_norm(spatial_dims: int, channels: int) -> nn.Module:
    """BatchNorm over ``channels`` in 2D or 3D (MONAI's Norm factory)."""
    return Norm[Norm.BATCH, spatial_dims](channels)


def attention_head(spatial_dims: int, channels: int, act: str = "swish") -> nn.Sequential:
    """The reference image encoder's last layers after its 1x1 convolution: a 1-head
    self-attention (pre-norm, residual), the activation, then BatchNorm."""
    return nn.Sequential(
        SelfAttention(channels, heads=1), Act[act](), batch_norm(spatial_dims, channels)
    )


class SelfAttention(nn.Module):
    """Multi-head self-attention over all spatial positions, pre-norm, residual.

    Written around ``nn.MultiheadAttention`` because MONAI's attention blocks take token
    sequences; this wrapper only flattens any ``spatial_dims`` to tokens and back.
    """

    def __init__(self, channels: int, heads: int) -> None:
        super().__init__()
        heads = max(1, min(heads, channels))
        while channels % heads:
            heads -= 1
        self.norm = nn.GroupNorm(4 if channels % 4 == 0 else 1, channels)
        self.attn = nn.MultiheadAttention(channels, heads, batch_first=True)

    def forward(self, x: Tensor) -> Tensor:
        b, c, *spatial = x.shape
        tokens = self.norm(x).flatten(2).transpose(1, 2)  # (B, N, C)
        out, _ = self.attn(tokens, tokens, tokens, need_weights=False)
        return x + out.transpose(1, 2).reshape(b, c, *spatial)


def standardize_per_sample(z: Tensor, eps: float = 1e-5) -> Tensor:
    """Zero mean / unit variance over (C, *spatial) of each sample (a LayerNorm, no affine)."""
    return torch.nn.functional.layer_norm(z, z.shape[1:], eps=eps)
