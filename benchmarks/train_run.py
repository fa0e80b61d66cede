"""The MLflow run of a ``bench train`` run directory: one run per directory in the experiment
``train`` (MLflow's model-training view), the resolved config as params, every training step
through :class:`benchmarks.train_curves.StepLogger`, the test metrics and the directory's small
files at the end; ended FINISHED, FAILED or KILLED as the sweep runner ends its children.

The run id is kept in the directory (``mlflow_run.json``, as train jobs keep theirs): rerunning
``bench train`` on the directory (a resume after a kill, or a re-score) continues that run while
it exists in the same store under the same params; otherwise a new run is started and linked to
the old one (``bench.train_run``, a note in its description)."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from benchmarks.train_curves import (
    LINK_FILE,
    NOTE_TAG,
    TRAIN_RUN_TAG,
    StepLogger,
    system_metrics,
)

log = logging.getLogger(__name__)

TRAIN_EXPERIMENT = "train"  # the experiment every `bench train` run goes to
ARTIFACTS = ("config.json", "split.json", "metrics.json", "per_case.csv", "curve.csv")


class TrainRun:
    """The MLflow run of one ``bench train`` run directory: its id, the step logger feeding it
    and :meth:`log_result` for the final metrics and the small files of the run directory."""

    def __init__(self, tracker: Any, run_id: str, experiment_id: str, resumed: bool) -> None:
        self.tracker = tracker
        self.run_id = run_id
        self.experiment_id = experiment_id
        self.resumed = resumed
        self.logger = StepLogger(tracker.client, run_id)
        self.out_dir: Path | None = None

    def on_metrics(self, step: int, metrics: dict[str, float]) -> None:
        """The trainer's per-step hook: the run directory exists now; record the run in it
        (a rerun after a kill continues this run), then log the step."""
        if not self.logger.logged:
            self.record()
        self.logger(step, metrics)

    def record(self) -> None:
        """``out_dir/mlflow_run.json``: which run holds this run directory's curves."""
        if self.out_dir is None or not self.out_dir.is_dir():
            return
        record = {
            "run_id": self.run_id,
            "experiment_id": self.experiment_id,
            "tracking_uri": self.tracker.uri,
        }
        (self.out_dir / LINK_FILE).write_text(json.dumps(record, indent=2))

    def log_result(self, metrics: dict[str, Any], out_dir: Path) -> None:
        self.logger.flush()
        self.record()
        self.tracker.log(self.run_id, metrics=metrics)
        for name in ARTIFACTS:
            if (Path(out_dir) / name).is_file():
                self.tracker.log_artifact(self.run_id, Path(out_dir) / name)


@contextlib.contextmanager
def train_run(
    tracker: Any, out_dir: Path, name: str, tags: dict[str, Any], params: dict[str, Any]
) -> Iterator[TrainRun]:
    """Open (or, for a resumed run directory, reopen) the run of ``out_dir`` in the ``train``
    experiment, and end it FINISHED, FAILED (error tags + ``error.txt``) or KILLED (Ctrl+C,
    SIGTERM: :class:`benchmarks.runner.Interrupted`, re-raised). The run id is kept in
    ``out_dir/mlflow_run.json``; a rerun continues that run while it exists in this store with
    the same params, else starts a new one linked to it (``bench.train_run``)."""
    import traceback

    exp_id = tracker.experiment_id(TRAIN_EXPERIMENT)
    tracker.close_stale(exp_id)  # runs a killed `bench train` left RUNNING
    previous = _previous_run(tracker, Path(out_dir))
    if previous is not None and _same_params(previous, params):
        run = TrainRun(tracker, previous.info.run_id, exp_id, resumed=True)
        tracker.reopen(run.run_id)
        tracker.log(run.run_id, tags=tags)
    else:
        run = TrainRun(tracker, tracker.start_run(exp_id, name, tags), exp_id, resumed=False)
        tracker.log(run.run_id, params=params)
        if previous is not None:  # e.g. re-scored with other sampler settings: link the curves
            _link(tracker, run.run_id, previous.info.run_id, exp_id)
    run.out_dir = Path(out_dir)
    run.record()  # a resumed directory (exists already); a new one once its first step is logged
    with _sigterm_interrupts():
        try:
            with system_metrics(tracker.uri, run.run_id):  # only with --system-metrics
                yield run
            run.logger.flush()
        except KeyboardInterrupt as err:
            run.logger.flush_quietly()
            _end_quietly(tracker, run.run_id, "KILLED", {"error": f"interrupted ({err})"})
            raise
        except Exception as err:
            run.logger.flush_quietly()
            error = {"error": str(err).splitlines()[0][:5000] if str(err) else type(err).__name__}
            error["error_type"] = type(err).__name__
            _end_quietly(tracker, run.run_id, "FAILED", error, traceback.format_exc())
            raise
    tracker.end(run.run_id, "FINISHED")


def _previous_run(tracker: Any, out_dir: Path) -> Any:
    """The run recorded in ``out_dir`` if it still exists (not deleted) in this store."""
    try:
        record = json.loads((out_dir / LINK_FILE).read_text())
        if record.get("tracking_uri") != tracker.uri:
            return None
        run = tracker.client.get_run(record["run_id"])
    except Exception:  # noqa: BLE001 - no record, another store, a deleted run: a new run
        return None
    return None if run.info.lifecycle_stage == "deleted" else run


def _same_params(run: Any, params: dict[str, Any]) -> bool:
    """MLflow params cannot change: a run is continued only under the same resolved config."""
    from benchmarks.tracking import _param_value

    logged = run.data.params
    return all(logged.get(k, _param_value(v)) == _param_value(v) for k, v in params.items())


def _link(tracker: Any, run_id: str, other: str, exp_id: str) -> None:
    note = (
        "This run re-scored a trained model; its training curves (loss, loss terms, LR, "
        f"gradient norm, images/s, test DSC) are on [run {other}](#/experiments/{exp_id}/runs/"
        f"{other})."
    )
    tracker.log(run_id, tags={TRAIN_RUN_TAG: other, NOTE_TAG: note})


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """SIGTERM (a closed terminal, ``timeout``, a process manager) raises
    :class:`benchmarks.runner.Interrupted` (a KeyboardInterrupt, exit code 143) in the main
    thread, so the run is ended KILLED instead of being left RUNNING."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    from benchmarks.runner import Interrupted

    def handler(signum, frame):
        raise Interrupted(signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _end_quietly(tracker: Any, run_id: str, status: str, tags: dict, trace: str | None = None):
    """End a run as FAILED / KILLED as far as the store still takes writes: the status first."""
    for write in (
        lambda: tracker.end(run_id, status),
        lambda: tracker.log(run_id, tags=tags),
        lambda: trace and tracker.client.log_text(run_id, trace, "error.txt"),
    ):
        try:
            write()
        except Exception as err:  # noqa: BLE001 - best effort while failing already
            log.warning("could not record the end of run %s: %s", run_id, err)
