"""Training curves in MLflow: every step of a train job, logged on the run that trains it.

Per step: the loss and each loss term (``train/loss``, ``train/<term>``), the learning rate the
step used (``train/lr``), the gradient norm before clipping (``train/grad_norm``) and the
throughput (``train/images_per_s``); every ``curve_every`` steps the curve point of
``benchmarks.pipeline`` (``curve/test_dsc``, ``curve/test_iou``: the DSC-vs-time curve, scored
on the test split as the paper's Fig. 7 does). All with ``step=``, so the MLflow UI draws lines.

Logging is batched: :class:`StepLogger` buffers the points and writes them with one
``MlflowClient.log_batch`` every :data:`LOG_EVERY` steps (and at the end), not one store write
per metric per step.

A train job is shared by every child that needs it (``benchmarks.trained``); only the child that
trains it has its steps. :func:`link_train_run` records that run in the job directory
(``mlflow_run.json``) and tags every later child that reuses the job with ``bench.train_run``
and a link in its description.

Optional: MLflow's system metrics (CPU, memory, disk, network, GPU) on every child run, behind
``bench run --system-metrics`` / ``$LDSEG_SYSTEM_METRICS`` (:func:`system_metrics`).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import math
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from benchmarks.errors import ConfigError
from benchmarks.pipeline import step_metrics  # noqa: F401 - re-exported (one job's step metrics)

log = logging.getLogger(__name__)

LOG_EVERY = 50  # steps per log_batch call
MAX_BATCH = 1000  # MLflow's limit of metrics per log_batch call
TRAIN_RUN_TAG = "bench.train_run"  # the run that holds a reused train job's curves
NOTE_TAG = "mlflow.note.content"  # the run's description (Markdown) in the MLflow UI
LINK_FILE = "mlflow_run.json"


class StepLogger:
    """Buffers per-step metrics of one run and writes them in batches (``log_batch``)."""

    def __init__(self, client, run_id: str, every: int = LOG_EVERY) -> None:
        self.client = client
        self.run_id = run_id
        self.every = max(1, every)
        self.buffer: list = []
        self.first_step: int | None = None
        self.last_step: int | None = None

    @property
    def logged(self) -> bool:
        return self.first_step is not None

    def __call__(self, step: int, metrics: dict[str, float]) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        for key, value in metrics.items():
            if isinstance(value, int | float) and math.isfinite(value):
                self.buffer.append(Metric(key, float(value), now, step))
        if self.first_step is None:
            self.first_step = step
        self.last_step = step
        if step % self.every == 0 or len(self.buffer) >= MAX_BATCH:
            self.flush()

    def flush(self) -> None:
        while self.buffer:
            chunk, self.buffer = self.buffer[:MAX_BATCH], self.buffer[MAX_BATCH:]
            self.client.log_batch(self.run_id, metrics=chunk)

    def flush_quietly(self) -> None:
        """Flush while a run is already failing: a store error here must not hide that one."""
        try:
            self.flush()
        except Exception as err:  # noqa: BLE001 - best effort
            log.warning("could not log the last training steps of %s: %s", self.run_id, err)
            self.buffer = []


def with_step_logger(ctx: Any, logger: StepLogger) -> Any:
    """``ctx`` (a ``benchmarks.trained.ChildContext``) whose train-job progress also feeds
    ``logger``."""
    return ctx.with_train_metrics(logger)


def link_train_run(
    tracker: Any,
    run_id: str,
    experiment_id: str,
    out_root: Path | str,
    train_hash: str | None,
    logger: StepLogger,
) -> None:
    """After a child ran: record it as the run holding the job's curves (it trained steps), or
    tag it with the run that does (it reused a job trained by another child)."""
    if not train_hash:
        return
    link = Path(out_root) / "jobs" / train_hash / LINK_FILE
    if logger.logged:
        record = {
            "run_id": run_id,
            "experiment_id": experiment_id,
            "tracking_uri": tracker.uri,
            "steps": [logger.first_step, logger.last_step],
        }
        try:
            link.write_text(json.dumps(record, indent=2))
        except OSError as err:  # the curves are logged; only the link for later reusers is lost
            log.warning("could not write %s: %s", link, err)
        tracker.log(run_id, tags={TRAIN_RUN_TAG: run_id})
        return
    try:
        record = json.loads(link.read_text())
    except (OSError, ValueError):
        return  # trained before curves were logged, or in another output root
    if record.get("tracking_uri") != tracker.uri or record.get("run_id") == run_id:
        return
    other, exp = record["run_id"], record.get("experiment_id", experiment_id)
    tracker.log(
        run_id,
        tags={
            TRAIN_RUN_TAG: other,
            NOTE_TAG: (
                "This run reused a trained model; its training curves (loss, loss terms, LR, "
                f"gradient norm, images/s, test DSC) are on [run {other}]"
                f"(#/experiments/{exp}/runs/{other})."
            ),
        },
    )


SYSTEM_METRICS_ENV = "LDSEG_SYSTEM_METRICS"  # "1": CPU / RAM / disk / GPU of every child run


def system_metrics_enabled() -> bool:
    return os.environ.get(SYSTEM_METRICS_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def check_system_metrics() -> None:
    """MLflow samples system metrics with psutil (and pynvml for GPUs), optional here."""
    if importlib.util.find_spec("psutil") is None:
        raise ConfigError(
            "--system-metrics needs psutil; install it with pip install -e '.[system-metrics]'"
        )


@contextlib.contextmanager
def system_metrics(tracking_uri: str, run_id: str) -> Iterator[None]:
    """While a child runs: MLflow's system-metrics monitor on its run (``system/...`` metrics
    every ``MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL`` seconds, default 10), when
    ``$LDSEG_SYSTEM_METRICS`` is on (``bench run --system-metrics``)."""
    if not system_metrics_enabled():
        yield
        return
    check_system_metrics()
    from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

    monitor = SystemMetricsMonitor(run_id, tracking_uri=tracking_uri)
    monitor.start()
    try:
        yield
    finally:
        monitor.finish()
