"""f_label-enc: one-hot mask -> standardised label latent z_l0 (paper eq. 10)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ldseg.config import LDSegConfig
from ldseg.nets.blocks import conv1, down_unit, res_unit, standardize_per_sample


class LabelEncoder(nn.Module):
    """ResUNet-style encoder without skip connections.

    stem residual unit, then ``num_downsamplings`` downsampling units (stride-2 residual units, or
    2x2 max-pools each followed by a residual unit: ``downsample``), a 1x1 convolution to
    ``latent_channels`` and a standardising normalisation: every sample's z_l0 has zero mean and
    unit variance over (C, *spatial) — the reference code's LayerNorm over (H, W, C). With
    ``affine=True`` a learnable per-channel scale/shift follows (the reference code's LayerNorm
    has one per element, which would tie the model to one image size).
    """

    def __init__(self, config: LDSegConfig) -> None:
        super().__init__()
        cfg, d = config.label_encoder, config.spatial_dims
        widths = cfg.widths
        if len(widths) != config.num_downsamplings + 1:
            raise ValueError(
                f"label_encoder.widths needs num_downsamplings + 1 = "
                f"{config.num_downsamplings + 1} entries, got {len(widths)}"
            )
        norm = cfg.norm or config.norm
        kw = {"norm": norm, "act": config.act, "dropout": cfg.dropout}
        layers = [res_unit(d, config.num_classes, widths[0], **kw)]
        for c_in, c_out in zip(widths[:-1], widths[1:], strict=True):
            layers.append(down_unit(d, c_in, c_out, downsample=cfg.downsample, **kw))
        layers.append(conv1(d, widths[-1], config.latent_channels))
        self.body = nn.Sequential(*layers)
        self.affine = cfg.affine
        if self.affine:
            shape = (1, config.latent_channels) + (1,) * d
            self.scale = nn.Parameter(torch.ones(shape))
            self.shift = nn.Parameter(torch.zeros(shape))

    def forward(self, y_onehot: Tensor) -> Tensor:
        z_l0 = standardize_per_sample(self.body(y_onehot))
        if self.affine:
            z_l0 = z_l0 * self.scale + self.shift
        return z_l0
