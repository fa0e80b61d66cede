"""MLflow with zero setup: where the store is, and the few calls the runner and reports make.

Default store: ``sqlite:///<out_root>/mlflow.db`` with artifacts in ``<out_root>/mlartifacts``;
``--tracking-uri`` or ``MLFLOW_TRACKING_URI`` picks any other, e.g. ``http://HOST:PORT`` of a
shared tracking server on PostgreSQL (``bench server``, ``benchmarks/server.py``) that workers on
several machines log into; its artifacts are proxied by the server. Everything goes through
:class:`mlflow.MlflowClient` (no global active run), nested runs are children tagged with
``mlflow.parentRunId``. MLflow is kept quiet: its loggers at WARNING and no run-URL banner.

Fault safety (several ``bench`` processes on one store, kills, full or read-only disks):

* An unusable store is refused up front (:class:`~benchmarks.errors.StoreError`, one line)
  instead of MLflow retrying for minutes; MLflow's engine-creation retries are bounded.
* A sqlite store is created / migrated, and experiments are created, under an inter-process
  ``filelock.FileLock`` next to the database (``mlflow.db.lock``): MLflow migrates a fresh
  database without a lock of its own, so two processes starting together corrupt it.
* Every run we start carries its owner (``bench.host``, ``bench.pid``, ``bench.pid_start``);
  :meth:`Tracker.close_stale` ends the RUNNING runs whose owner process is gone (``kill -9``,
  a crash, a power cut) as FAILED with a ``bench.closed`` tag saying why.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from benchmarks.errors import StoreError
from benchmarks.settings import out_root as _out_root
from benchmarks.settings import storage_error

log = logging.getLogger(__name__)

PARENT_TAG = "mlflow.parentRunId"
RUN_NAME_TAG = "mlflow.runName"
ROLE_TAG = "bench.role"  # "sweep" (parent) | "child"
HOST_TAG, PID_TAG, PID_START_TAG = "bench.host", "bench.pid", "bench.pid_start"
CLOSED_TAG = "bench.closed"  # why a run was ended by someone other than its owner
# MLflow 3 opens an experiment in its GenAI ("Overview / Traces") mode unless this experiment tag
# says otherwise; "custom_model_development" is what the UI's own "Machine learning" choice sets
# (mlflow/server/js: ExperimentKind.CUSTOM_MODEL_DEVELOPMENT). Set on every experiment we create.
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
EXPERIMENT_KIND = "custom_model_development"
# MLflow retries creating its SQLAlchemy engine 10 times with exponential back-off (~100 s in
# all, "Operation will be retried in 12.7 seconds") and no setting controls it; a local sqlite
# file that cannot be opened now will not open in a minute either: 3 tries, 0.4 s of sleep.
SQLITE_ENGINE_TRIES = 3


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


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI (None for any other store or in-memory)."""
    if not uri.startswith("sqlite:"):
        return None
    path = uri[len("sqlite:") :]
    if not path.startswith("///"):
        return None
    return Path(unquote(path[3:].split("?", 1)[0]))  # sqlite:////abs or sqlite:///relative


def file_store_path(uri: str) -> Path | None:
    """The directory of a local file store (``file:`` URI or a plain path)."""
    if uri.startswith("file:"):
        return Path(unquote(urlparse(uri).path))
    if "://" not in uri and not uri.startswith("sqlite:"):
        return Path(uri)
    return None


def check_store(uri: str) -> None:
    """Refuse (StoreError, one line naming the path) a local store that cannot be written:
    its file or directory read-only, its parent a file; and a tracking server (``http(s)://``,
    ``bench server``) that does not answer its health check. Other remote stores are not
    checked."""
    from benchmarks.server import check_tracking_server, is_http
    from benchmarks.settings import require_writable

    if is_http(uri):  # a tracking server that does not answer: one line, not minutes of retries
        check_tracking_server(uri)
        return
    db = sqlite_path(uri)
    if db is None:
        folder = file_store_path(uri)
        if folder is not None:
            require_writable(folder, "MLflow store")
        return
    if db.exists():
        if not db.is_file():
            raise StoreError(f"{db}: the MLflow store is not a file")
        if not os.access(db, os.R_OK | os.W_OK):
            raise StoreError(f"{db}: the MLflow store is not writable ({_why(db)})")
    # created on first use; sqlite also writes its journal beside the file
    require_writable(db.parent, "MLflow store's directory")


def check_output_store(uri: str | None = None, out_root: Path | str | None = None) -> None:
    """The output root and the MLflow store a sweep would write, checked without creating
    anything (StoreError, one line). Imports nothing heavy: the CLI calls it first."""
    from benchmarks.settings import require_writable

    root = require_writable(_out_root(out_root, create=False))
    uri = uri or os.environ.get("MLFLOW_TRACKING_URI")
    check_store(uri or f"sqlite:///{(root / 'mlflow.db').resolve().as_posix()}")


def _why(path: Path) -> str:
    from benchmarks.settings import _why_not_writable

    return _why_not_writable(path)


def store_lock(uri: str, out_root: Path | str | None = None):
    """The inter-process lock of a store: ``<db>.lock`` next to a sqlite file, else under the
    output root (remote and file stores)."""
    from filelock import FileLock

    db = sqlite_path(uri)
    path = Path(f"{db}.lock") if db is not None else _out_root(out_root) / "locks" / "store.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(path)


def bound_mlflow_retries(uri: str) -> None:
    """No MLflow retry loop longer than a few seconds on a local store."""
    if sqlite_path(uri) is None:
        return
    try:
        import mlflow.store.db.utils as db_utils
    except ImportError:  # pragma: no cover - MLflow without SQLAlchemy support
        return
    db_utils.MAX_RETRY_COUNT = min(getattr(db_utils, "MAX_RETRY_COUNT", 10), SQLITE_ENGINE_TRIES)


# -- who owns a run ------------------------------------------------------------------------------
def process_start(pid: int) -> str | None:
    """When process ``pid`` started (clock ticks since boot, Linux ``/proc``), or None.

    With the pid it tells a live owner from a new process that reused a dead owner's pid.
    Hand-written because psutil is not a dependency; elsewhere only the pid is compared."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()  # the command name may hold spaces or ')'
    return fields[19] if len(fields) > 19 else None


def owner_tags() -> dict[str, str]:
    pid = os.getpid()
    return {
        HOST_TAG: socket.gethostname(),
        PID_TAG: str(pid),
        PID_START_TAG: process_start(pid) or "",
    }


def owner_alive(tags: Mapping[str, str]) -> bool | None:
    """Whether the process that started a run still runs: True/False on this host, None when
    the run has no owner tags or belongs to another host (cannot tell)."""
    if tags.get(HOST_TAG) != socket.gethostname() or not str(tags.get(PID_TAG, "")).isdigit():
        return None
    pid = int(tags[PID_TAG])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        pass
    started = tags.get(PID_START_TAG)
    if started and process_start(pid) not in (None, started):
        return False  # the pid now belongs to another process
    return True


def artifact_root(out_root: Path | str | None = None) -> str:
    return (_out_root(out_root) / "mlartifacts").resolve().as_uri()


class Tracker:
    """A thin wrapper over ``MlflowClient`` for one store."""

    def __init__(self, uri: str | None = None, out_root: Path | str | None = None) -> None:
        quiet_mlflow()
        from mlflow import MlflowClient

        self.uri = resolve_uri(uri, out_root)
        self.out_root = out_root
        check_store(self.uri)
        bound_mlflow_retries(self.uri)
        # the client opens the store: creates and migrates a fresh database, once
        with self.store_lock(), self.store_errors():
            self.client = MlflowClient(tracking_uri=self.uri)

    def store_lock(self):
        return store_lock(self.uri, self.out_root)

    def lock(self, *parts: str):
        """An inter-process lock for ``parts`` (e.g. experiment id + config hash) on this
        store: in ``<db>.locks/`` beside a sqlite store, else ``<out_root>/locks/``."""
        from filelock import FileLock

        db = sqlite_path(self.uri)
        folder = Path(f"{db}.locks") if db is not None else _out_root(self.out_root) / "locks"
        folder.mkdir(parents=True, exist_ok=True)
        return FileLock(folder / ("-".join(parts) + ".lock"))

    @contextlib.contextmanager
    def store_errors(self) -> Iterator[None]:
        """MLflow/SQLAlchemy failures caused by the file system -> StoreError (one line)."""
        try:
            yield
        except StoreError:
            raise
        except Exception as err:
            where = sqlite_path(self.uri) or self.uri
            fault = storage_error(err, where)
            if fault is not None:
                raise fault from err
            raise

    # -- experiments ---------------------------------------------------------------------------
    def experiment_id(self, name: str, create: bool = True) -> str | None:
        exp = self.client.get_experiment_by_name(name)
        if exp is None and create:
            with self.store_lock():  # two processes must not both create it
                exp = self.client.get_experiment_by_name(name)
                if exp is None:
                    location = None
                    if is_local(self.uri):  # never ./mlruns in whatever directory we run in
                        location = f"{artifact_root(self.out_root)}/{name}"
                    return self.client.create_experiment(
                        name,
                        artifact_location=location,
                        tags={EXPERIMENT_KIND_TAG: EXPERIMENT_KIND},
                    )
        if exp is None:
            return None
        if exp.lifecycle_stage == "deleted":
            self.client.restore_experiment(exp.experiment_id)
        return exp.experiment_id

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

    def finished_child(self, experiment_id: str, config_hash: str):
        """The latest FINISHED child with ``config_hash`` (None if there is none)."""
        runs = self.search(
            experiment_id,
            f"attributes.status = 'FINISHED' and tags.`{ROLE_TAG}` = 'child' "
            f"and tags.config_hash = '{config_hash}'",
            order_by=["attributes.start_time DESC"],
        )
        return runs[0] if runs else None

    def close_stale(
        self, experiment_id: str, filter_string: str = "", *, lock_held: bool = False
    ) -> list[str]:
        """End the RUNNING runs (matching ``filter_string``) whose owner process is gone
        from this host as FAILED, tagged with why; returns their run ids. Runs of live
        processes, of other hosts and without owner tags are left alone, unless
        ``lock_held``: the caller holds the lock every writer of these runs holds while it
        writes them (a child's lock on the store), so any RUNNING one but this process's own
        lost its owner, even if that process has not been reaped yet or ran on another node
        (a Ray worker killed with -9, whose child is being retried)."""
        query = "attributes.status = 'RUNNING'" + (f" and {filter_string}" if filter_string else "")
        closed = []
        for run in self.search(experiment_id, query):
            tags = run.data.tags
            mine = (
                tags.get(HOST_TAG) == socket.gethostname()
                and tags.get(PID_TAG) == str(os.getpid())
                and tags.get(PID_START_TAG) in (None, "", process_start(os.getpid()))
            )
            if mine or (not lock_held and owner_alive(tags) is not False):
                continue
            why = (
                f"owner process {tags.get(PID_TAG)} on {tags.get(HOST_TAG)} ended without "
                f"closing the run (killed or crashed)"
            )
            log.warning("closing stale run %s: %s", run.info.run_id, why)
            self.log(run.info.run_id, tags={CLOSED_TAG: why, "error": why, "error_type": "Stale"})
            self.end(run.info.run_id, "FAILED")
            closed.append(run.info.run_id)
        return closed

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
        tags = {**{k: str(v) for k, v in tags.items()}, **owner_tags()}
        if parent_id:
            tags[PARENT_TAG] = parent_id
        run = self.client.create_run(experiment_id, run_name=name, tags=tags)
        return run.info.run_id

    def reopen(self, run_id: str) -> None:
        self.client.update_run(run_id, status="RUNNING")
        self.log(run_id, tags=owner_tags())

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
        try:
            self.client.log_artifact(run_id, str(path), artifact_path)
        except Exception as err:
            fault = storage_error(err, self._artifact_dir(run_id, artifact_path))
            if fault is not None:
                raise fault from err
            raise

    def _artifact_dir(self, run_id: str, artifact_path: str | None) -> str:
        try:
            uri = self.client.get_run(run_id).info.artifact_uri
        except Exception:  # noqa: BLE001 - only names the place in a message
            return f"artifacts of run {run_id}"
        local = urlparse(uri).path if uri.startswith("file:") else uri
        return f"{local}/{artifact_path}" if artifact_path else local

    def log_json(self, run_id: str, obj: Any, name: str) -> None:
        with self.store_errors():
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
