"""Experiment -> MLflow: one parent run per sweep, one nested child run per planned child.

* Cache: a child's ``config_hash`` (its spec + full resolved config + device) is a tag; a rerun
  skips every child that already has a FINISHED run with that hash in the experiment
  (``force=True`` redoes them). Trained models are shared through ``benchmarks.trained`` (a
  train job resumes from its checkpoint), so an interrupted sweep picks up where it stopped.
* A failing child is marked FAILED (run status + ``error`` / ``error_type`` tags + an
  ``error.txt`` traceback artifact) and the sweep goes on; :class:`SweepResult` says what failed.
* The parent run is reused for the same sweep (experiment, profile, settings, seeds, methods,
  device) and holds ``sweep.json``: the run ids of its children (cached ones included) and the
  cells it skipped, which is what the reports read.
"""

from __future__ import annotations

import importlib
import json
import logging
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.configs import flatten
from benchmarks.experiments import (
    Child,
    Plan,
    get_experiment,
    plan,
    relevant_settings,
    settings_for,
)
from benchmarks.profiles import load_profile
from benchmarks.settings import out_root as resolve_out_root
from benchmarks.tracking import ROLE_TAG, Tracker
from benchmarks.trained import Cache, ChildContext, Hooks, stable_hash

log = logging.getLogger(__name__)

# kind -> (module, describe function, run function): one file per kind of child job
KINDS: dict[str, tuple[str, str, str]] = {
    "accuracy": ("benchmarks.accuracy", "describe", "run_accuracy"),
    "steps": ("benchmarks.accuracy", "describe", "run_steps"),
    "table4": ("benchmarks.runtime", "describe", "run_timing"),
    "runtime": ("benchmarks.runtime", "describe", "run_timing"),
    "robustness": ("benchmarks.robustness", "describe", "run_robustness"),
    "uncertainty": ("benchmarks.uncertainty", "describe", "run_uncertainty"),
}


@dataclass(frozen=True)
class RunOptions:
    profile: str = "smoke"
    seeds: tuple[int, ...] | None = None
    methods: tuple[str, ...] | None = None
    device: str = "cpu"
    force: bool = False
    tracking_uri: str | None = None
    data_root: str | None = None
    out_root: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)  # ExperimentSettings overrides


@dataclass
class ChildResult:
    child: Child
    status: str  # FINISHED | FAILED | CACHED
    run_id: str | None
    config_hash: str
    error: str | None = None
    seconds: float = 0.0


@dataclass
class SweepResult:
    experiment: str
    experiment_id: str
    parent_run_id: str
    tracking_uri: str
    plan: Plan
    results: list[ChildResult]

    @property
    def failed(self) -> list[ChildResult]:
        return [r for r in self.results if r.status == "FAILED"]

    @property
    def ok(self) -> bool:
        return not self.failed


def prepare(name: str, options: RunOptions) -> tuple[Plan, Any]:
    """Validate the user's input (unknown experiment / profile / method -> ConfigError) and
    plan the sweep; nothing is written."""
    exp = get_experiment(name)
    profile = load_profile(options.profile)
    settings = settings_for(profile, **options.settings)
    sweep_plan = plan(exp, settings, options.methods, options.seeds)
    _check_data_root(sweep_plan, options.data_root)
    return sweep_plan, profile


def _check_data_root(sweep_plan: Plan, root: str | None) -> None:
    """A sweep that needs real data fails up front (DataError, exit 2) when the root is missing,
    instead of failing every child."""
    from benchmarks.data import get_info
    from benchmarks.settings import data_root

    needs = {c.dataset for c in sweep_plan.children if c.trained}
    if any(get_info(d).needs_root for d in needs):
        data_root(root)


def child_hash(child: Child, config: dict[str, Any], device: str) -> str:
    cfg = json.loads(json.dumps(config, default=str))
    if isinstance(cfg.get("job"), dict):
        cfg["job"].pop("data_root", None)
        cfg["job"].pop("device", None)
    return stable_hash({"child": asdict(child), "config": cfg, "device": device})


def run_experiment(name: str, options: RunOptions, hooks: Hooks | None = None) -> SweepResult:
    sweep_plan, profile = prepare(name, options)
    hooks = hooks or Hooks()
    import torch

    from benchmarks.timing import environment

    threads = torch.get_num_threads()
    if sweep_plan.settings.torch_threads:
        torch.set_num_threads(sweep_plan.settings.torch_threads)
    try:
        return _sweep(sweep_plan, profile, options, hooks, environment())
    finally:
        torch.set_num_threads(threads)


def _sweep(sweep_plan: Plan, profile, options: RunOptions, hooks: Hooks, env: dict) -> SweepResult:
    exp, settings = sweep_plan.experiment, sweep_plan.settings
    root = resolve_out_root(options.out_root)
    tracker = Tracker(options.tracking_uri, root)
    exp_id = tracker.experiment_id(exp.name)
    methods = sorted({c.method for c in sweep_plan.children})
    seeds = sorted({c.seed for c in sweep_plan.children})
    sweep_identity = {
        "experiment": exp.name,
        "profile": profile.name,
        "device": options.device,
        "settings": relevant_settings(exp, settings),
        "methods": methods,
        "seeds": seeds,
    }
    sweep_hash = stable_hash(sweep_identity)
    base_tags = {
        "profile": profile.name,
        "device": options.device,
        "git_sha": env["git_sha"],
        "mlflow.source.git.commit": env["git_sha"],
        **{f"env.{k}": v for k, v in env.items()},
    }
    parent = tracker.find_parent(exp_id, sweep_hash)
    if parent is not None:
        parent_id = parent.info.run_id
        tracker.reopen(parent_id)
        # the sweep now holds this run's children: its environment tags (git sha, versions,
        # device) describe the latest run, not the one that first created the parent
        tracker.log(parent_id, tags=base_tags)
    else:
        parent_id = tracker.start_run(
            exp_id,
            f"{exp.name}-{profile.name}",
            {
                ROLE_TAG: "sweep",
                "sweep_hash": sweep_hash,
                "experiment": exp.name,
                "paper": exp.paper,
                **base_tags,
            },
        )
        tracker.log(
            parent_id,
            params={
                **{f"setting.{k}": v for k, v in sweep_identity["settings"].items()},
                "methods": methods,
                "seeds": seeds,
            },
        )
    cache = {} if options.force else tracker.finished_children(exp_id)
    model_cache = Cache()
    results: list[ChildResult] = []
    total = len(sweep_plan.children)
    status = "FINISHED"
    try:
        for i, child in enumerate(sweep_plan.children):
            with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
                ctx = ChildContext(
                    profile,
                    settings,
                    root,
                    Path(tmp),
                    options.device,
                    options.data_root,
                    model_cache,
                    hooks,
                )
                results.append(
                    _run_child(
                        child, i, total, ctx, tracker, exp_id, parent_id, cache, base_tags, hooks
                    )
                )
    except BaseException:
        status = "KILLED"
        raise
    finally:
        _close_parent(tracker, parent_id, sweep_plan, results, status)
    return SweepResult(exp.name, exp_id, parent_id, tracker.uri, sweep_plan, results)


def _run_child(
    child: Child,
    i: int,
    total: int,
    ctx: ChildContext,
    tracker: Tracker,
    exp_id: str,
    parent_id: str,
    cache: dict,
    base_tags: dict,
    hooks: Hooks,
) -> ChildResult:
    module_name, describe_name, run_name = KINDS[child.kind]
    module = importlib.import_module(module_name)
    t0 = time.perf_counter()
    try:
        config = getattr(module, describe_name)(child, ctx)
        h = child_hash(child, config, ctx.device)
    except Exception as err:  # cannot even resolve its config: still a FAILED run
        config, h = {}, stable_hash({"child": asdict(child), "error": str(err)})
        describe_error: Exception | None = err
    else:
        describe_error = None
    cached = cache.get(h) if describe_error is None else None
    if hooks.on_child_start:
        hooks.on_child_start(child, i, total, cached is not None)
    if cached is not None:
        log.info("cached: %s (%s)", child.run_name, cached.info.run_id)
        if hooks.on_child_end:
            hooks.on_child_end(child, "CACHED", 0.0)
        return ChildResult(child, "CACHED", cached.info.run_id, h)

    tags = {
        ROLE_TAG: "child",
        "config_hash": h,
        "experiment": child.experiment,
        "kind": child.kind,
        "method": child.method,
        "dataset": child.dataset,
        "seed": child.seed,
        **base_tags,
        **{f"setting.{k}": v for k, v in child.setting},
    }
    run_id = tracker.start_run(exp_id, child.run_name, tags, parent_id=parent_id)
    try:
        if describe_error is not None:
            raise describe_error
        tracker.log(
            run_id, params={**flatten(config), **{f"setting.{k}": v for k, v in child.setting}}
        )
        out = getattr(module, run_name)(child, ctx)
        tracker.log(run_id, metrics=out.metrics, tags=out.tags, params=out.params)
        for path, folder in out.artifacts:
            tracker.log_artifact(run_id, path, folder)
    except KeyboardInterrupt:
        tracker.log(run_id, tags={"error": "interrupted"})
        tracker.end(run_id, "KILLED")
        raise
    except Exception as err:
        seconds = time.perf_counter() - t0
        message = (str(err).strip().splitlines() or [type(err).__name__])[0]
        log.error("%s failed: %s: %s", child.run_name, type(err).__name__, message)
        tracker.log(run_id, tags={"error": message[:5000], "error_type": type(err).__name__})
        tracker.client.log_text(run_id, traceback.format_exc(), "error.txt")
        tracker.end(run_id, "FAILED")
        if hooks.on_child_end:
            hooks.on_child_end(child, "FAILED", seconds)
        return ChildResult(child, "FAILED", run_id, h, f"{type(err).__name__}: {message}", seconds)
    seconds = time.perf_counter() - t0
    tracker.log(run_id, metrics={"child_seconds": seconds})
    tracker.end(run_id, "FINISHED")
    if hooks.on_child_end:
        hooks.on_child_end(child, "FINISHED", seconds)
    return ChildResult(child, "FINISHED", run_id, h, None, seconds)


def _close_parent(
    tracker: Tracker, parent_id: str, sweep_plan: Plan, results: list[ChildResult], status: str
) -> None:
    failed = [r for r in results if r.status == "FAILED"]
    sweep = {
        "experiment": sweep_plan.experiment.name,
        "children": [
            {
                "run_id": r.run_id,
                "status": r.status,
                "config_hash": r.config_hash,
                "error": r.error,
                **asdict(r.child),
            }
            for r in results
        ],
        "skipped": [asdict(s) for s in sweep_plan.skipped],
        "planned": len(sweep_plan.children),
    }
    tracker.log_json(parent_id, sweep, "sweep.json")
    tracker.log(
        parent_id,
        tags={
            "n_children": len(results),
            "n_failed": len(failed),
            "n_cached": sum(r.status == "CACHED" for r in results),
            "skipped": json.dumps([asdict(s) for s in sweep_plan.skipped]),
        },
    )
    if status == "FINISHED" and failed:
        status = "FAILED"
    tracker.end(parent_id, status)
