"""One training job end to end: data -> method -> Trainer -> test metrics -> files.

Used by ``bench train`` and by the experiment runner, so both produce the same artefacts in the
run directory: ``checkpoint.pt`` (resume + predict), ``metrics.json``, ``per_case.csv``,
``curve.csv`` (DSC vs training minutes) and ``config.json``. Rerunning with the same directory
resumes from the checkpoint; a finished run is only re-evaluated.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from benchmarks.checkpoint import ema_weights, load_checkpoint
from benchmarks.data import get_info, load_split
from benchmarks.errors import CheckpointError
from benchmarks.evaluate import evaluate
from benchmarks.methods import build_method, get_spec, method_config
from benchmarks.profiles import EvalConfig, Profile
from benchmarks.train import Trainer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobSpec:
    """Everything that determines a trained model and its test numbers."""

    method: str
    dataset: str
    profile: str
    seed: int = 0
    device: str = "cpu"
    data_root: str | None = None
    data_path: str | None = None  # the ``folder`` dataset's directory


@dataclass
class Progress:
    """Callbacks a front end may pass (the CLI draws Rich bars); all optional."""

    on_step: Callable[[int, int, dict], None] | None = None  # (step, total, loss terms)
    on_eval: Callable[[int, int], None] | None = None  # (done, total) cases


def job_configs(spec: JobSpec, profile: Profile) -> dict[str, Any]:
    """The full resolved configuration of a job (logged as params, stored in checkpoints)."""
    info = get_info(spec.dataset, path=spec.data_path)
    ds = profile.dataset(spec.dataset)
    overrides = profile.method_overrides(spec.method, info.spatial_dims)
    mcfg = method_config(spec.method, overrides, info)
    fields = getattr(mcfg, "__dataclass_fields__", {})
    if "patch_size" in fields:  # nnU-Net's plan is derived from the training patch size
        mcfg = replace(mcfg, patch_size=tuple(ds.size))
    if "train_steps" in fields:  # two-stage methods place their stage switch in the budget
        mcfg = replace(
            mcfg, train_steps=profile.train_config(spec.method, dataset=spec.dataset).steps
        )
    return {
        "job": asdict(spec),
        # the dataset's train overrides are already resolved into "train" below
        "dataset": {"name": info.name, **{k: v for k, v in asdict(ds).items() if k != "train"}},
        "method": asdict(mcfg),
        "train": asdict(profile.train_config(spec.method, seed=spec.seed, dataset=spec.dataset)),
        "eval": asdict(profile.eval_config(spec.method)),
        "_objects": (info, mcfg),
    }


def run_job(
    spec: JobSpec,
    profile: Profile,
    out_dir: Path,
    *,
    progress: Progress | None = None,
    eval_overrides: dict[str, Any] | None = None,
    stop_after: int | None = None,
) -> dict[str, Any]:
    """Train (or resume) and evaluate; returns the metrics dict also written to metrics.json."""
    progress = progress or Progress()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cfgs = job_configs(spec, profile)
    info, mcfg = cfgs.pop("_objects")
    ds = profile.dataset(spec.dataset)
    train_cfg = profile.train_config(spec.method, seed=spec.seed, dataset=spec.dataset)
    eval_cfg = profile.eval_config(spec.method, **(eval_overrides or {}))
    (out_dir / "config.json").write_text(json.dumps(cfgs, indent=2, default=str))

    common = dict(
        root=spec.data_root,
        size=tuple(ds.size),
        seed=spec.seed,
        path=spec.data_path,
        limit=ds.limit,
        val_fraction=ds.val_fraction,
    )
    train_ds = load_split(spec.dataset, "train", augment=True, **common)
    test_ds = load_split(spec.dataset, "test", augment=False, **common)

    torch.manual_seed(spec.seed)  # initial weights
    method = build_method(spec.method, mcfg, info)
    meta = {
        "method_name": spec.method,
        "method_config": cfgs["method"],
        "job_size": list(ds.size),
        "dataset_info": _info_dict(info),
        "job": cfgs["job"],
        "eval_config": asdict(eval_cfg),
    }
    trainer = Trainer(
        method,
        train_ds,
        train_cfg,
        device=spec.device,
        checkpoint=out_dir / "checkpoint.pt",
        meta=meta,
    )

    def curve_point() -> dict[str, float]:
        _, summ = evaluate(method, test_ds, replace(eval_cfg, hd95=False), device=spec.device)
        return {"dsc": summ["dsc"], "iou": summ["iou"]}

    def on_step(step: int, terms: dict) -> None:
        if progress.on_step:
            progress.on_step(step, train_cfg.steps, terms)

    trainer.fit(on_step=on_step, evaluate_curve=curve_point, stop_after=stop_after)
    if not trainer.finished:
        return {"finished": False, "step": trainer.state.step}

    t0 = time.perf_counter()
    done = [0]

    def on_batch(n: int) -> None:
        done[0] += n
        if progress.on_eval:
            progress.on_eval(done[0], len(test_ds))

    with trainer.swapped_ema():
        df, summary = evaluate(method, test_ds, eval_cfg, device=spec.device, on_batch=on_batch)
    eval_seconds = time.perf_counter() - t0
    df.to_csv(out_dir / "per_case.csv", index=False)
    if trainer.state.curve:
        pd.DataFrame(trainer.state.curve).to_csv(out_dir / "curve.csv", index=False)
    metrics = {
        "method": spec.method,
        "dataset": spec.dataset,
        "profile": profile.name,
        "seed": spec.seed,
        **summary,
        "num_inference_steps": eval_cfg.num_inference_steps if get_spec(spec.method).samples else 0,
        "sampler": eval_cfg.sampler if get_spec(spec.method).samples else "none",
        "num_samples": eval_cfg.num_samples,
        "train_steps": train_cfg.steps,
        "train_seconds": trainer.state.elapsed_s,
        "eval_seconds": eval_seconds,
        "finished": True,
    }
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True))
    return metrics


def _info_dict(info) -> dict[str, Any]:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(info).items()}


def load_trained(checkpoint: Path | str, device: str = "cpu"):
    """Rebuild a trained method from its checkpoint (EMA weights applied when present).

    Returns ``(method, ckpt)``; the checkpoint's stored configs are the single source of truth.
    """
    from types import SimpleNamespace

    from benchmarks.configs import from_dict

    ckpt = load_checkpoint(checkpoint)
    try:
        name = ckpt["method_name"]
        spec = get_spec(name)
        mcfg = from_dict(spec.config_cls, ckpt["method_config"], where=name)
        info = SimpleNamespace(
            **{k: tuple(v) if isinstance(v, list) else v for k, v in ckpt["dataset_info"].items()}
        )
        method = spec.build(mcfg, info)
        method.load_state_dict(ckpt["model"])
    except (KeyError, RuntimeError) as err:
        raise CheckpointError(f"{checkpoint}: checkpoint does not match the model ({err})") from err
    ema = ema_weights(ckpt)
    if ema is not None:
        method.ema_target().load_state_dict(ema)
    return method.to(device).eval(), ckpt


def eval_config_from(ckpt: dict[str, Any], **overrides: Any) -> EvalConfig:
    from benchmarks.configs import from_dict, merge

    base = ckpt.get("eval_config", {})
    return from_dict(EvalConfig, merge(base, {k: v for k, v in overrides.items() if v is not None}))


def evaluate_checkpoint(
    checkpoint: Path | str,
    *,
    data_root: str | None = None,
    device: str = "cpu",
    on_batch: Callable[[int], None] | None = None,
    **eval_overrides: Any,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Score a trained checkpoint on its dataset's test split with any sampler settings
    (e.g. ``num_inference_steps=50, sampler="ddpm"``): the steps trade-off without retraining."""
    method, ckpt = load_trained(checkpoint, device=device)
    job = ckpt["job"]
    cfg = eval_config_from(ckpt, **eval_overrides)
    ds_settings = ckpt.get("job_size")
    test_ds = load_split(
        job["dataset"],
        "test",
        root=data_root or job.get("data_root"),
        size=tuple(ds_settings),
        seed=job["seed"],
        path=job.get("data_path"),
    )
    df, summary = evaluate(method, test_ds, cfg, device=device, on_batch=on_batch)
    summary = {
        **summary,
        "num_inference_steps": cfg.num_inference_steps,
        "sampler": cfg.sampler,
        "num_samples": cfg.num_samples,
    }
    return df, summary
