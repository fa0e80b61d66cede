"""MedT (Valanarasu et al., "Medical Transformer: Gated Axial-Attention for Medical Image
Segmentation", MICCAI 2021), 2D, written from the paper's description.

Sections are cited by name, figures and equations by number (arXiv 2102.10662).

* **Gated axial attention** ("Gated Axial-Attention", Eq. 3, Fig. 2c): self-attention along one
  axis at a time (height, then width), with relative position encodings r^q, r^k, r^v for
  queries, keys and values (Eq. 2, after Axial-DeepLab), each positional term scaled by a
  learned gate::

      y_ij = sum_w softmax_w(q_ij^T k_iw + G_Q q_ij^T r^q_iw + G_K k_iw^T r^k_iw)
                   (G_V1 v_iw + G_V2 r^v_iw)

* **Gated axial transformer layer** (Fig. 2b): 1x1 conv -> height attention -> width
  attention -> 1x1 conv, with a residual connection.
* **Local-Global training, LoGo** ("Local-Global Training", Fig. 2a): a shallow *global* branch
  on the whole image and a deeper *local* branch on a ``patches x patches`` grid of patches (the
  paper: 16 patches of I/4 x I/4) with shared weights; the two branches' output feature maps
  are added and a 1x1 convolution gives the segmentation logits.

MONAI / smp / timm have no MedT, so it is written here (a few hundred lines). Choices the paper
leaves open follow the authors' public code: a conv stem that halves the size (narrower here:
the code widens it to 128 channels in between), layers widening by 2 (attention width = output
width / 2), 8 heads, queries and keys with half the value width, average pooling for the
stride-2 layers, decoders of conv -> 2x bilinear upsampling -> ReLU -> add the encoder feature
of that size. Departures, each small and stated where it is made: the attention logits are
scaled by 1/sqrt(d_q) (the code batch-normalises them instead), the gates are trained (the
paper calls them learnable; the published code keeps them at their initial values), and
relative offsets longer than the table built for ``img_size`` are clipped to its ends (Shaw et
al. 2018), so the network also runs on larger images (the runtime scan).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from baselines.common import DeterministicMethod, SegLossConfig
from ldseg.config import NonNegativeFloat, NumClasses, PositiveInt, SpatialDims, Widths
from ldseg.errors import ConfigError


@dataclass(frozen=True)
class MedTConfig:
    """Defaults: the authors' GlaS model (their code's ``MedT`` with width factor s = 0.125 at
    128^2: a global branch of 2 levels with 1 + 2 layers, a local branch of 4 levels with
    1-2-4-1 layers, 8 heads). 0.76M weights here; the paper reports 1.4M for MedT, the rest
    being layers of the authors' code that the paper does not describe (e.g. the wider stem)."""

    spatial_dims: SpatialDims = 2
    in_channels: PositiveInt = 3
    num_classes: NumClasses = 2
    img_size: PositiveInt = 128  # the size the relative-position tables span (MedT trains at 128^2)
    patches: PositiveInt = 4  # local branch: the image is cut into patches x patches pieces (LoGo)
    stem_width: PositiveInt = 8
    heads: PositiveInt = 8
    # output channels and number of gated axial layers per level; level 0 runs at 1/2 size
    # (after the stem), each later level halves the size (stride-2 first layer)
    global_widths: Widths = (32, 64)
    global_layers: Widths = (1, 2)
    local_widths: Widths = (32, 64, 128, 256)
    local_layers: Widths = (1, 2, 4, 1)
    out_width: PositiveInt = 16  # channels of each branch's output map (added, then the 1x1 conv)
    # G_Q, G_K, G_V1, G_V2 at initialisation: the positional terms start small (the authors'
    # code: 0.1, 0.1 on r^q, r^k; 1.0 on v; 0.1 on r^v)
    gate_init: tuple[NonNegativeFloat, NonNegativeFloat, NonNegativeFloat, NonNegativeFloat] = (
        0.1,
        0.1,
        1.0,
        0.1,
    )
    loss: SegLossConfig = field(default_factory=SegLossConfig)


def relative_index(length: int, span: int, device: torch.device | None = None) -> Tensor:
    """(length, length) index into a table of 2*span - 1 offsets: entry [i, w] addresses the
    offset w - i of key w from query i (Eq. 2's r_iw), clipped to [-(span-1), span-1]."""
    pos = torch.arange(length, device=device)
    offset = (pos[None, :] - pos[:, None]).clamp(-(span - 1), span - 1)
    return offset + span - 1


class GatedAxialAttention(nn.Module):
    """Multi-head gated axial self-attention along one spatial axis (Eq. 3, Fig. 2c).

    ``axis`` 2 attends along the height (each column is a sequence), 3 along the width. Queries
    and keys have ``channels / (2 heads)`` channels per head, values ``channels / heads``; the
    relative encodings r^q, r^k, r^v are shared by the heads (as in Axial-DeepLab).
    """

    def __init__(
        self,
        channels: int,
        heads: int,
        span: int,
        axis: int,
        gate_init: tuple[NonNegativeFloat, NonNegativeFloat, NonNegativeFloat, NonNegativeFloat] = (
            0.1,
            0.1,
            1.0,
            0.1,
        ),
    ) -> None:
        super().__init__()
        if channels % (2 * heads):
            raise ConfigError(
                f"medt: attention width {channels} must be a multiple of 2 * heads = {2 * heads}"
            )
        if axis not in (2, 3):
            raise ValueError(f"axis must be 2 (height) or 3 (width), got {axis}")
        self.heads, self.axis, self.span = heads, axis, span
        self.d_q = channels // (2 * heads)
        self.d_v = channels // heads
        self.qkv = nn.Conv1d(channels, 2 * channels, 1, bias=False)
        self.qkv_norm = nn.BatchNorm1d(2 * channels)
        self.r_q = nn.Parameter(torch.randn(self.d_q, 2 * span - 1) * self.d_q**-0.5)
        self.r_k = nn.Parameter(torch.randn(self.d_q, 2 * span - 1) * self.d_q**-0.5)
        self.r_v = nn.Parameter(torch.randn(self.d_v, 2 * span - 1) * self.d_v**-0.5)
        g_q, g_k, g_v1, g_v2 = (float(g) for g in gate_init)
        self.g_q = nn.Parameter(torch.tensor(g_q))
        self.g_k = nn.Parameter(torch.tensor(g_k))
        self.g_v1 = nn.Parameter(torch.tensor(g_v1))
        self.g_v2 = nn.Parameter(torch.tensor(g_v2))

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        if self.axis == 2:  # columns are the sequences
            seq = x.permute(0, 3, 1, 2).reshape(b * w, c, h)
            return self.attend(seq).reshape(b, w, c, h).permute(0, 2, 3, 1)
        seq = x.permute(0, 2, 1, 3).reshape(b * h, c, w)
        return self.attend(seq).reshape(b, h, c, w).permute(0, 2, 1, 3)

    def attend(self, x: Tensor) -> Tensor:
        """Eq. (3) on (N, C, L) sequences -> (N, C, L).

        The relative terms are computed against the whole offset table (a (L, 2*span-1)
        product) and then gathered per (i, w) pair; the gates and the 1/sqrt(d_q) scale are
        applied to the small factors, so each (L, L) map is written only a few times (on a CPU
        those passes are the cost). Same numbers as the einsum form in the module docstring.
        """
        n, _, length = x.shape
        nh = n * self.heads
        qkv = self.qkv_norm(self.qkv(x)).reshape(nh, 2 * self.d_q + self.d_v, length)
        q, k, v = qkv.split([self.d_q, self.d_q, self.d_v], dim=1)
        idx = relative_index(length, self.span, x.device).expand(nh, length, length)
        # 1/sqrt(d_q) keeps the logits O(1) (the authors batch-normalise them instead)
        q_t = (q * self.d_q**-0.5).transpose(1, 2)  # (nh, L, d_q)
        k_t = (k * self.d_q**-0.5).transpose(1, 2)
        logits = torch.bmm(q_t, k)  # q_i^T k_w
        qr = q_t @ (self.g_q * self.r_q)  # (nh, i, offset): G_Q q_i^T r^q
        logits = logits + torch.gather(qr, 2, idx)
        kr = k_t @ (self.g_k * self.r_k)  # (nh, w, offset): G_K k_w^T r^k
        logits = logits + torch.gather(kr, 2, idx.transpose(1, 2)).transpose(1, 2)
        attn = logits.softmax(dim=-1)  # (nh, i, w)
        out = torch.bmm(v, attn.transpose(1, 2))  # sum_w a_iw v_w -> (nh, d_v, i)
        # sum_w a_iw r^v_iw: the attention summed per offset, times the offset table
        per_offset = attn.new_zeros(nh, length, 2 * self.span - 1).scatter_add_(2, idx, attn)
        out = self.g_v1 * out + self.g_v2 * (self.r_v @ per_offset.transpose(1, 2))
        return out.reshape(n, self.heads * self.d_v, length)


class GatedAxialLayer(nn.Module):
    """Gated axial transformer layer (Fig. 2b): 1x1 conv -> height then width gated axial
    attention -> 1x1 conv, plus the (projected) input; stride 2 average-pools after the width
    attention. ``span``: the length of the axes this layer attends over at ``img_size``."""

    def __init__(
        self,
        c_in: int,
        c_out: int,
        heads: int,
        span: int,
        stride: int,
        gate_init: tuple[float, float, float, float],
    ) -> None:
        super().__init__()
        width = c_out // 2
        self.down = nn.Sequential(
            nn.Conv2d(c_in, width, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU()
        )
        self.height = GatedAxialAttention(width, heads, span, axis=2, gate_init=gate_init)
        self.width = GatedAxialAttention(width, heads, span, axis=3, gate_init=gate_init)
        self.pool = nn.AvgPool2d(stride) if stride > 1 else nn.Identity()
        self.up = nn.Sequential(nn.Conv2d(width, c_out, 1, bias=False), nn.BatchNorm2d(c_out))
        if c_in == c_out and stride == 1:
            self.shortcut: nn.Module = nn.Identity()
        else:
            self.shortcut = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out)
            )

    def forward(self, x: Tensor) -> Tensor:
        y = F.relu(self.pool(self.width(self.height(self.down(x)))))
        return F.relu(self.up(y) + self.shortcut(x))


class MedTBranch(nn.Module):
    """One LoGo branch (Fig. 2a): conv stem (1/2 size), an encoder of gated axial layers, and a
    decoder back to the input size with additive skips; output ``out_width`` channels."""

    def __init__(
        self,
        config: MedTConfig,
        widths: tuple[int, ...],
        layers: tuple[int, ...],
        size: int,
    ) -> None:
        super().__init__()
        s = config.stem_width
        self.stem = nn.Sequential(
            nn.Conv2d(config.in_channels, s, 7, stride=2, padding=3, bias=False),
            nn.BatchNorm2d(s),
            nn.ReLU(),
            nn.Conv2d(s, s, 3, padding=1, bias=False),
            nn.BatchNorm2d(s),
            nn.ReLU(),
        )
        self.levels = nn.ModuleList()
        c_prev, length = s, max(size // 2, 1)
        for i, (c, n) in enumerate(zip(widths, layers, strict=True)):
            stride = 1 if i == 0 else 2
            blocks = [GatedAxialLayer(c_prev, c, config.heads, length, stride, config.gate_init)]
            length = max(length // stride, 1)
            blocks += [
                GatedAxialLayer(c, c, config.heads, length, 1, config.gate_init)
                for _ in range(n - 1)
            ]
            self.levels.append(nn.Sequential(*blocks))
            c_prev = c
        # decoder: level i -> size of level i-1, then + skip; the last step undoes the stem
        self.up = nn.ModuleList(
            nn.Conv2d(widths[i], widths[i - 1], 3, padding=1) for i in range(len(widths) - 1, 0, -1)
        )
        self.out = nn.Conv2d(widths[0], config.out_width, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        x = self.stem(x)
        skips = []
        for level in self.levels:
            x = level(x)
            skips.append(x)
        for conv, skip in zip(self.up, reversed(skips[:-1]), strict=True):
            x = F.relu(F.interpolate(conv(x), scale_factor=2, mode="bilinear")) + skip
        return F.relu(F.interpolate(self.out(x), scale_factor=2, mode="bilinear"))


class MedT(nn.Module):
    """Global branch on the image + local branch on its patches, added, then a 1x1 conv."""

    def __init__(self, config: MedTConfig) -> None:
        super().__init__()
        self.patches = config.patches
        self.global_branch = MedTBranch(
            config, config.global_widths, config.global_layers, config.img_size
        )
        self.local_branch = MedTBranch(
            config, config.local_widths, config.local_layers, config.img_size // config.patches
        )
        self.head = nn.Conv2d(config.out_width, config.num_classes, 1)

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        p = self.patches
        g = self.global_branch(x)
        # the patches go through the local branch as one batch (shared weights, no loop)
        tiles = x.reshape(b, c, p, h // p, p, w // p).permute(0, 2, 4, 1, 3, 5)
        loc = self.local_branch(tiles.reshape(b * p * p, c, h // p, w // p))
        d = loc.shape[1]
        loc = loc.reshape(b, p, p, d, h // p, w // p).permute(0, 3, 1, 4, 2, 5).reshape(b, d, h, w)
        return self.head(g + loc)


def _check(config: MedTConfig) -> None:
    for branch in ("global", "local"):
        widths, layers = getattr(config, f"{branch}_widths"), getattr(config, f"{branch}_layers")
        if not widths or len(widths) != len(layers) or min(layers) < 1:
            raise ConfigError(
                f"medt.{branch}_widths and medt.{branch}_layers need the same non-zero length "
                f"and >= 1 layer per level, got {widths} and {layers}"
            )
        for c in widths:
            if c % (4 * config.heads):
                raise ConfigError(
                    f"medt.{branch}_widths: {c} is not a multiple of 4 * heads = "
                    f"{4 * config.heads} (the attention runs at half the width, split into "
                    f"heads with queries/keys of half the head width)"
                )
    if config.patches < 1 or config.img_size < 2 * config.patches:
        raise ConfigError(
            f"medt.patches must be >= 1 and at most img_size / 2, got {config.patches} "
            f"(img_size {config.img_size})"
        )
    if len(config.gate_init) != 4:
        raise ConfigError("medt.gate_init needs 4 values (G_Q, G_K, G_V1, G_V2)")


def build_medt(config: MedTConfig, info) -> nn.Module:
    """MedT in :class:`DeterministicMethod` (Dice + CE; the paper trains with binary CE). The
    input is zero-padded to a multiple of 2**len(global_widths) (the global branch) and of
    patches * 2**len(local_widths) (each patch through the local branch); logits are cropped."""
    _check(config)
    multiple = math.lcm(
        2 ** len(config.global_widths), config.patches * 2 ** len(config.local_widths)
    )
    return DeterministicMethod(MedT(config), config.loss, multiple=multiple, min_size=multiple)
