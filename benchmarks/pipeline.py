"""One training job end to end: data -> method -> Trainer -> test metrics -> files.

Used by ``bench train`` and by the experiment runner, so both produce the same artefacts in the
run directory: ``checkpoint.pt`` (resume + predict), ``metrics.json``, ``per_case.csv``,
``curve.csv`` (DSC vs training minutes) and ``config.json``. Rerunning with the same directory
resumes from the checkpoint; a finished run is only re-evaluated.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from benchmarks.checkpoint import ema_weights, load_checkpoint
from benchmarks.data import get_info, load_split
from benchmarks.data.base import DatasetInfo
from benchmarks.data.registry import split_record
from benchmarks.data.splits import check_same_split
from benchmarks.errors import BenchError, CheckpointError, ConfigError
from benchmarks.evaluate import evaluate
from benchmarks.methods import build_method, get_spec, method_config
from benchmarks.profiles import EvalConfig, Profile
from benchmarks.train import Trainer
from benchmarks.versions import LEGACY, code_versions, identity_sections

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
    # k-fold cross-validation by group (knee: by volume): fold ``fold`` of ``num_folds`` is the
    # test set (benchmarks/data/splits.py); None = the dataset's own split
    fold: int | None = None
    num_folds: int | None = None

    @property
    def fold_keys(self) -> dict[str, int]:
        """The fold keys ``load_split`` / ``split_record`` take ({} without folds)."""
        if self.fold is None:
            return {}
        return {"fold": self.fold, "num_folds": self.num_folds}


def job_dict(spec: JobSpec) -> dict[str, Any]:
    """``spec`` as its config's "job" section; the fold keys only when folds are used, so the
    job identities (and config hashes) of the default split are those from before folds."""
    out = asdict(spec)
    if spec.fold is None:
        del out["fold"], out["num_folds"]
    return out


@dataclass
class Progress:
    """Callbacks a front end may pass (the CLI draws Rich bars); all optional."""

    on_step: Callable[[int, int, dict], None] | None = None  # (step, total, loss terms)
    on_eval: Callable[[int, int], None] | None = None  # (done, total) cases
    # (step, metrics): loss terms, lr, grad norm, images/s, curve points (benchmarks.train_curves)
    on_metrics: Callable[[int, dict[str, float]], None] | None = None


@dataclass(frozen=True)
class ResolvedJob:
    """A job's resolved configuration: ``configs`` is what is logged as params and stored in
    checkpoints (plain values only); ``info`` and ``method_config`` are the typed objects it was
    resolved from, which build the method."""

    configs: dict[str, Any]
    info: DatasetInfo
    method_config: Any


def method_config_for(
    name: str,
    mcfg: Any,
    *,
    image_size: tuple[int, ...] | None = None,
    train_steps: int | None = None,
) -> Any:
    """``mcfg`` with the fields method ``name`` declares it takes from the job
    (``MethodInfo.from_job``, ``MethodSpec.from_job`` for a method added by ``register``) set
    from the sources given; a source not given leaves its field."""
    given = {"image_size": image_size, "train_steps": train_steps}
    values = {
        field: tuple(given[source]) if source == "image_size" else given[source]
        for field, source in get_spec(name).from_job
        if given[source] is not None
    }
    return replace(mcfg, **values) if values else mcfg


def resolve_job(spec: JobSpec, profile: Profile) -> ResolvedJob:
    """The full resolved configuration of a job and the objects that build its method."""
    info = get_info(spec.dataset, path=spec.data_path)
    ds = profile.dataset(spec.dataset)
    overrides = profile.method_overrides(spec.method, info.spatial_dims)
    mcfg = method_config_for(
        spec.method,
        method_config(spec.method, overrides, info),
        image_size=tuple(ds.size),
        train_steps=profile.train_config(spec.method, dataset=spec.dataset).steps,
    )
    configs = {
        "job": job_dict(spec),
        # the dataset's train overrides are already resolved into "train" below
        "dataset": {"name": info.name, **{k: v for k, v in asdict(ds).items() if k != "train"}},
        "method": asdict(mcfg),
        "train": asdict(profile.train_config(spec.method, seed=spec.seed, dataset=spec.dataset)),
        "eval": asdict(profile.eval_config(spec.method)),
        "code": code_versions(spec.method),
    }
    return ResolvedJob(configs, info, mcfg)


def job_configs(spec: JobSpec, profile: Profile) -> dict[str, Any]:
    """The full resolved configuration of a job (logged as params, stored in checkpoints)."""
    return resolve_job(spec, profile).configs


def check_job(
    spec: JobSpec, profile: Profile, eval_overrides: dict[str, Any] | None = None
) -> tuple[dict[str, Any], Any, Any, EvalConfig]:
    """Resolve and check a job without touching any file: names, configs, and sampler settings
    against the method's schedule. Returns ``(configs, dataset info, method config, eval)``."""
    job = resolve_job(spec, profile)
    eval_cfg = profile.eval_config(spec.method, **(eval_overrides or {}))
    T = getattr(getattr(job.method_config, "schedule", None), "num_train_timesteps", None)
    source = f"profile {profile.name!r} eval settings (with --sampling-steps if given)"
    check_eval_config(spec.method, eval_cfg, T, source=source)
    return job.configs, job.info, job.method_config, eval_cfg


def train_identity(config: dict[str, Any]) -> dict[str, Any]:
    """What determines a job's weights, from its resolved config: the hashed part (the job hash
    of ``benchmarks.trained``) and what a run directory must match to be resumed."""
    job = {k: v for k, v in config["job"].items() if k not in ("device", "data_root")}
    return {
        "job": job,
        # sampling settings and hash-neutral new keys left out (benchmarks/versions.py)
        **identity_sections(config),
        # the code versions it was trained with (benchmarks/versions.py); none = before them
        "code": config.get("code", LEGACY),
    }


def check_resume(out_dir: Path, cfgs: dict[str, Any]) -> None:
    """Refuse a run directory that holds a model trained under another training identity.

    The weights in ``out_dir`` would otherwise be resumed (or, when finished, re-scored) and
    reported under the new settings. Only the evaluation config may differ (re-evaluated).
    """
    stored_path = out_dir / "config.json"
    if not stored_path.exists():
        if (out_dir / "checkpoint.pt").exists():
            raise ConfigError(
                f"{stored_path}: missing, so the checkpoint beside it cannot be matched to this "
                f"training config; use another --out"
            )
        return
    try:
        stored = train_identity(json.loads(stored_path.read_text()))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        raise ConfigError(
            f"{stored_path}: unreadable ({type(err).__name__}), so this run directory cannot be "
            f"matched to this training config; use another --out"
        ) from None
    wanted = train_identity(json.loads(json.dumps(cfgs, default=str)))
    if stored != wanted:
        keys = _differing_keys(stored, wanted)
        shown = ", ".join(keys[:8]) + (f" (+{len(keys) - 8} more)" if len(keys) > 8 else "")
        raise ConfigError(
            f"{stored_path}: this run directory was trained with another config (differs in "
            f"{shown}); use another --out, or the default run directory"
        )


def _differing_keys(a: Any, b: Any, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two nested dicts."""
    if isinstance(a, dict) and isinstance(b, dict):
        out: list[str] = []
        for k in sorted(set(a) | set(b), key=str):
            out += _differing_keys(a.get(k), b.get(k), f"{prefix}{k}.")
        return out
    return [] if a == b else [prefix.rstrip(".")]


def step_metrics(state: Any, step: int) -> dict[str, float]:
    """The metrics of step ``step`` from a ``benchmarks.train.TrainState``."""
    out = {f"train/{k}": float(v) for k, v in state.last_terms.items()}
    out.update({f"train/{k}": float(v) for k, v in getattr(state, "last_stats", {}).items()})
    if state.curve and state.curve[-1].get("step") == step:
        point = state.curve[-1]
        out.update({f"curve/test_{k}": float(v) for k, v in point.items() if k in ("dsc", "iou")})
    return out


def run_job(
    spec: JobSpec,
    profile: Profile,
    out_dir: Path,
    *,
    progress: Progress | None = None,
    eval_overrides: dict[str, Any] | None = None,
    stop_after: int | None = None,
) -> dict[str, Any]:
    """Train (or resume) and evaluate; returns the metrics dict also written to metrics.json.

    Everything that can be refused (names, data, sampler settings, a directory holding another
    training config) is checked before anything is written to ``out_dir``.
    """
    progress = progress or Progress()
    out_dir = Path(out_dir)
    cfgs, info, mcfg, eval_cfg = check_job(spec, profile, eval_overrides)
    check_resume(out_dir, cfgs)
    ds = profile.dataset(spec.dataset)
    train_cfg = profile.train_config(spec.method, seed=spec.seed, dataset=spec.dataset)
    train_ds, test_ds, split = _job_data(spec, ds)
    check_same_split(out_dir / "split.json", split)  # written below, beside config.json

    torch.manual_seed(spec.seed)  # initial weights
    method = build_method(spec.method, mcfg, info)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "config.json").write_text(json.dumps(cfgs, indent=2, default=str))
    (out_dir / "split.json").write_text(json.dumps(split, indent=2))
    trainer = Trainer(
        method,
        train_ds,
        train_cfg,
        device=spec.device,
        checkpoint=out_dir / "checkpoint.pt",
        meta=_checkpoint_meta(spec, cfgs, ds, info, eval_cfg),
    )
    _fit(trainer, test_ds, eval_cfg, spec.device, progress, stop_after)
    if not trainer.finished:
        return {"finished": False, "step": trainer.state.step}

    t0 = time.perf_counter()
    df, summary = _final_evaluation(trainer, test_ds, eval_cfg, spec.device, progress)
    eval_seconds = time.perf_counter() - t0
    df.to_csv(out_dir / "per_case.csv", index=False)
    samples = get_spec(spec.method).samples
    if trainer.state.curve:
        pd.DataFrame(trainer.state.curve).to_csv(out_dir / "curve.csv", index=False)
    metrics = {
        "method": spec.method,
        "dataset": spec.dataset,
        "profile": profile.name,
        "seed": spec.seed,
        **summary,
        "num_inference_steps": eval_cfg.num_inference_steps if samples else 0,
        "sampler": eval_cfg.sampler if samples else "none",
        "num_samples": eval_cfg.num_samples,
        "train_steps": train_cfg.steps,
        "train_seconds": trainer.state.elapsed_s,
        "eval_seconds": eval_seconds,
        "finished": True,
    }
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True))
    return metrics


def _job_data(spec: JobSpec, ds) -> tuple[Any, Any, dict[str, Any]]:
    """A job's train and test splits (the dataset settings ``ds`` of its profile) and the
    ``split.json`` record of which cases they hold."""
    kw = split_settings(spec, ds)
    train_ds = load_split(spec.dataset, "train", augment=True, augmentation=ds.augmentation, **kw)
    test_ds = load_split(spec.dataset, "test", augment=False, **kw)
    which = {k: v for k, v in kw.items() if k not in ("size", "image_resize", "intensity")}
    return train_ds, test_ds, split_record(spec.dataset, **which)


def split_settings(spec: JobSpec, ds) -> dict[str, Any]:
    """The ``load_split`` keywords of a job's train and test splits alike (``ds``: the
    profile's settings for the job's dataset): which cases, their size and preprocessing."""
    return dict(
        root=spec.data_root,
        size=tuple(ds.size),
        seed=spec.seed,
        path=spec.data_path,
        limit=ds.limit,
        val_fraction=ds.val_fraction,
        image_resize=ds.image_resize,
        intensity=ds.intensity,
        **spec.fold_keys,
    )


def _checkpoint_meta(spec: JobSpec, cfgs: dict[str, Any], ds, info, eval_cfg) -> dict[str, Any]:
    """What a checkpoint stores beside the weights: enough to rebuild the method and the run's
    own test split (``load_trained``, ``evaluate_checkpoint``)."""
    return {
        "method_name": spec.method,
        "method_config": cfgs["method"],
        "job_size": list(ds.size),
        # the test split is rebuilt from these (limit / val_fraction change which cases it holds)
        "dataset_config": cfgs["dataset"],
        "dataset_info": _info_dict(info),
        "job": cfgs["job"],
        "eval_config": asdict(eval_cfg),
    }


def _fit(trainer: Trainer, test_ds, eval_cfg: EvalConfig, device: str, progress, stop_after):
    """Train to the end (or ``stop_after`` steps), reporting steps and test-set curve points."""
    method, total = trainer.method, trainer.cfg.steps

    def curve_point() -> dict[str, float]:
        fast = replace(eval_cfg, hd95=False, native_resolution=False)
        _, summ = evaluate(method, test_ds, fast, device=device)
        return {"dsc": summ["dsc"], "iou": summ["iou"]}

    def on_step(step: int, terms: dict) -> None:
        if progress.on_step:
            progress.on_step(step, total, terms)
        if progress.on_metrics:
            progress.on_metrics(step, step_metrics(trainer.state, step))

    trainer.fit(on_step=on_step, evaluate_curve=curve_point, stop_after=stop_after)


def _final_evaluation(
    trainer: Trainer, test_ds, eval_cfg: EvalConfig, device: str, progress: Progress
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The trained model (EMA weights swapped in) on the test split: per-case table, summary."""
    done = [0]

    def on_batch(n: int) -> None:
        done[0] += n
        if progress.on_eval:
            progress.on_eval(done[0], len(test_ds))

    with trainer.swapped_ema():
        return evaluate(trainer.method, test_ds, eval_cfg, device=device, on_batch=on_batch)


def _info_dict(info) -> dict[str, Any]:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(info).items()}


MAX_SIDE = 4096  # the paper's largest inputs are 512 x 768 (2D) and 256 x 128 x 128 (3D)
MAX_VOXELS = 2**25


def check_eval_config(name: str, cfg: EvalConfig, T: int | None, *, source: str) -> None:
    """Sampler settings method ``name`` can run, checked before any sampling starts.

    K must lie in 1..T of the method's own noise schedule; ``source`` says where the settings
    came from (an option, a profile, a checkpoint) for the message.
    """
    from benchmarks.validate_args import SamplerName

    if cfg.batch_size < 1:
        raise ConfigError(f"{source}: eval batch_size {cfg.batch_size} must be >= 1")
    if not get_spec(name).samples:
        return  # K, N and the sampler mean nothing to a deterministic method
    K = cfg.num_inference_steps
    if isinstance(K, bool) or not isinstance(K, int) or K < 1 or (T is not None and K > T):
        raise ConfigError(
            f"{source}: num_inference_steps {K!r} is out of range; K must be 1..{T} "
            f"(the T of {name}'s noise schedule)"
        )
    if isinstance(cfg.num_samples, bool) or not isinstance(cfg.num_samples, int):
        raise ConfigError(f"{source}: num_samples {cfg.num_samples!r} is not an integer")
    if cfg.num_samples < 1:
        raise ConfigError(f"{source}: num_samples {cfg.num_samples} must be >= 1")
    valid = [s.value for s in SamplerName]
    if cfg.sampler not in valid:
        raise ConfigError(f"{source}: unknown sampler {cfg.sampler!r}; valid: {', '.join(valid)}")


def load_trained(checkpoint: Path | str, device: str = "cpu"):
    """Rebuild a trained method from its checkpoint (EMA weights applied when present).

    Returns ``(method, ckpt)``; the checkpoint's stored configs are the single source of truth.
    A checkpoint whose stored configs are inconsistent is refused with one line naming it.
    """
    from types import SimpleNamespace

    from benchmarks.configs import from_dict, without_moved_keys

    ckpt = load_checkpoint(checkpoint)
    try:
        name = ckpt["method_name"]
        spec = get_spec(name)
        # the dataset-derived fields method_config copied from dataset_info must still agree
        stored_info, stored_cfg = ckpt["dataset_info"], ckpt["method_config"]
        for key in ("spatial_dims", "in_channels", "num_classes"):
            if key in stored_cfg and stored_cfg[key] != stored_info.get(key):
                raise CheckpointError(
                    f"{checkpoint}: inconsistent stored config: dataset_info.{key} = "
                    f"{stored_info.get(key)!r} but method_config.{key} = {stored_cfg[key]!r}"
                )
        # keys that moved out of a method config since (MOVED_KEYS) never acted: dropped
        stored_cfg = without_moved_keys(spec.config_cls, stored_cfg)
        mcfg = from_dict(spec.config_cls, stored_cfg, where=name)
        info = SimpleNamespace(
            **{k: tuple(v) if isinstance(v, list) else v for k, v in ckpt["dataset_info"].items()}
        )
        method = spec.build(mcfg, info)
        method.load_state_dict(ckpt["model"])
        ema = ema_weights(ckpt)
        if ema is not None:
            method.ema_target().load_state_dict(ema)
    except CheckpointError:
        raise
    except BenchError as err:
        raise CheckpointError(f"{checkpoint}: stored config is not valid ({err})") from None
    except KeyError as err:
        raise CheckpointError(f"{checkpoint}: checkpoint has no {err} entry") from None
    # a crafted or damaged checkpoint can fail anywhere in building the model
    except (RuntimeError, ValueError, TypeError, AttributeError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(
            f"{checkpoint}: checkpoint does not match the model ({first})"
        ) from None
    job_size(ckpt, checkpoint, method)
    return method.to(device).eval(), ckpt


def job_size(ckpt: dict[str, Any], checkpoint: Path | str, method=None) -> tuple[int, ...] | None:
    """The image size the model was trained at (None in very old checkpoints), checked."""
    size = ckpt.get("job_size")
    if size is None:
        return None
    dims = ckpt["dataset_info"].get("spatial_dims")
    ok = (
        isinstance(size, list | tuple)
        and len(size) == dims
        and all(isinstance(s, int) and not isinstance(s, bool) and 1 <= s <= MAX_SIDE for s in size)
    )
    if not ok or math.prod(size) > MAX_VOXELS:
        raise CheckpointError(
            f"{checkpoint}: stored image size {size!r} is not valid ({dims} sides, each "
            f"1..{MAX_SIDE}, at most {MAX_VOXELS} pixels)"
        )
    check = getattr(method, "check_size", None)
    if check is not None:
        try:  # a zero-sized batch: only the shape is looked at
            check(torch.empty(0, 1, *size))
        except ValueError as err:
            raise CheckpointError(f"{checkpoint}: stored image size {size}: {err}") from None
    return tuple(size)


def eval_config_from(ckpt: dict[str, Any], **overrides: Any) -> EvalConfig:
    from benchmarks.configs import from_dict, merge

    base = ckpt.get("eval_config", {})
    return from_dict(EvalConfig, merge(base, {k: v for k, v in overrides.items() if v is not None}))


def checked_eval_config(
    method, ckpt: dict[str, Any], checkpoint: Path | str, **overrides: Any
) -> EvalConfig:
    """The checkpoint's evaluation config with the user's overrides, checked for this method."""
    try:
        cfg = eval_config_from(ckpt, **overrides)
    except BenchError as err:
        raise CheckpointError(f"{checkpoint}: stored eval config is not valid ({err})") from None
    given = [k for k, v in overrides.items() if v is not None]
    source = f"{checkpoint} (eval config{' with ' + ', '.join(given) if given else ''})"
    schedule = getattr(method, "schedule", None)  # every sampling method has its NoiseSchedule
    T = schedule.config.num_train_timesteps if schedule is not None else None
    check_eval_config(ckpt["method_name"], cfg, T, source=source)
    return cfg


def test_split_settings(ckpt: dict[str, Any], checkpoint: Path | str) -> dict[str, Any]:
    """Size, limit, val_fraction and preprocessing of the run's test split, as ``run_job``
    built it (runs from before the preprocessing keys: today's defaults, which they used).

    Checkpoints written before ``dataset_config`` was stored read the run directory's
    config.json; failing that, the whole test split at the stored size (the old behaviour).
    """
    stored = ckpt.get("dataset_config")
    if stored is None:
        try:
            stored = json.loads((Path(checkpoint).parent / "config.json").read_text())["dataset"]
        except (OSError, ValueError, KeyError, TypeError):
            log.warning(
                "%s: no stored test-split settings; scoring the whole test split", checkpoint
            )
            stored = {}
    size = job_size(ckpt, checkpoint) or stored.get("size")
    return {
        "size": tuple(size) if size else None,
        "limit": stored.get("limit"),
        "val_fraction": stored.get("val_fraction", 0.0),
        "image_resize": stored.get("image_resize", "area"),
        "intensity": stored.get("intensity", "auto"),
    }


def _fold_of(job: dict[str, Any]) -> dict[str, int]:
    """The fold keys of a stored job section ({} when it used the dataset's own split)."""
    if job.get("fold") is None:
        return {}
    return {"fold": job["fold"], "num_folds": job["num_folds"]}


def evaluate_checkpoint(
    checkpoint: Path | str,
    *,
    data_root: str | None = None,
    device: str = "cpu",
    on_batch: Callable[[int], None] | None = None,
    **eval_overrides: Any,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Score a trained checkpoint on its dataset's test split with any sampler settings
    (e.g. ``num_inference_steps=50, sampler="ddpm"``): the steps trade-off without retraining.
    The split is the run's own (same size, limit and val_fraction), so the default settings
    reproduce the run's metrics.json."""
    method, ckpt = load_trained(checkpoint, device=device)
    job = ckpt["job"]
    cfg = checked_eval_config(method, ckpt, checkpoint, **eval_overrides)
    test_ds = load_split(
        job["dataset"],
        "test",
        root=data_root or job.get("data_root"),
        seed=job["seed"],
        path=job.get("data_path"),
        **_fold_of(job),
        **test_split_settings(ckpt, checkpoint),
    )
    df, summary = evaluate(method, test_ds, cfg, device=device, on_batch=on_batch)
    summary = {
        **summary,
        "num_inference_steps": cfg.num_inference_steps,
        "sampler": cfg.sampler,
        "num_samples": cfg.num_samples,
    }
    return df, summary
