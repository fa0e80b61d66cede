"""f_label-dec: (denoised) label latent -> class logits at full size (eq. 13)."""

from __future__ import annotations

from torch import Tensor, nn

from ldseg.config import LDSegConfig
from ldseg.nets.blocks import batch_norm, conv1, up_unit


class LabelDecoder(nn.Module):
    """ResUNet-style decoder without skips: per upsampling a stride-2 transposed convolution and
    a residual unit, then a 1x1 convolution to the class count. Returns logits; the model applies
    the softmax (the paper's last layer) so that the cross-entropy is computed stably.
    ``output_norm`` adds the reference code's BatchNorm on the logits (before that softmax).
    """

    def __init__(self, config: LDSegConfig) -> None:
        super().__init__()
        widths, d = config.label_decoder.widths, config.spatial_dims
        if len(widths) != config.num_downsamplings:
            raise ValueError(
                f"label_decoder.widths needs num_downsamplings = {config.num_downsamplings} "
                f"entries, got {len(widths)}"
            )
        cfg = config.label_decoder
        kw = {"norm": cfg.norm or config.norm, "act": config.act, "dropout": cfg.dropout}
        layers: list[nn.Module] = []
        c_in = config.latent_channels
        for c_out in widths:
            layers.append(up_unit(d, c_in, c_out, **kw))
            c_in = c_out
        layers.append(conv1(d, c_in, config.num_classes))
        if cfg.output_norm:
            layers.append(batch_norm(d, config.num_classes))
        self.body = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        return self.body(z)
