"""Experiment -> MLflow: one parent run per sweep, one nested child run per planned child.

* Cache: a child's ``config_hash`` (its spec + full resolved config + device) is a tag; a rerun
  skips every child that already has a FINISHED run with that hash in the experiment
  (``force=True`` redoes them). Trained models are shared through ``benchmarks.trained`` (a
  train job resumes from its checkpoint), so an interrupted sweep picks up where it stopped.
* Kinds: a child's config and work come from its experiment kind (``benchmarks.kinds``):
  ``kind.describe(child, ctx)`` / ``kind.run(child, ctx)``, with ``ctx.settings`` the kind's
  settings view; the sweep identity hashes the kind's declared settings.
* A failing child is marked FAILED (run status + ``error`` / ``error_type`` tags + an
  ``error.txt`` traceback artifact) and the sweep goes on; :class:`SweepResult` says what failed.
* The parent run is reused for the same sweep (experiment, profile, settings, seeds, methods,
  device) and holds ``sweep.json``: the run ids of its children (cached ones included) and the
  cells it skipped, which is what the reports read.

Fault safety:

* Concurrent sweeps on one store: each child runs under an inter-process lock keyed by
  experiment + config hash and re-checks the cache once it holds it, so a second identical
  sweep waits and then reuses the first one's FINISHED child instead of logging a duplicate;
  train jobs have their own lock (``benchmarks.trained``).
* SIGTERM / SIGINT during a sweep raise :class:`Interrupted`: the running child and the parent
  are ended as KILLED and the CLI exits 128 + signal (143 / 130).
* Runs left RUNNING by a dead process (``kill -9``, a crash) are closed as FAILED (tagged
  ``bench.closed``) when a sweep next touches the experiment.
* A full or read-only disk (:class:`~benchmarks.errors.StoreError`) stops the sweep: the child
  and the parent are marked FAILED (as far as the store still takes writes) and the error
  propagates (one line, exit 2).
"""

from __future__ import annotations

import contextlib
import json
import logging
import signal
import tempfile
import threading
import time
import traceback
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.configs import flatten
from benchmarks.errors import StoreError
from benchmarks.executors import ExecutorOptions
from benchmarks.experiments import Child, Plan, get_experiment, settings_for
from benchmarks.kinds import get_kind, plan, relevant_settings
from benchmarks.profiles import load_profile
from benchmarks.settings import out_root as resolve_out_root
from benchmarks.settings import require_writable, storage_error
from benchmarks.tracking import ROLE_TAG, Tracker
from benchmarks.train_curves import (
    StepLogger,
    link_train_run,
    system_metrics,
    with_step_logger,
)
from benchmarks.trained import Cache, ChildContext, Hooks, stable_hash

log = logging.getLogger(__name__)


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
    executor: ExecutorOptions = field(default_factory=ExecutorOptions)  # local | ray
    # assemble the sweep from children already in the store (computed elsewhere, e.g. on a
    # lent GPU with --device cuda); nothing is trained or scored, absent ones are MISSING
    cached_only: bool = False


@dataclass
class ChildResult:
    child: Child
    status: str  # FINISHED | FAILED | CACHED | MISSING (--cached-only: not in the store)
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
    disk: dict[str, float] = field(default_factory=dict)  # footprint (benchmarks.storage)

    @property
    def failed(self) -> list[ChildResult]:
        return [r for r in self.results if r.status == "FAILED"]

    @property
    def missing(self) -> list[ChildResult]:
        return [r for r in self.results if r.status == "MISSING"]

    @property
    def ok(self) -> bool:
        return not self.failed and not self.missing


class Interrupted(KeyboardInterrupt):
    """SIGTERM / SIGINT during a sweep (a KeyboardInterrupt, so Ctrl+C handling applies)."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.exit_code = 128 + signum  # the shell's convention: 143 for SIGTERM, 130 for SIGINT
        super().__init__(signal.Signals(signum).name)


class _Signals:
    """While a sweep runs: SIGTERM and SIGINT raise :class:`Interrupted` in the main thread;
    while runs are being closed (:meth:`deferred`) a signal is only remembered, so a second
    Ctrl+C cannot leave a run half-closed."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self) -> None:
        self.previous: dict[int, Any] = {}
        self.defer = False
        self.pending: int | None = None
        # the signal whose Interrupted was raised: native code (torch.save's writer, seen on a
        # SIGTERM mid-checkpoint) can turn it into another exception, which must still end the
        # sweep as interrupted (KILLED), not as a FAILED child
        self.raised: int | None = None

    def _handler(self, signum, frame) -> None:
        if self.defer:
            self.pending = signum
            return
        self.raised = signum
        raise Interrupted(signum)

    def __enter__(self) -> _Signals:
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                self.previous[sig] = signal.signal(sig, self._handler)
        return self

    def __exit__(self, *exc) -> bool:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
        if self.pending is not None and exc[0] is None:
            raise Interrupted(self.pending)
        return False

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        before, self.defer = self.defer, True
        try:
            yield
        finally:
            self.defer = before
            if not before and self.pending is not None:  # act on it now the write is done
                signum, self.pending = self.pending, None
                raise Interrupted(signum)


def prepare(name: str, options: RunOptions) -> tuple[Plan, Any]:
    """Validate the user's input (unknown experiment / profile / method -> ConfigError) and
    plan the sweep; nothing is written."""
    exp = get_experiment(name)
    profile = load_profile(options.profile)
    settings = settings_for(profile, **options.settings)
    sweep_plan = plan(exp, settings, options.methods, options.seeds)
    # e.g. runtime: image sizes a method cannot take become skipped cells
    sweep_plan = get_kind(exp.kind).check_plan(sweep_plan, profile)
    if not options.cached_only:  # nothing is trained or scored: no data read
        _check_data_root(sweep_plan, options.data_root)
    _check_store(options)
    return sweep_plan, profile


def _check_store(options: RunOptions) -> None:
    """A read-only or otherwise unusable output root / MLflow store fails up front
    (StoreError, exit 2) instead of after the first child, or in MLflow's retry loop."""
    from benchmarks.tracking import check_output_store

    check_output_store(options.tracking_uri, options.out_root)


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
    root = require_writable(resolve_out_root(options.out_root))
    tracker = Tracker(options.tracking_uri, root)
    exp_id = tracker.experiment_id(exp.name)
    methods = sorted({c.method for c in sweep_plan.children})
    seeds = sorted({c.seed for c in sweep_plan.children})
    sweep_identity = {
        "experiment": exp.name,
        "profile": profile.name,
        "device": options.device,
        "settings": relevant_settings(exp, settings),
        **({"cached_only": True} if options.cached_only else {}),
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
        **({"cached_only": "true"} if options.cached_only else {}),
    }
    parent_id: str | None = None
    results: list[ChildResult] = []
    disk: dict[str, float] = {}
    status, reason = "FINISHED", None
    with _Signals() as signals:
        try:
            tracker.close_stale(exp_id)  # runs a dead process left RUNNING (kill -9, crash)
            parent_id = _open_parent(
                tracker, exp_id, exp, profile, sweep_hash, sweep_identity, base_tags
            )
            cache = {} if options.force else tracker.finished_children(exp_id)
            work = SweepWork(
                profile,
                get_kind(exp.kind).view(settings),  # the settings the kind declares
                root,
                options.device,
                options.data_root,
                options.force,
                options.cached_only,
                tracker.uri,
                exp_id,
                parent_id,
                base_tags,
            )
            _run_children(
                sweep_plan, work, options.executor, tracker, cache, hooks, signals, results
            )
        except KeyboardInterrupt as err:
            status, reason = "KILLED", f"interrupted ({err})"
            raise
        except BaseException as err:
            status, reason = "FAILED", _one_line(err)
            raise
        finally:
            if parent_id is not None:
                with signals.deferred():
                    disk = _close_parent(tracker, parent_id, sweep_plan, results, status, reason)
    return SweepResult(exp.name, exp_id, parent_id, tracker.uri, sweep_plan, results, disk)


@dataclass(frozen=True)
class SweepWork:
    """What every child of a sweep shares; picklable (the Ray executor sends it to workers)."""

    profile: Any
    settings: Any  # the kind's SettingsView
    out_root: Path
    device: str
    data_root: str | None
    force: bool
    cached_only: bool
    tracking_uri: str
    exp_id: str
    parent_id: str
    base_tags: dict[str, Any]


def run_child(
    work: SweepWork,
    child: Child,
    i: int,
    total: int,
    *,
    tracker: Tracker | None = None,
    cache: dict | None = None,
    model_cache: Cache | None = None,
    hooks: Hooks | None = None,
    signals: _Signals | None = None,
) -> ChildResult:
    """One child in this process (the local executor, or a Ray worker: a fresh tracker on the
    sweep's tracking URI, no front-end hooks)."""
    tracker = tracker or Tracker(work.tracking_uri, work.out_root)
    hooks = hooks or Hooks()
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        ctx = ChildContext(
            work.profile,
            work.settings,
            work.out_root,
            Path(tmp),
            work.device,
            work.data_root,
            model_cache or Cache(),
            hooks,
        )
        job = (child, i, total, ctx, tracker, work.exp_id, work.parent_id, cache or {})
        return _run_child(*job, work.base_tags, hooks, signals, work.force, work.cached_only)


def _run_children(sweep_plan, work, executor, tracker, cache, hooks, signals, results) -> None:
    """Every child of the plan through the chosen executor (``benchmarks.executors``)."""
    import functools

    from benchmarks import executors

    if executor.name == "local":
        run_one = functools.partial(
            run_child,
            work,
            tracker=tracker,
            cache=cache,
            model_cache=Cache(),
            hooks=hooks,
            signals=signals,
        )
        executors.run_local(sweep_plan.children, run_one, results)
        return
    todo = []
    for child in sweep_plan.children:  # cached children are reported, not sent to the cluster
        done = _before_dispatch(work, child, cache)
        if done is None:
            todo.append(child)
        else:
            results.append(done)
            _report(hooks, done, len(results), len(sweep_plan.children))
    resources = executors.task_resources(work.device, sweep_plan.settings.torch_threads)
    executors.run_ray(
        todo,
        functools.partial(run_child, work),
        results,
        executor,
        resources,
        lost=functools.partial(_lost_child, tracker, work),
        on_done=lambda r, n, _: _report(hooks, r, n, len(sweep_plan.children)),
    )


def _report(hooks: Hooks, result: ChildResult, done: int, total: int) -> None:
    """Progress of a child that finished elsewhere (a Ray worker), as it finishes."""
    if hooks.on_child_start:
        hooks.on_child_start(result.child, done - 1, total, result.status == "CACHED")
    if hooks.on_child_end:
        hooks.on_child_end(result.child, result.status, result.seconds)


def _before_dispatch(work: SweepWork, child: Child, cache: dict) -> ChildResult | None:
    """Before a child is sent to the cluster: CACHED when its FINISHED run is in the store,
    MISSING (with its config hash, as the local path reports it) under ``--cached-only``,
    else None (send it)."""
    if not cache and not work.cached_only:
        return None
    ctx = ChildContext(
        work.profile, work.settings, work.out_root, work.out_root, work.device, work.data_root
    )
    try:
        h = child_hash(child, get_kind(child.kind).describe(child, ctx), work.device)
    except Exception:  # noqa: BLE001 - the worker records it as a FAILED run
        return _missing(child, "") if work.cached_only else None
    run = cache.get(h) if cache else None
    if run is not None:
        return ChildResult(child, "CACHED", run.info.run_id, h)
    return _missing(child, h) if work.cached_only else None


def _lost_child(tracker: Tracker, work: SweepWork, child: Child, error: str) -> ChildResult:
    """A child whose worker died past its retries: its RUNNING run (if it got that far) ends
    FAILED with the error; the sweep goes on."""
    from filelock import Timeout

    log.error("%s failed: %s", child.run_name, error)
    query = (
        f"attributes.status = 'RUNNING' and tags.`mlflow.parentRunId` = '{work.parent_id}' "
        f"and attributes.run_name = '{child.run_name}'"
    )
    runs = tracker.search(work.exp_id, query)
    closed = []
    for h in {r.data.tags.get("config_hash", "") for r in runs}:
        # the worker held the child's lock while it wrote the run: once we hold it, the
        # process is gone even if Ray reported its death before it was reaped
        try:
            with tracker.lock(work.exp_id, h).acquire(timeout=120):
                for run in tracker.search(work.exp_id, f"{query} and tags.config_hash = '{h}'"):
                    tags = {"error": error, "error_type": "WorkerDied"}
                    _mark(tracker, run.info.run_id, "FAILED", tags)
                    closed.append(run)
        except Timeout:
            log.warning("%s: its lock is still held; its RUNNING run is left", child.run_name)
    run_id = closed[0].info.run_id if closed else None
    h = closed[0].data.tags.get("config_hash", "") if closed else ""
    return ChildResult(child, "FAILED", run_id, h, error)


def _open_parent(tracker, exp_id, exp, profile, sweep_hash, sweep_identity, base_tags) -> str:
    """Reuse the sweep's parent run (reopened) or start it; one parent per sweep hash even
    when two identical sweeps start together."""
    with tracker.lock(exp_id, "sweep", sweep_hash):
        parent = tracker.find_parent(exp_id, sweep_hash)
        if parent is not None:
            parent_id = parent.info.run_id
            tracker.reopen(parent_id)
            for stale in ("error", "bench.closed"):  # why an earlier run of it ended
                if stale in parent.data.tags:
                    tracker.client.delete_tag(parent_id, stale)
            # the sweep now holds this run's children: its environment tags (git sha, versions,
            # device) describe the latest run, not the one that first created the parent
            tracker.log(parent_id, tags=base_tags)
            return parent_id
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
            "methods": sweep_identity["methods"],
            "seeds": sweep_identity["seeds"],
        },
    )
    return parent_id


def _one_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0]


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
    signals: _Signals | None = None,
    force: bool = False,
    cached_only: bool = False,
) -> ChildResult:
    kind = get_kind(child.kind)
    t0 = time.perf_counter()
    try:
        config = kind.describe(child, ctx)
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
        return _cached(child, h, cached, hooks)
    if cached_only:
        if hooks.on_child_end:
            hooks.on_child_end(child, "MISSING", 0.0)
        return _missing(child, h)

    # one process at a time per child of this store; a second one waits, then finds it done
    lock = tracker.lock(exp_id, h)
    with _acquire(lock, child.run_name):
        if describe_error is None and not force:
            cached = tracker.finished_child(exp_id, h)
            if cached is not None:
                return _cached(child, h, cached, hooks)
        # a dead process's RUNNING child of this hash is closed before we start ours (any
        # host's: we hold the child's lock, so no live process is writing one)
        tracker.close_stale(exp_id, f"tags.config_hash = '{h}'", lock_held=True)
        return _execute(
            child,
            h,
            config,
            describe_error,
            kind.run,
            ctx,
            tracker,
            exp_id,
            parent_id,
            base_tags,
            hooks,
            signals,
            t0,
        )


@contextlib.contextmanager
def _acquire(lock, what: str) -> Iterator[None]:
    from filelock import Timeout

    try:
        lock.acquire(timeout=0)
    except Timeout:
        log.warning("%s is running in another process: waiting for it", what)
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


def _missing(child: Child, h: str) -> ChildResult:
    log.warning("missing: %s is not in the store (--cached-only)", child.run_name)
    return ChildResult(child, "MISSING", None, h, "not in the store (--cached-only: not run)")


def _cached(child: Child, h: str, run, hooks: Hooks) -> ChildResult:
    log.info("cached: %s (%s)", child.run_name, run.info.run_id)
    if hooks.on_child_end:
        hooks.on_child_end(child, "CACHED", 0.0)
    return ChildResult(child, "CACHED", run.info.run_id, h)


def _execute(
    child: Child,
    h: str,
    config: dict,
    describe_error: Exception | None,
    run_fn,
    ctx: ChildContext,
    tracker: Tracker,
    exp_id: str,
    parent_id: str,
    base_tags: dict,
    hooks: Hooks,
    signals: _Signals | None,
    t0: float,
) -> ChildResult:
    """Start the child's run, do its work, end it FINISHED / FAILED / KILLED."""
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
    deferred = signals.deferred if signals is not None else contextlib.nullcontext
    steps = StepLogger(tracker.client, run_id)  # the train job's per-step curves, batched
    ctx = with_step_logger(ctx, steps)
    ended = False  # a signal deferred while ending the run must not turn FINISHED into KILLED
    try:
        if describe_error is not None:
            raise describe_error
        tracker.log(
            run_id, params={**flatten(config), **{f"setting.{k}": v for k, v in child.setting}}
        )
        with system_metrics(tracker.uri, run_id):  # only with --system-metrics
            out = run_fn(child, ctx)
        steps.flush()
        tracker.log(run_id, metrics=out.metrics, tags=out.tags, params=out.params)
        link_train_run(tracker, run_id, exp_id, ctx.out_root, out.tags.get("train_hash"), steps)
        for path, folder in out.artifacts:
            tracker.log_artifact(run_id, path, folder)
        seconds = time.perf_counter() - t0
        tracker.log(run_id, metrics={"child_seconds": seconds})
        with deferred():
            tracker.end(run_id, "FINISHED")
            ended = True
    except KeyboardInterrupt as err:
        if not ended:
            steps.flush_quietly()
            with deferred():
                _mark(tracker, run_id, "KILLED", {"error": f"interrupted ({err})"})
        raise
    except Exception as err:
        return _failed(err, child, h, run_id, tracker, steps, deferred, signals, hooks, t0)
    if hooks.on_child_end:
        hooks.on_child_end(child, "FINISHED", seconds)
    return ChildResult(child, "FINISHED", run_id, h, None, seconds)


def _failed(err, child, h, run_id, tracker, steps, deferred, signals, hooks, t0) -> ChildResult:
    """End a child whose work raised ``err``: FAILED with the error (a full or read-only store
    is raised on, failing the sweep); KILLED, and the sweep interrupted, when ``err`` is a
    signal's interrupt that native code re-dressed."""
    if signals is not None and signals.raised is not None:  # an interrupt, re-dressed
        steps.flush_quietly()
        with deferred():
            _mark(tracker, run_id, "KILLED", {"error": f"interrupted ({err})"})
        raise Interrupted(signals.raised) from err
    seconds = time.perf_counter() - t0
    fault = err if isinstance(err, StoreError) else storage_error(err)
    message = _one_line(fault or err)
    log.error("%s failed: %s: %s", child.run_name, type(err).__name__, message)
    if fault is None:  # a full / read-only store takes no more writes
        steps.flush_quietly()
    with deferred():
        _mark(
            tracker,
            run_id,
            "FAILED",
            {"error": message[:5000], "error_type": type(fault or err).__name__},
            traceback.format_exc(),
        )
    if fault is not None:  # a full / read-only disk fails every later child as well
        raise fault from err
    if hooks.on_child_end:
        hooks.on_child_end(child, "FAILED", seconds)
    return ChildResult(child, "FAILED", run_id, h, f"{type(err).__name__}: {message}", seconds)


def _mark(tracker: Tracker, run_id: str, status: str, tags: dict, trace: str | None = None) -> None:
    """End a run as FAILED / KILLED as far as the store still takes writes (on a full disk the
    tags or the traceback may not fit; the status matters most and goes first). A run that
    cannot be ended at all is closed as stale by the next sweep."""
    for step in (
        lambda: tracker.end(run_id, status),
        lambda: tracker.log(run_id, tags=tags),
        lambda: trace and tracker.client.log_text(run_id, trace, "error.txt"),
    ):
        try:
            step()
        except Exception as err:  # noqa: BLE001 - best effort while failing already
            log.warning("could not record the end of run %s: %s", run_id, _one_line(err))


def _close_parent(
    tracker: Tracker,
    parent_id: str,
    sweep_plan: Plan,
    results: list[ChildResult],
    status: str,
    reason: str | None = None,
) -> dict[str, float]:
    """Write sweep.json and end the parent; returns the sweep's disk footprint. When the sweep
    is already failing (status other than FINISHED) this is best effort: the original error is
    what the user must see."""
    failed = [r for r in results if r.status == "FAILED"]
    if status == "FINISHED" and failed:
        status = "FAILED"
    disk: dict[str, float] = {}
    try:
        disk = _write_sweep(tracker, parent_id, sweep_plan, results, failed, reason)
    except Exception as err:
        if status == "FINISHED":
            _mark(tracker, parent_id, "FAILED", {"error": _one_line(err)})
            raise
        log.warning("could not write sweep.json of run %s: %s", parent_id, _one_line(err))
    if status == "FINISHED":
        tracker.end(parent_id, status)
    else:
        _mark(tracker, parent_id, status, {"error": reason[:5000]} if reason else {})
    return disk


def _footprint(tracker: Tracker, results: list[ChildResult]) -> dict[str, float]:
    """The sweep's disk footprint (``benchmarks.storage``); best effort, {} when unknown."""
    from benchmarks.storage import sweep_footprint

    ids = [r.run_id for r in results if r.run_id and r.status != "FAILED"]
    try:
        return sweep_footprint(tracker, resolve_out_root(tracker.out_root), ids)
    except Exception as err:  # noqa: BLE001 - a number for the report, never a failed sweep
        log.warning("disk footprint not measured: %s", _one_line(err))
        return {}


def _write_sweep(tracker, parent_id, sweep_plan, results, failed, reason) -> dict[str, float]:
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
        "disk": _footprint(tracker, results),
    }
    tracker.log_json(parent_id, sweep, "sweep.json")
    tracker.log(parent_id, metrics=sweep["disk"])
    tracker.log(
        parent_id,
        tags={
            "n_children": len(results),
            "n_failed": len(failed),
            "n_cached": sum(r.status == "CACHED" for r in results),
            "skipped": json.dumps([asdict(s) for s in sweep_plan.skipped]),
        },
    )
    return sweep["disk"]
