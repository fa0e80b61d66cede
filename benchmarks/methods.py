"""The method protocol and the registry of methods (LDSeg and every baseline).

Every method is an ``nn.Module`` answering the same small protocol, so the trainer, the
evaluator and the experiments never special-case one:

* ``loss(batch, generator=None) -> dict[str, Tensor]`` with the total under ``"loss"``;
  ``batch`` holds ``image`` (B, C, *spatial) float in [0, 1] and ``label`` (B, 1, *spatial) int;
* ``predict(images, *, num_inference_steps=None, sampler=None, num_samples=1, generator=None)
  -> ldseg.model.Segmentation`` (deterministic methods ignore the sampling arguments);
* ``samples`` (class attribute): True when ``predict`` runs a diffusion sampler;
* ``ema_target() -> nn.Module``: the part that EMA averages when enabled.

A method is registered with :func:`register` under its CLI name, with a typed config dataclass
built from the profile's ``[methods.NAME]`` table (unknown keys are errors).
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import torch
from torch import Tensor, nn

from benchmarks.configs import from_dict, merge
from benchmarks.errors import ConfigError
from ldseg.config import LDSegConfig
from ldseg.model import LDSeg, Segmentation


@runtime_checkable
class SegMethod(Protocol):
    samples: bool

    def loss(self, batch: dict, generator: torch.Generator | None = None) -> dict[str, Tensor]: ...

    def predict(self, images: Tensor, **sampling: Any) -> Segmentation: ...

    def ema_target(self) -> nn.Module: ...


@dataclass(frozen=True)
class MethodSpec:
    name: str
    description: str
    dims: tuple[int, ...]
    samples: bool
    config_cls: type
    build: Callable[[Any, Any], nn.Module]  # (config, DatasetInfo) -> method
    binary_only: bool = False
    # bump when a code change alters what an unchanged config trains (part of the training
    # identity, benchmarks/versions.py): cached jobs of older code are then not reused
    version: int = 1


_REGISTRY: dict[str, MethodSpec] = {}
# Modules whose import registers methods (one file per method family).
METHOD_MODULES = (
    "baselines.unets",
    "baselines.medt",
    "baselines.swin_unet",
    "baselines.nnunet",
    "baselines.lsegdiff",
    "baselines.pixel_diffusion",
    "baselines.ablations",
)
_loaded = False


def register(
    name: str,
    *,
    description: str,
    dims: tuple[int, ...],
    samples: bool,
    config_cls: type,
    binary_only: bool = False,
    version: int = 1,
):
    """Decorator for a builder ``build(config, info) -> nn.Module``."""

    def deco(build):
        _REGISTRY[name] = MethodSpec(
            name, description, dims, samples, config_cls, build, binary_only, version
        )
        return build

    return deco


def _load() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        for module in METHOD_MODULES:
            importlib.import_module(module)


def registry() -> dict[str, MethodSpec]:
    _load()
    return dict(_REGISTRY)


def get_spec(name: str) -> MethodSpec:
    specs = registry()
    if name not in specs:
        raise ConfigError(f"unknown method {name!r}; valid methods: {', '.join(sorted(specs))}")
    return specs[name]


def method_config(name: str, overrides: Mapping[str, Any] | None, info) -> Any:
    """The typed config of method ``name`` for dataset ``info``: dataset-derived fields
    (``spatial_dims``, ``in_channels``, ``num_classes``) are filled in when the config has them,
    then the profile's overrides are applied (unknown keys raise)."""
    spec = get_spec(name)
    if info.spatial_dims not in spec.dims:
        raise ConfigError(
            f"method {name!r} supports {'/'.join(f'{d}D' for d in spec.dims)} only; dataset "
            f"{info.name!r} is {info.spatial_dims}D"
        )
    if spec.binary_only and info.num_classes != 2:
        raise ConfigError(
            f"method {name!r} works on binary datasets only (signed distance maps are ambiguous "
            f"for several classes); {info.name!r} has {info.num_classes} classes"
        )
    fields = {f.name for f in dataclasses.fields(spec.config_cls)}
    derived = {
        k: getattr(info, k) for k in ("spatial_dims", "in_channels", "num_classes") if k in fields
    }
    return from_dict(spec.config_cls, merge(derived, dict(overrides or {})), where=name)


def train_defaults(name: str) -> dict[str, Any]:
    """A method family's own optimiser defaults (``TRAIN_DEFAULTS`` in its module), e.g. the
    nnU-Net recipe; the profile's ``[method_train.NAME]`` still wins."""
    _load()
    for module in METHOD_MODULES:
        defaults = getattr(importlib.import_module(module), "TRAIN_DEFAULTS", {})
        if name in defaults:
            return dict(defaults[name])
    return {}


def build_method(name: str, config: Any, info) -> nn.Module:
    return get_spec(name).build(config, info)


# -- LDSeg itself ----------------------------------------------------------------------------
@register(
    "ldseg",
    description="LDSeg: end-to-end latent diffusion (the paper's method)",
    dims=(2, 3),
    samples=True,
    config_cls=LDSegConfig,
)
def _build_ldseg(config: LDSegConfig, info) -> nn.Module:
    return LDSeg(config)
