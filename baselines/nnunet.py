"""nnU-Net-style baseline (Isensee et al.): MONAI ``DynUNet`` configured by an nnU-Net plan.

What is nnU-Net here: the topology rule (:func:`plan`: strides and kernel sizes from the patch
size and the voxel spacing, feature widths doubling from 32 and capped at 512 in 2D / 320 in
3D), instance norm + leaky ReLU, deep supervision with nnU-Net's halving weights on
nearest-downsampled targets, Dice + CE, and SGD with Nesterov momentum 0.99 and the poly LR
schedule (``TRAIN_DEFAULTS``). What is not: the dataset fingerprinting, resampling, the
cascade, the 5-fold ensembling and the automatic configuration choice — the harness gives every
method the same images, splits and step budget.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from monai.networks.nets import DynUNet
from torch import Tensor, nn

from baselines.common import DeterministicMethod, SegLossConfig, pad_end, padding_for
from ldseg.config import (
    NonNegativeInt,
    NumClasses,
    PositiveFloat,
    PositiveInt,
    Probability,
    SpatialDims,
)

# nnU-Net's training recipe; the trainer reads this (the profile's [method_train.nnunet] wins).
TRAIN_DEFAULTS = {
    "nnunet": {
        "optimizer": "sgd",
        "lr": 0.01,
        "momentum": 0.99,
        "nesterov": True,
        "weight_decay": 3e-5,
        "lr_schedule": "poly",
    },
}


def plan(
    patch_size: tuple[int, ...],
    spacing: tuple[float, ...] | None = None,
    *,
    base_features: int = 32,
    max_features: int | None = None,
    max_downsamplings: int = 5,
    min_size: int = 8,
) -> dict[str, list]:
    """nnU-Net's topology rule (``get_pool_and_conv_props``), as plain lists.

    At every level, with the current (already downsampled) spacing and size:

    * an axis is downsampled (stride 2) while its spacing is less than twice the smallest
      spacing and its size is at least ``min_size`` (= 2 x nnU-Net's 4-voxel minimum map);
    * the convolution kernel is 3 along the largest group of axes whose spacings are within a
      factor 2 of each other and 1 along the others (thick-slice axes get 1 until the in-plane
      downsamplings have caught up);
    * the bottleneck always uses kernel 3.

    ``max_downsamplings`` caps the depth (nnU-Net only stops at the minimum map size; 5
    downsamplings = 6 resolution levels). Widths: ``base_features * 2**level``, capped at
    ``max_features`` (nnU-Net: 512 in 2D, 320 in 3D). ``divisor`` is the per-axis size multiple
    the network needs and ``padded_patch_size`` the patch padded to it.
    """
    dims = len(patch_size)
    spacing = tuple(float(s) for s in spacing) if spacing is not None else (1.0,) * dims
    if len(spacing) != dims:
        raise ValueError(f"spacing {spacing} and patch_size {patch_size} differ in length")
    if max_features is None:
        max_features = 512 if dims == 2 else 320
    size = [float(s) for s in patch_size]
    sp = list(spacing)
    kernels: list[list[int]] = []
    strides: list[list[int]] = [[1] * dims]
    while len(strides) - 1 < max_downsamplings:
        smallest = min(sp)
        axes: list[int] = []  # the largest group of axes with spacings within a factor 2
        for a in range(dims):
            partners = [i for i in range(dims) if sp[i] / sp[a] < 2 and sp[a] / sp[i] < 2]
            if len(partners) > len(axes):
                axes = partners
        pool = [i for i in range(dims) if sp[i] / smallest < 2 and size[i] >= min_size]
        if not pool:
            break
        kernels.append([3 if i in axes else 1 for i in range(dims)])
        strides.append([2 if i in pool else 1 for i in range(dims)])
        for i in pool:
            sp[i] *= 2
            size[i] = math.ceil(size[i] / 2)
    kernels.append([3] * dims)  # bottleneck
    divisor = [math.prod(s[i] for s in strides) for i in range(dims)]
    return {
        "patch_size": list(patch_size),
        "spacing": list(spacing),
        "kernel_size": kernels,
        "strides": strides,
        "upsample_kernel_size": strides[1:],
        "filters": [min(base_features * 2**i, max_features) for i in range(len(strides))],
        "divisor": divisor,
        "padded_patch_size": [
            math.ceil(p / d) * d for p, d in zip(patch_size, divisor, strict=True)
        ],
    }


@dataclass(frozen=True)
class NNUNetConfig:
    spatial_dims: SpatialDims = 2
    in_channels: PositiveInt = 3
    num_classes: NumClasses = 2
    # The harness fills patch_size from the profile's image size; None = 128 per axis.
    patch_size: tuple[PositiveInt, ...] | None = None
    spacing: tuple[PositiveFloat, ...] | None = None  # None = isotropic (1.0 per axis)
    base_features: PositiveInt = 32
    max_features: PositiveInt | None = None  # None = 512 (2D) / 320 (3D)
    max_downsamplings: NonNegativeInt = 5
    deep_supervision: bool = True
    # extra heads; None = every decoder level but the deepest
    deep_supr_num: NonNegativeInt | None = None
    res_block: bool = False  # DynUNet's residual blocks (nnU-Net ResEnc-like) or plain
    dropout: Probability = 0.0
    loss: SegLossConfig = field(default_factory=SegLossConfig)


class NNUNet(DeterministicMethod):
    """DynUNet from :func:`plan`; in training mode its extra heads give the deep-supervision
    terms, weighted 1, 1/2, 1/4, ... (normalised to sum 1) against targets downsampled by nearest
    neighbour to each head's size (nnU-Net). ``predict`` uses the full-resolution head only.
    """

    def __init__(self, config: NNUNetConfig) -> None:
        d = config.spatial_dims
        patch = tuple(config.patch_size) if config.patch_size is not None else (128,) * d
        if len(patch) != d:
            raise ValueError(f"nnunet.patch_size {patch} needs {d} entries (spatial_dims)")
        the_plan = plan(
            patch,
            config.spacing,
            base_features=config.base_features,
            max_features=config.max_features,
            max_downsamplings=config.max_downsamplings,
        )
        if len(the_plan["strides"]) < 3:
            raise ValueError(
                f"patch_size {patch} is too small for a DynUNet (needs >= 2 "
                f"downsamplings, i.e. >= 16 pixels per axis)"
            )
        num_up = len(the_plan["strides"]) - 1
        supr = config.deep_supr_num if config.deep_supr_num is not None else num_up - 1
        deep = config.deep_supervision and supr > 0
        net = DynUNet(
            spatial_dims=d,
            in_channels=config.in_channels,
            out_channels=config.num_classes,
            kernel_size=the_plan["kernel_size"],
            strides=the_plan["strides"],
            upsample_kernel_size=the_plan["upsample_kernel_size"],
            filters=the_plan["filters"],
            dropout=config.dropout or None,
            norm_name=("instance", {"affine": True}),
            act_name=("leakyrelu", {"inplace": True, "negative_slope": 0.01}),
            deep_supervision=deep,
            deep_supr_num=max(supr, 1),
            res_block=config.res_block,
        )
        super().__init__(net, config.loss, multiple=tuple(the_plan["divisor"]))
        self.plan = the_plan
        self.deep_supervision = deep
        weights = torch.tensor([0.5**i for i in range(supr + 1)]) if deep else torch.ones(1)
        self.ds_weights = (weights / weights.sum()).tolist()

    def forward(self, images: Tensor) -> Tensor:
        """Full-resolution logits (also in training mode, where DynUNet stacks its heads)."""
        spatial = tuple(images.shape[2:])
        out = self.net(pad_end(images, padding_for(spatial, self.multiple)))
        if out.dim() == images.dim() + 1:  # (B, heads, C, *spatial) in training mode
            out = out[:, 0]
        return out[(..., *(slice(0, s) for s in spatial))]

    def loss(self, batch: dict, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        images, labels = batch["image"], batch["label"].long()
        spatial = tuple(images.shape[2:])
        pad = padding_for(spatial, self.multiple)
        out = self.net(pad_end(images, pad))
        if not (self.training and self.deep_supervision):
            return self.criterion(out[(..., *(slice(0, s) for s in spatial))], labels)
        terms = self.criterion(out[:, 0][(..., *(slice(0, s) for s in spatial))], labels)
        total = self.ds_weights[0] * terms["loss"]
        # DynUNet keeps each extra head's native-resolution output in ``net.heads`` (documented
        # in DynUNetSkipLayer); nnU-Net compares those with downsampled targets.
        padded_labels = pad_end(labels.float(), pad)
        for w, head in zip(self.ds_weights[1:], self.net.heads, strict=True):
            target = F.interpolate(padded_labels, size=head.shape[2:], mode="nearest").long()
            total = total + w * self.criterion(head, target)["loss"]
        return {
            "loss": total,
            "ce": terms["ce"],
            "dice": terms["dice"],
            "full_res": terms["loss"].detach(),
        }


def build_nnunet(config: NNUNetConfig, info) -> nn.Module:
    return NNUNet(config)
