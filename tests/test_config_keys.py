"""Every key of every method config (the whole registry) and of the eval config changes a
result: no key is accepted and ignored.

The keys are generated from the dataclasses (``benchmarks.configs.leaves``); each gets a changed
value from its type (another ``Literal`` choice, the other bool, a doubled number or width, ...)
unless ``VALUES`` names one, and a ``CONTEXT`` where it acts at all (``x0_clip`` acts only with
``x0_processing = "clip"``; the context is set on both sides of the comparison). The change must
then alter what reads the key, checked in order of cost: the built network's parameter count,
a training loss (LSegDiff's stage-2 keys with ``stage1_fraction = 0``), then ``predict`` (DDIM,
K = 2, N = 2, unless the key's context says otherwise), all compared exactly at fixed seeds on
tiny tensors (the same config gives bit-identical results). A key may instead be refused
(the ablations refuse settings of the encoder they replace); the only keys that may do nothing
are in ``EXEMPT``, each with the reason (none today).

The eval config: ``benchmarks.evaluate.evaluate`` on three synthetic cases with a tiny LDSeg:
the per-case table or the predicted probabilities must change.
"""

from __future__ import annotations

import typing
from dataclasses import replace
from typing import Any, Literal

import pytest
import torch

from benchmarks.configs import leaves, unwrap
from benchmarks.errors import ConfigError
from benchmarks.methods import build_method, method_config, registry
from benchmarks.profiles import EvalConfig
from ldseg.config import SamplerSettings
from tests.test_baselines import info, tiny

DERIVED = ("spatial_dims", "in_channels", "num_classes")  # filled from the dataset
# CONTEXT entries that are not config keys: how predict samples (default DDIM, K = 2) and the
# batch size of the training loss (default 1)
PREDICT_WITH, BATCH = "predict with", "batch"

# Keys whose generic change is invalid for the tiny shapes, needs a consistent partner, or would
# land on the value the config already has in effect.
VALUES: dict[tuple[str, str], dict[str, Any]] = {
    ("*", "spatial_dims"): {"spatial_dims": 3},
    ("*", "in_channels"): {"in_channels": 1},
    ("*", "num_classes"): {"num_classes": 3},
    ("*", "num_downsamplings"): {
        "num_downsamplings": 1,
        "label_encoder.widths": (8, 16),
        "image_encoder.widths": (8, 16),
        "label_decoder.widths": (8,),
    },
    ("*", "norm"): {"norm": "batch"},
    ("*", "act"): {"act": "relu"},
    # None = the config's ``norm`` ("group"): another one
    ("*", "label_encoder.norm"): {"label_encoder.norm": "batch"},
    ("*", "image_encoder.norm"): {"image_encoder.norm": "batch"},
    ("*", "label_decoder.norm"): {"label_decoder.norm": "batch"},
    ("*", "label_encoder.widths"): {"label_encoder.widths": (8, 16, 32)},
    ("*", "image_encoder.widths"): {"image_encoder.widths": (8, 16, 32)},
    ("*", "image_encoder.attention_levels"): {"image_encoder.attention_levels": 1},
    ("*", "denoiser.num_head_channels"): {"denoiser.num_head_channels": 8},
    ("*", "network.num_head_channels"): {"network.num_head_channels": 2},
    ("*", "network.norm_num_groups"): {"network.norm_num_groups": 2},
    ("*", "schedule.num_train_timesteps"): {"schedule.num_train_timesteps": 500},
    ("*", "schedule.max_beta"): {"schedule.max_beta": 0.5},
    ("*", "sampler.timestep_grid"): {"sampler.timestep_grid": "linspace"},
    ("*", "stage1_fraction"): {"stage1_fraction": 0.0},
    ("*", "train_steps"): {"train_steps": 1},  # stage 1 = round(0.5 * 1) = 0 steps
    ("medt", "heads"): {"heads": 2, "global_widths": (8, 16), "local_widths": (8, 16)},
    ("nnunet", "spacing"): {"spacing": (1.0, 3.0)},
    ("nnunet", "max_downsamplings"): {"max_downsamplings": 2},  # the tiny plan stops at 3
    ("nnunet", "max_features"): {"max_features": 8},
    ("nnunet", "deep_supr_num"): {"deep_supr_num": 1},
    ("resunet", "norm"): {"norm": "instance"},
    ("resunet", "act"): {"act": "prelu"},
    ("unetpp", "encoder_name"): {"encoder_name": "mobilenet_v2"},
    ("unetpp", "encoder_depth"): {"encoder_depth": 4, "decoder_channels": (16, 8, 4, 4)},
}

# Settings under which a key acts at all (applied to both sides of the comparison).
CONTEXT: dict[str, dict[str, Any]] = {
    "sampler.x0_clip": {"sampler.x0_processing": "clip"},
    "schedule.linear_beta_start": {"schedule.kind": "linear"},
    "schedule.linear_beta_end": {"schedule.kind": "linear"},
    "sampler.ddpm_variance": {PREDICT_WITH: ("ddpm", 2)},
    # DDIM's sigma is ~0 on the step to t = 1 of K = 2: eta shows from K = 3
    "sampler.eta": {PREDICT_WITH: ("ddim", 3)},
    # one case: one eps per batch is one per sample, a Dice pooled over the batch is per case
    "loss.shared_eps": {BATCH: 2},
    "loss.dice_batch": {BATCH: 2},
    "vae_loss.dice_batch": {BATCH: 2},
    "image_encoder.attention_3d": {"spatial_dims": 3},  # the switch for 3D attention
}
STAGE2 = ("schedule.", "image_encoder.", "denoiser.")  # read by LSegDiff's stage-2 loss only

# Refused instead of ignored: the Table V ablations refuse any setting of the encoder they
# replace (baselines/ablations.py); 2D-only and binary-only methods refuse 3D data and three
# classes (benchmarks.methods.method_config).
ABLATION_LABEL = {"ldseg-ld", "ldseg-ld-id"}
ABLATION_IMAGE = {"ldseg-id", "ldseg-ld-id"}

# (method or "*", key) -> why it provably cannot change a tiny-shape result. Empty: every key
# of every registered method acts (with its CONTEXT); add one only with its proof.
EXEMPT: dict[tuple[str, str], str] = {}


def refused(name: str, key: str) -> bool:
    spec = registry()[name]
    if key.startswith("label_encoder.") and name in ABLATION_LABEL:
        return True
    if key.startswith("image_encoder.") and name in ABLATION_IMAGE:
        return True
    if key == "spatial_dims" and 3 not in spec.dims:
        return True
    return key == "num_classes" and spec.binary_only


# -- generic changed values ----------------------------------------------------------------------
def changed(tp: Any, value: Any) -> Any:
    """A valid value of type ``tp`` other than ``value``."""
    base, meta = unwrap(tp)
    args = typing.get_args(base)
    if type(None) in args:
        inner = next(a for a in args if a is not type(None))
        return None if value is not None else changed(inner, None)
    if typing.get_origin(base) is Literal:
        return next(c for c in args if c != value)
    if base is bool:
        return not value
    if base in (int, float):
        return _number(base, meta, value)
    if typing.get_origin(base) is tuple:
        *head, last = value
        return (*head, (not last) if isinstance(last, bool) else last * 2)
    raise AssertionError(f"no generic change for {tp}: add it to VALUES")


def _number(kind: type, meta: tuple, value: Any) -> Any:
    from benchmarks.configs import _check_meta

    candidates = [value * 2, value + 1, 0.5, 0.25] if value else [0.5, 1, 0.25]
    for c in candidates:
        c = kind(c)
        try:
            _check_meta(meta, c, "")
        except ConfigError:
            continue
        if c != value:
            return c
    raise AssertionError(f"no changed value for {value!r} within {meta}")


def get(cfg: Any, path: str) -> Any:
    for part in path.split("."):
        cfg = getattr(cfg, part)
    return cfg


def as_overrides(changes: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for path, v in changes.items():
        *parents, last = path.split(".")
        node = out
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = list(v) if isinstance(v, tuple) else v
    return out


def merged(a: dict, b: dict) -> dict:
    out = dict(a)
    for k, v in b.items():
        out[k] = merged(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


# -- what a config does -----------------------------------------------------------------------------
def tiny_batch(ds, b: int = 1, size: int = 16) -> dict:
    """``b`` 16^2 (or 16^3) cases: every tiny method's size multiple divides 16 but Swin-Unet's."""
    g = torch.Generator().manual_seed(0)
    spatial = (size,) * ds.spatial_dims
    return {
        "image": torch.rand(b, ds.in_channels, *spatial, generator=g),
        "label": torch.randint(0, ds.num_classes, (b, 1, *spatial), generator=g),
    }


def build(name: str, changes: dict[str, Any]):
    changes = {k: v for k, v in changes.items() if k not in (PREDICT_WITH, BATCH)}
    derived = {k: changes.pop(k) for k in DERIVED if k in changes}
    ds = info(derived.get("spatial_dims", 2), derived.get("num_classes", 2))
    if "in_channels" in derived:
        ds.in_channels = derived["in_channels"]
    cfg = method_config(name, merged(tiny(name, ds.spatial_dims), as_overrides(changes)), ds)
    torch.manual_seed(0)
    method = build_method(name, cfg, ds)
    with torch.no_grad():  # every weight off its init (MONAI zero-initialises output convs)
        g = torch.Generator().manual_seed(7)
        for p in method.parameters():
            p.add_(0.2 * torch.randn(p.shape, generator=g))
    return method, ds


def observations(name: str, changes: dict[str, Any]):
    """Parameter count, a training loss, then a prediction (lazily, cheapest first)."""
    method, ds = build(name, changes)
    yield sum(p.numel() for p in method.parameters())
    data = tiny_batch(ds, changes.get(BATCH, 1), 32 if name == "swinunet" else 16)
    method.train()
    torch.manual_seed(1)  # dropout
    yield method.loss(data, generator=torch.Generator().manual_seed(1))["loss"].detach()
    if registry()[name].samples:
        method.eval()
        sampler, k = changes.get(PREDICT_WITH, ("ddim", 2))
        seg = method.predict(
            data["image"],
            num_inference_steps=k,
            sampler=sampler,
            num_samples=2,
            generator=torch.Generator().manual_seed(3),
        )
        yield seg.probs


class Lazy:
    """A generator's items, computed once and only as far as asked."""

    def __init__(self, items):
        self.items, self.seen = items, []

    def __getitem__(self, i):
        while len(self.seen) <= i:
            self.seen.append(next(self.items))
        return self.seen[i]


def differs(a: Any, b: Any) -> bool:
    """Exact: the same config at the same seeds gives bit-identical results."""
    if isinstance(a, torch.Tensor):
        return not torch.equal(a, b)
    return a != b


def acts(base: Lazy, variant: Lazy) -> bool:
    i = 0
    while True:
        try:
            b = base[i]
        except StopIteration:
            return False
        if differs(b, variant[i]):
            return True
        i += 1


def variants(name: str):
    """(key, base changes, variant changes) for every leaf key of ``name``'s config."""
    spec = registry()[name]
    default = method_config(name, tiny(name, 2), info(2))
    for key, tp in leaves(spec.config_cls):
        context = dict(CONTEXT.get(key, {}))
        if name == "lsegdiff" and key.startswith(STAGE2):
            context["stage1_fraction"] = 0.0  # the training loss is stage 2's
        change = VALUES.get((name, key)) or VALUES.get(("*", key))
        if change is None:
            current = context.get(key, get(default, key))
            change = {key: changed(tp, current)}
        # partners of a change that the method refuses (an ablation's replaced encoder) dropped
        change = {k: v for k, v in change.items() if k == key or not refused(name, k)}
        yield key, context, {**context, **change}


@pytest.mark.slow  # ~400 keys, each a tiny build + loss + predict: 1-3 s per method idle
@pytest.mark.parametrize("name", sorted(registry()))
def test_every_method_config_key_changes_the_result(name):
    silent, bases = [], {}
    for key, base, variant in variants(name):
        if (name, key) in EXEMPT or ("*", key) in EXEMPT:
            continue
        if refused(name, key):
            with pytest.raises(ConfigError):
                build(name, variant)
            continue
        frozen = tuple(sorted(base.items()))
        if frozen not in bases:
            bases[frozen] = Lazy(observations(name, base))
        if not acts(bases[frozen], Lazy(observations(name, variant))):
            silent.append(key)
    assert not silent, f"{name}: changing these keys changes nothing: {silent}"


# -- the eval config ---------------------------------------------------------------------------------
# batch_size acts only where a case's result depends on its batch: with the reference code's
# batch-wide re-standardisation of the latents (every other sampler setting works per sample)
EVAL_CONTEXT = {"batch_size": SamplerSettings(x0_processing="standardize", renormalize="batch")}
EVAL_VALUES = {"batch_size": 1}  # the default (8) already holds the three test cases


def evaluated(cfg: EvalConfig, sampler: SamplerSettings) -> tuple:
    """The per-case table of ``benchmarks.evaluate.evaluate`` on three synthetic 16^2 cases,
    and the class probabilities every ``predict`` call returned."""
    from benchmarks.data import load_split
    from benchmarks.evaluate import evaluate

    ds = load_split("synth2d", "test", size=(16, 16), limit=3)
    method, _ = build("ldseg", {"in_channels": 1})
    method.sampler = sampler  # the settings predict reads
    probs = []
    predict = method.predict

    def recording(images, **kw):
        seg = predict(images, **kw)
        probs.append(seg.probs)
        return seg

    method.predict = recording
    table, _ = evaluate(method, ds, cfg)
    return table, torch.cat(probs)


def test_every_eval_config_key_changes_the_result():
    silent = []
    default = EvalConfig()
    for key, tp in leaves(EvalConfig):
        sampler = EVAL_CONTEXT.get(key, SamplerSettings(x0_processing="standardize"))
        value = EVAL_VALUES.get(key, changed(tp, getattr(default, key)))
        table_a, probs_a = evaluated(default, sampler)
        table_b, probs_b = evaluated(replace(default, **{key: value}), sampler)
        if table_a.equals(table_b) and torch.equal(probs_a, probs_b):
            silent.append(key)
    assert not silent, f"changing these eval keys changes nothing: {silent}"
