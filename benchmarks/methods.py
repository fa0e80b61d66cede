"""The method protocol and the registry of methods (LDSeg and every baseline).

Every method is an ``nn.Module`` answering the same small protocol, so the trainer, the
evaluator and the experiments never special-case one:

* ``loss(batch, generator=None) -> dict[str, Tensor]`` with the total under ``"loss"``;
  ``batch`` holds ``image`` (B, C, *spatial) float in [0, 1] and ``label`` (B, 1, *spatial) int;
* ``predict(images, *, num_inference_steps=None, sampler=None, num_samples=1, generator=None)
  -> ldseg.model.Segmentation`` (deterministic methods ignore the sampling arguments);
* whether ``predict`` runs a diffusion sampler is registry metadata (``MethodSpec.samples``,
  from the catalog), not a class attribute; every such method is an
  ``ldseg.sampling_method.SamplingMethod`` (a test checks the two agree);
* ``ema_target() -> nn.Module``: the part that EMA averages when enabled.

A built-in method is one :class:`~benchmarks.method_catalog.MethodInfo` (name, dims, version:
torch-free, for listings and name checks) plus one line in :func:`_builders` (its typed config
dataclass, built from the profile's ``[methods.NAME]`` table, and its builder). The baselines
never import this module: the dependencies point one way, ``ldseg`` <- ``baselines`` <-
``benchmarks``. The builders are imported only when the registry is first asked for; a method
outside the catalog (a test's fake, a plug-in) is added with :func:`register`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from benchmarks.configs import from_dict, merge
from benchmarks.errors import ConfigError
from benchmarks.method_catalog import CATALOG

if TYPE_CHECKING:
    import torch
    from torch import Tensor, nn

    from ldseg.model import Segmentation


@runtime_checkable
class SegMethod(Protocol):
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
    # config fields set from the job, (field, source): see MethodInfo.from_job
    from_job: tuple[tuple[str, str], ...] = ()


_REGISTRY: dict[str, MethodSpec] = {}
_loaded = False


def build_ldseg(config, info) -> nn.Module:
    from ldseg.model import LDSeg

    return LDSeg(config)


def _families() -> tuple:
    """The baselines modules, one per method family (imported here, never the other way)."""
    from baselines import ablations, lsegdiff, medt, nnunet, pixel_diffusion, swin_unet, unets

    return ablations, lsegdiff, medt, nnunet, pixel_diffusion, swin_unet, unets


def _builders() -> dict[str, tuple[type, Callable[[Any, Any], nn.Module]]]:
    """Every catalog method -> (config class, builder): the one explicit list."""
    from ldseg.config import LDSegConfig

    ablations, lsegdiff, medt, nnunet, pixel_diffusion, swin_unet, unets = _families()

    return {
        "ldseg": (LDSegConfig, build_ldseg),
        "ldseg-ld": (LDSegConfig, ablations.build_ld),
        "ldseg-id": (LDSegConfig, ablations.build_id),
        "ldseg-ld-id": (LDSegConfig, ablations.build_ld_id),
        "lsegdiff": (lsegdiff.LSegDiffConfig, lsegdiff.build_lsegdiff),
        "medsegdiff": (pixel_diffusion.MedSegDiffConfig, pixel_diffusion.build_medsegdiff),
        "sdfddpm": (pixel_diffusion.SDFDDPMConfig, pixel_diffusion.build_sdfddpm),
        "medt": (medt.MedTConfig, medt.build_medt),
        "nnunet": (nnunet.NNUNetConfig, nnunet.build_nnunet),
        "swinunet": (swin_unet.SwinUNetConfig, swin_unet.build_swinunet),
        "unet": (unets.UNetConfig, unets.build_unet),
        "resunet": (unets.ResUNetConfig, unets.build_resunet),
        "unetpp": (unets.UNetPPConfig, unets.build_unetpp),
        "swinunetr": (unets.SwinUNETRConfig, unets.build_swinunetr),
        "vnet": (unets.VNetConfig, unets.build_vnet),
    }


def register(
    name: str,
    *,
    description: str,
    dims: tuple[int, ...],
    samples: bool,
    config_cls: type,
    binary_only: bool = False,
    version: int = 1,
    from_job: tuple[tuple[str, str], ...] = (),
):
    """Decorator adding a builder ``build(config, info) -> nn.Module`` outside the catalog."""

    def deco(build):
        _REGISTRY[name] = MethodSpec(
            name, description, dims, samples, config_cls, build, binary_only, version, from_job
        )
        return build

    return deco


def _load() -> None:
    global _loaded
    if _loaded:
        return
    builders = _builders()
    names = [m.name for m in CATALOG]
    if sorted(builders) != sorted(names):  # a programming error, caught by tests/test_imports.py
        raise AssertionError(f"catalog {sorted(names)} != builders {sorted(builders)}")
    for m in CATALOG:
        config_cls, build = builders[m.name]
        spec = MethodSpec(m.name, m.description, m.dims, m.samples, config_cls, build)
        _REGISTRY.setdefault(
            m.name,
            dataclasses.replace(
                spec, binary_only=m.binary_only, version=m.version, from_job=m.from_job
            ),
        )
    _loaded = True


def registry() -> dict[str, MethodSpec]:
    _load()
    return dict(_REGISTRY)


def check_name(name: str) -> None:
    """Refuse an unknown method name (ConfigError listing the valid ones) without importing a
    single method: the catalog and whatever :func:`register` added."""
    if name not in _REGISTRY and name not in {m.name for m in CATALOG}:
        valid = sorted({m.name for m in CATALOG} | set(_REGISTRY))
        raise ConfigError(f"unknown method {name!r}; valid methods: {', '.join(valid)}")


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
    for module in _families():
        defaults = getattr(module, "TRAIN_DEFAULTS", {})
        if name in defaults:
            return dict(defaults[name])
    return {}


def build_method(name: str, config: Any, info) -> nn.Module:
    return get_spec(name).build(config, info)
