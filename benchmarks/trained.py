"""Shared trained models: a train job is identified by the hash of its resolved config and lives
in ``<out_root>/jobs/<hash>/``; :func:`ensure_trained` resumes or finishes it, so every
experiment that needs the same model (tables, steps, robustness, uncertainty) reuses it.

The hash covers what determines the weights: the job (method, dataset, profile, seed, folder
path), the dataset settings, the method config and the training config. It leaves out where the
data root is and which device trains (a model trained on CUDA is reused on CPU). The evaluation
config is not part of it: a finished job whose stored evaluation config differs is only
re-evaluated (``run_job`` on a finished checkpoint does exactly that).

Several processes may need the same job at once (two sweeps on one output root): a
``filelock.FileLock`` on ``jobs/<hash>.lock`` lets one train it while the others wait, then
read back the finished job instead of writing the same directory.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from benchmarks.pipeline import (  # noqa: F401 - train_identity: re-exported
    JobSpec,
    Progress,
    job_configs,
    load_trained,
    run_job,
    split_settings,
    train_identity,
)
from benchmarks.profiles import Profile

log = logging.getLogger(__name__)


def stable_hash(obj: Any, n: int = 16) -> str:
    blob = json.dumps(obj, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:n]


def resolved_config(spec: JobSpec, profile: Profile) -> dict[str, Any]:
    """``job_configs`` as JSON values (what is logged as params)."""
    return json.loads(json.dumps(job_configs(spec, profile), default=str))


def train_hash(spec: JobSpec, profile: Profile) -> str:
    return stable_hash(train_identity(resolved_config(spec, profile)))


@dataclass(frozen=True)
class TrainedJob:
    spec: JobSpec
    hash: str
    dir: Path
    metrics: dict[str, Any]

    @property
    def checkpoint(self) -> Path:
        return self.dir / "checkpoint.pt"


def ensure_trained(
    spec: JobSpec, profile: Profile, out_root: Path, *, progress: Progress | None = None
) -> TrainedJob:
    """Train (or resume, or just read back) the job ``spec`` under ``profile``."""
    config = resolved_config(spec, profile)
    h = stable_hash(train_identity(config))
    out = Path(out_root) / "jobs" / h
    done = _read_done(out, config)
    if done is None:
        with job_lock(out):
            done = _read_done(out, config)  # another process may have finished it meanwhile
            if done is None:
                out.mkdir(parents=True, exist_ok=True)
                (out / "identity.json").write_text(json.dumps(train_identity(config), indent=2))
                metrics = run_job(spec, profile, out, progress=progress)
                if not metrics.get("finished"):
                    raise RuntimeError(f"train job {h} stopped at step {metrics.get('step')}")
                return TrainedJob(spec, h, out, metrics)
    log.info("reusing trained job %s (%s on %s, seed %d)", h, spec.method, spec.dataset, spec.seed)
    return TrainedJob(spec, h, out, done)


@contextmanager
def job_lock(job_dir: Path) -> Iterator[None]:
    """Hold ``<job_dir>.lock`` (inter-process); says so when another process holds it."""
    from filelock import FileLock, Timeout

    job_dir.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(job_dir.with_name(job_dir.name + ".lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        log.warning("train job %s is busy in another process: waiting for it", job_dir.name)
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


def _read_done(out: Path, config: dict[str, Any]) -> dict[str, Any] | None:
    try:
        metrics = json.loads((out / "metrics.json").read_text())
        stored = json.loads((out / "config.json").read_text())
    except (OSError, ValueError):
        return None
    if not metrics.get("finished") or not (out / "checkpoint.pt").is_file():
        return None
    if stored.get("eval") != config["eval"]:
        return None  # same weights, other evaluation settings: re-evaluate
    return metrics


class Cache:
    """Loaded models and test splits, kept for the length of a sweep (small LRU for models)."""

    def __init__(self, max_models: int = 3) -> None:
        self.models: OrderedDict[tuple, Any] = OrderedDict()
        self.splits: dict[tuple, Any] = {}
        self.max_models = max_models

    def model(self, checkpoint: Path, device: str):
        key = (str(checkpoint), device)
        if key in self.models:
            self.models.move_to_end(key)
            return self.models[key]
        value = load_trained(checkpoint, device=device)
        self.models[key] = value
        while len(self.models) > self.max_models:
            self.models.popitem(last=False)
        return value

    def test_split(self, spec: JobSpec, profile: Profile):
        """The test split exactly as ``run_job`` builds it."""
        from benchmarks.data import load_split

        ds = profile.dataset(spec.dataset)
        key = (
            spec.dataset,
            spec.seed,
            spec.data_root,
            spec.data_path,
            json.dumps(asdict(ds)),
            json.dumps(spec.fold_keys),
        )
        if key not in self.splits:
            self.splits[key] = load_split(
                spec.dataset, "test", augment=False, **split_settings(spec, ds)
            )
        return self.splits[key]


# -- what every child job gets and returns -----------------------------------------------------
@dataclass
class Hooks:
    """Callbacks a front end may pass (the CLI draws Rich bars); all optional."""

    train: Progress | None = None  # training steps / test-set evaluation of a train job
    on_work: Any = None  # (description, done, total): sampling loops, timing repeats
    on_child_start: Any = None  # (child, index, total, cached)
    on_child_end: Any = None  # (child, status, seconds)

    def work(self, description: str, done: int, total: int) -> None:
        if self.on_work is not None:
            self.on_work(description, done, total)


@dataclass
class ChildContext:
    profile: Profile
    settings: Any  # experiments.ExperimentSettings
    out_root: Path
    workdir: Path  # scratch folder for this child's artifact files
    device: str = "cpu"
    data_root: str | None = None
    cache: Cache | None = None
    hooks: Hooks | None = None

    def job_spec(
        self, method: str, dataset: str, seed: int, fold: int | None = None, num_folds=None
    ) -> JobSpec:
        return JobSpec(
            method=method,
            dataset=dataset,
            profile=self.profile.name,
            seed=seed,
            device=self.device,
            data_root=self.data_root,
            fold=fold,
            num_folds=num_folds,
        )

    def with_train_metrics(self, on_metrics) -> ChildContext:
        """This context, its train jobs also reporting per-step metrics to ``on_metrics``."""
        hooks = self.hooks or Hooks()
        train = hooks.train or Progress()
        return replace(self, hooks=replace(hooks, train=replace(train, on_metrics=on_metrics)))


@dataclass
class ChildOutput:
    metrics: dict[str, float]
    artifacts: list[tuple[Path, str | None]]  # (local file, artifact folder)
    tags: dict[str, str]
    params: dict[str, Any] | None = None  # extra params beyond the described config


def numeric(d: dict[str, Any]) -> dict[str, float]:
    return {
        k: float(v) for k, v in d.items() if isinstance(v, int | float) and not isinstance(v, bool)
    }
