"""MLflow with zero setup: where the store is, and the few calls the runner and reports make.

Default store: ``sqlite:///<out_root>/mlflow.db`` with artifacts in ``<out_root>/mlartifacts``;
``--tracking-uri`` or ``MLFLOW_TRACKING_URI`` picks any other. Everything goes through
:class:`mlflow.MlflowClient` (no global active run), nested runs are children tagged with
``mlflow.parentRunId``. MLflow is kept quiet: its loggers at WARNING and no run-URL banner.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from benchmarks.settings import out_root as _out_root

PARENT_TAG = "mlflow.parentRunId"
RUN_NAME_TAG = "mlflow.runName"
ROLE_TAG = "bench.role"  # "sweep" (parent) | "child"


def quiet_mlflow() -> None:
    """No banners on stdout, no INFO chatter from MLflow / alembic / SQLAlchemy."""
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    for name in ("mlflow", "alembic", "sqlalchemy", "urllib3", "httpx", "uvicorn"):
        logging.getLogger(name).setLevel(logging.WARNING)


def resolve_uri(uri: str | None = None, out_root: Path | str | None = None) -> str:
    """Explicit URI, else $MLFLOW_TRACKING_URI, else the sqlite file under the output root."""
    uri = uri or os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        return uri
    db = (_out_root(out_root) / "mlflow.db").resolve()
    return f"sqlite:///{db.as_posix()}"


def is_local(uri: str) -> bool:
    return uri.startswith(("sqlite:", "file:", "/")) or "://" not in uri


def artifact_root(out_root: Path | str | None = None) -> str:
    return (_out_root(out_root) / "mlartifacts").resolve().as_uri()


class Tracker:
    """A thin wrapper over ``MlflowClient`` for one store."""

    def __init__(self, uri: str | None = None, out_root: Path | str | None = None) -> None:
        quiet_mlflow()
        from mlflow import MlflowClient

        self.uri = resolve_uri(uri, out_root)
        self.out_root = out_root
        self.client = MlflowClient(tracking_uri=self.uri)

    # -- experiments ---------------------------------------------------------------------------
    def experiment_id(self, name: str, create: bool = True) -> str | None:
        exp = self.client.get_experiment_by_name(name)
        if exp is not None:
            if exp.lifecycle_stage == "deleted":
                self.client.restore_experiment(exp.experiment_id)
            return exp.experiment_id
        if not create:
            return None
        location = None
        if is_local(self.uri):  # never ./mlruns in whatever directory we happen to run in
            location = f"{artifact_root(self.out_root)}/{name}"
        return self.client.create_experiment(name, artifact_location=location)

    # -- runs ----------------------------------------------------------------------------------
    def search(self, experiment_id: str, filter_string: str = "", order_by=None) -> list:
        """Every matching run (all pages)."""
        runs, token = [], None
        while True:
            page = self.client.search_runs(
                [experiment_id],
                filter_string=filter_string,
                max_results=1000,
                order_by=order_by,
                page_token=token,
            )
            runs.extend(page)
            token = page.token
            if not token:
                return runs

    def finished_children(self, experiment_id: str) -> dict[str, Any]:
        """config_hash -> the latest FINISHED child run (the cache)."""
        runs = self.search(
            experiment_id,
            f"attributes.status = 'FINISHED' and tags.`{ROLE_TAG}` = 'child'",
            order_by=["attributes.start_time ASC"],
        )
        return {r.data.tags["config_hash"]: r for r in runs if "config_hash" in r.data.tags}

    def find_parent(self, experiment_id: str, sweep_hash: str):
        runs = self.search(
            experiment_id,
            f"tags.`{ROLE_TAG}` = 'sweep' and tags.sweep_hash = '{sweep_hash}'",
            order_by=["attributes.start_time DESC"],
        )
        return runs[0] if runs else None

    def start_run(
        self, experiment_id: str, name: str, tags: Mapping[str, Any], parent_id: str | None = None
    ) -> str:
        tags = {k: str(v) for k, v in tags.items()}
        if parent_id:
            tags[PARENT_TAG] = parent_id
        run = self.client.create_run(experiment_id, run_name=name, tags=tags)
        return run.info.run_id

    def reopen(self, run_id: str) -> None:
        self.client.update_run(run_id, status="RUNNING")

    def log(
        self,
        run_id: str,
        *,
        params: Mapping[str, Any] | None = None,
        metrics: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
        step: int = 0,
    ) -> None:
        import time

        from mlflow.entities import Metric, Param, RunTag

        now = int(time.time() * 1000)
        ps = [Param(k, _param_value(v)) for k, v in (params or {}).items()]
        ms = [
            Metric(k, float(v), now, step)
            for k, v in (metrics or {}).items()
            if isinstance(v, int | float) and not isinstance(v, bool)
        ]
        ts = [RunTag(k, str(v)[:8000]) for k, v in (tags or {}).items()]
        self.client.log_batch(run_id, metrics=ms, params=ps, tags=ts)

    def log_artifact(self, run_id: str, path: Path | str, artifact_path: str | None = None) -> None:
        self.client.log_artifact(run_id, str(path), artifact_path)

    def log_json(self, run_id: str, obj: Any, name: str) -> None:
        self.client.log_text(run_id, json.dumps(obj, indent=2, default=str), name)

    def end(self, run_id: str, status: str = "FINISHED") -> None:
        self.client.set_terminated(run_id, status=status)

    def download(self, run_id: str, path: str, dst: Path | str) -> Path:
        Path(dst).mkdir(parents=True, exist_ok=True)
        return Path(self.client.download_artifacts(run_id, path, str(dst)))

    def load_json(self, run_id: str, path: str) -> Any:
        return json.loads(_load_text(self.client, run_id, path))


def _load_text(client, run_id: str, path: str) -> str:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        local = client.download_artifacts(run_id, path, tmp)
        return Path(local).read_text()


def _param_value(v: Any) -> str:
    if isinstance(v, list | tuple):
        v = list(v)
    s = json.dumps(v, default=str) if isinstance(v, list | dict) else str(v)
    return s[:6000]
