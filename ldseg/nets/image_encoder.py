"""f_image-enc: source image -> image embedding z_i of the label latent's size (eq. 9)."""

from __future__ import annotations

from torch import Tensor, nn

from ldseg.config import LDSegConfig
from ldseg.nets.blocks import SelfAttention, attention_head, conv1, res_unit


class ImageEncoder(nn.Module):
    """Encoder without skips; multi-head self-attention after the last two downsamplings.

    In 3D the attention is optional (``image_encoder.attention_3d``), as in the reference code,
    because token counts grow with the cube of the size. ``head="attention"`` appends the
    reference code's 1-head attention + swish + BatchNorm after the 1x1 convolution.
    """

    def __init__(self, config: LDSegConfig) -> None:
        super().__init__()
        cfg, d = config.image_encoder, config.spatial_dims
        widths = cfg.widths
        n_down = config.num_downsamplings
        if len(widths) != n_down + 1:
            raise ValueError(
                f"image_encoder.widths needs num_downsamplings + 1 = {n_down + 1} entries, "
                f"got {len(widths)}"
            )
        use_attn = cfg.attention_levels > 0 and (d == 2 or cfg.attention_3d)
        kw = {"norm": cfg.norm or config.norm, "act": config.act, "dropout": cfg.dropout}
        layers: list[nn.Module] = [res_unit(d, config.in_channels, widths[0], **kw)]
        for i, (c_in, c_out) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
            layers.append(res_unit(d, c_in, c_out, stride=2, **kw))
            if use_attn and i >= n_down - cfg.attention_levels:
                layers.append(SelfAttention(c_out, cfg.attention_heads))
        layers.append(conv1(d, widths[-1], config.latent_channels))
        if cfg.head == "attention":
            layers.append(attention_head(d, config.latent_channels, config.act))
        self.body = nn.Sequential(*layers)
        self.out_channels = config.latent_channels

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x)
