"""f_denoiser: eps_hat = f(z_t, z_i, t), a DDPM-style ResUNet on concat(z_t, z_i)."""

from __future__ import annotations

import torch
from monai.networks.nets import DiffusionModelUNet
from torch import Tensor, nn

from ldseg.config import DenoiserConfig


class Denoiser(nn.Module):
    """MONAI's ``DiffusionModelUNet`` (Ho et al.'s architecture: residual blocks with a
    sinusoidal time embedding + MLP, self-attention at the deeper levels, res-attn-res middle),
    sized like the reference denoiser (widths 16/32/64, GroupNorm 4, 2 res blocks per level).
    The condition enters by channel concatenation, as in the paper.
    """

    def __init__(
        self, spatial_dims: int, latent_channels: int, cond_channels: int, config: DenoiserConfig
    ) -> None:
        super().__init__()
        self.unet = DiffusionModelUNet(
            spatial_dims=spatial_dims,
            in_channels=latent_channels + cond_channels,
            out_channels=latent_channels,
            num_res_blocks=config.num_res_blocks,
            channels=config.channels,
            attention_levels=config.attention_levels,
            norm_num_groups=config.norm_num_groups,
            num_head_channels=config.num_head_channels,
        )

    def forward(self, z_t: Tensor, z_i: Tensor, t: Tensor) -> Tensor:
        return self.unet(torch.cat([z_t, z_i], dim=1), timesteps=t)
