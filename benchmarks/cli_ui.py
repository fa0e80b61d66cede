"""``bench ui``: the MLflow UI on the harness's store, and nothing left running after it.

The server (``mlflow server``, its uvicorn workers and its job runners) is started in a process
group of its own (``start_new_session=True``). SIGINT (Ctrl+C), SIGTERM (a closed terminal,
``timeout``, a process manager) and any exit of ``bench ui`` stop the whole group: SIGTERM, a
grace period, then SIGKILL; processes that left the group but descend from the server are found
in ``/proc`` and stopped the same way.

Before the server starts, every experiment of the store is tagged for MLflow 3's model-training
view (``benchmarks.tracking.EXPERIMENT_KIND_TAG``; new experiments get it when created) and gets
a saved runs-table view with the benchmark's columns (:func:`default_view`); the command prints
the direct URL of each experiment's runs table.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from benchmarks.cli_common import UriOpt, cli_errors
from benchmarks.errors import ConfigError

app = typer.Typer()
console = Console()

# The runs table keeps its column choice in the browser (localStorage), not on the server. The
# one server-side form MLflow reads is a shared view: the experiment tag
# ``mlflow.sharedViewState.<key>`` holding the table state as JSON, opened by the URL parameter
# ``viewStateShareKey=<key>`` (what the UI's "Share" button writes).
SHARED_VIEW_PREFIX = "mlflow.sharedViewState."
VIEW_KEY = "bench-default"
STOP_GRACE_S = 10.0


@app.command("ui")
@cli_errors
def ui_cmd(
    port: Annotated[int, typer.Option(min=1, max=65535, help="port (1..65535)")] = 5000,
    host: Annotated[
        str, typer.Option(help="interface (127.0.0.1 = this machine only)")
    ] = "127.0.0.1",
    tracking_uri: UriOpt = None,
) -> None:
    """Start the MLflow UI on the harness's store (Ctrl+C or SIGTERM stops all of it)."""
    from benchmarks.tracking import artifact_root, is_local, quiet_mlflow, resolve_uri

    uri = resolve_uri(tracking_uri)
    if not is_local(uri):
        raise ConfigError(f"{uri} is already a tracking server; open it in a browser")
    check_port(host, port)
    quiet_mlflow()
    experiments = prepare_experiments(uri)
    base = f"http://{host}:{port}"
    console.print(f"MLflow UI for {uri} at {base} (Ctrl+C to stop)", markup=False, soft_wrap=True)
    for name, exp_id in experiments:
        if name == "Default" and exp_id == "0":
            continue  # MLflow's own, never written by the harness
        console.print(f"  {name}: {runs_url(base, exp_id)}", markup=False, soft_wrap=True)
    rc = serve(ui_command(uri, artifact_root(), host, port))
    if rc:
        raise typer.Exit(rc)


def runs_url(base: str, experiment_id: str) -> str:
    """The runs table of an experiment, in the model-training view, with the benchmark's columns.

    MLflow 3.17's UI picks GenAI or model-training navigation from the ``workflowType`` URL
    parameter, else from the browser's last choice (default GenAI); earlier 3.x releases read the
    experiment-kind tag. The URL carries the first; every experiment carries the second."""
    return (
        f"{base}/#/experiments/{experiment_id}/runs"
        f"?workflowType=machine_learning&viewStateShareKey={VIEW_KEY}"
    )


def ui_command(uri: str, artifacts: str, host: str, port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        uri,
        "--default-artifact-root",
        artifacts,
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        "1",
    ]


def check_port(host: str, port: int) -> None:
    """One line naming the port when it cannot be listened on (exit 2 through the CLI)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        # as uvicorn binds: connections of a server that just stopped (TIME_WAIT) do not count
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as err:
            if err.errno == errno.EADDRINUSE:
                raise ConfigError(
                    f"port {port} on {host} is already in use; stop what holds it or pick "
                    f"another --port"
                ) from None
            raise ConfigError(
                f"cannot listen on {host}:{port} ({err.strerror}); pick another --host/--port"
            ) from None


# -- the experiments: model-training view and a default column set ------------------------------
def prepare_experiments(uri: str) -> list[tuple[str, str]]:
    """Tag every active experiment for the model-training view and store its default runs-table
    view; returns ``(name, id)`` of each. A store that cannot be written is left as it is."""
    from benchmarks.errors import StoreError
    from benchmarks.tracking import EXPERIMENT_KIND, EXPERIMENT_KIND_TAG, Tracker

    try:
        client = Tracker(uri).client
    except StoreError:  # read-only or missing store: the server says what it can
        return []
    out = []
    for exp in client.search_experiments():
        out.append((exp.name, exp.experiment_id))
        with contextlib.suppress(Exception):  # a read-only store still gets its UI
            if exp.tags.get(EXPERIMENT_KIND_TAG) != EXPERIMENT_KIND:
                client.set_experiment_tag(exp.experiment_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND)
            keys = metric_keys(client, exp.experiment_id)
            view = json.dumps(default_view(keys), separators=(",", ":"))
            if exp.tags.get(SHARED_VIEW_PREFIX + VIEW_KEY) != view:
                client.set_experiment_tag(exp.experiment_id, SHARED_VIEW_PREFIX + VIEW_KEY, view)
    return out


def metric_keys(client, experiment_id: str, max_runs: int = 500) -> set[str]:
    """The metric keys of the newest runs."""
    keys: set[str] = set()
    for run in client.search_runs([experiment_id], max_results=max_runs):
        keys.update(run.data.metrics)
    return keys


def default_view(metric_keys: set[str]) -> dict:
    """The runs table's state: method, dataset and seed (tags), DSC, IoU, HD95 per class and the
    sampling steps K (metrics), newest runs first. Column ids are MLflow's ``<kind>.`<name>```
    form. (Which sweeps are expanded is not part of a shared view: MLflow drops it.)"""
    metrics = ["dsc", "iou"]
    metrics += sorted(k for k in metric_keys if k.startswith("hd95_") and "native" not in k)
    metrics += ["num_inference_steps"]
    columns = [f"tags.`{t}`" for t in ("method", "dataset", "seed")]
    columns += [f"metrics.`{m}`" for m in metrics if m in metric_keys or m in ("dsc", "iou")]
    return {
        "selectedColumns": columns,
        "orderByKey": "attributes.start_time",
        "orderByAsc": False,
    }


# -- the server's life ------------------------------------------------------------------------
class _Stop(Exception):
    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def serve(cmd: list[str]) -> int:
    """Run ``cmd`` in its own process group until it exits or we are told to stop; always stop
    the whole group (and its stray descendants) before returning."""
    # MLflow's job runner (~8 worker processes polling the store) serves GenAI features only
    env = {**os.environ}
    env.setdefault("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")
    proc = subprocess.Popen(cmd, start_new_session=True, env=env)

    def handler(signum, frame):
        raise _Stop(signum)

    previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        return proc.wait()
    except (_Stop, KeyboardInterrupt):
        return 0
    finally:
        # a second signal must not interrupt the clean-up
        for sig in previous:
            signal.signal(sig, signal.SIG_IGN)
        stop_group(proc)
        for sig, old in previous.items():
            signal.signal(sig, old)


def descendants(pid: int) -> list[int]:
    """Every live process whose parent chain leads to ``pid`` (Linux ``/proc``; hand-written
    because psutil is not a dependency). Empty where ``/proc`` is not available."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[-1].split()  # the command name may hold spaces or ')'
        if len(fields) > 1:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def stop_group(proc: subprocess.Popen, grace: float = STOP_GRACE_S) -> None:
    """SIGTERM the server's process group and its descendants, SIGKILL what is left after
    ``grace`` seconds, and reap the leader."""
    pgid = proc.pid  # start_new_session: the leader's pid is the group id
    stray = descendants(proc.pid)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, sig)
        for pid in stray:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
        deadline = time.monotonic() + (grace if sig == signal.SIGTERM else 5.0)
        while time.monotonic() < deadline:
            proc.poll()
            if not _alive(pgid, stray):
                break
            time.sleep(0.1)
        else:
            continue
        break
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)


def _alive(pgid: int, pids: list[int]) -> bool:
    """Whether a process of the group ``pgid`` or one of ``pids`` still runs (zombies have
    exited: whoever is their parent reaps them)."""
    wanted = set(pids)
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[-1].split()
        except OSError:
            continue
        if len(fields) > 2 and fields[0] != "Z":
            if int(fields[2]) == pgid or int(entry.name) in wanted:
                return True
    return False
