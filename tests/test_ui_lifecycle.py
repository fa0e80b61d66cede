"""``bench ui`` leaves nothing behind: started as a real process on a free port against a tmp
store, stopped with SIGTERM, then no process of the server survives and the port is free; a busy
port is one line naming it (exit 2); experiments open in MLflow's model-training view."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from typer.testing import CliRunner

START_TIMEOUT_S = 90
LAUNCH = "import sys; from benchmarks.cli import main; sys.argv = ['bench', *sys.argv[1:]]; main()"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_free(port: int) -> bool:
    """Nothing listens on it (a server could bind it again; TIME_WAIT leftovers of closed
    connections do not count, as for any server that sets SO_REUSEADDR)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def running(pid: int) -> bool:
    """A process that exists and is not a zombie (a zombie has exited already)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def experiment(port: int, name: str) -> dict:
    url = f"http://127.0.0.1:{port}/api/2.0/mlflow/experiments/get-by-name?experiment_name={name}"
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.load(resp)["experiment"]


def test_sigterm_stops_the_whole_server_and_frees_the_port(tmp_path):
    from benchmarks.cli_ui import VIEW_KEY, descendants
    from benchmarks.tracking import Tracker

    out = tmp_path / "out"
    Tracker(None, out).experiment_id("table2")
    port = free_port()
    env = {**os.environ, "LDSEG_OUT": str(out)}
    env.pop("MLFLOW_TRACKING_URI", None)
    proc = subprocess.Popen(
        [sys.executable, "-c", LAUNCH, "ui", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # only so the test can clean up if an assertion fails
    )
    server: list[int] = []
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        exp = None
        while exp is None and time.monotonic() < deadline:
            assert proc.poll() is None, proc.stdout.read().decode(errors="replace")[-2000:]
            try:
                exp = experiment(port, "table2")
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                time.sleep(0.5)
        assert exp is not None, "bench ui did not answer in time"
        tags = {t["key"]: t["value"] for t in exp.get("tags", [])}
        assert tags.get("mlflow.experimentKind") == "custom_model_development"
        view = json.loads(tags[f"mlflow.sharedViewState.{VIEW_KEY}"])
        assert "metrics.`dsc`" in view["selectedColumns"]
        server = descendants(proc.pid)
        assert server, "bench ui runs the MLflow server as a child process"
        proc.send_signal(signal.SIGTERM)  # to bench ui only, as a process manager would
        rc = proc.wait(timeout=30)
        text = proc.stdout.read().decode(errors="replace")
        assert rc == 0, text[-2000:]
        assert f"#/experiments/{exp['experiment_id']}/runs?workflowType=machine_learning" in text
        assert f"viewStateShareKey={VIEW_KEY}" in text
        survivors = [pid for pid in server if running(pid)]
        assert not survivors, f"left running after SIGTERM: {survivors}"
        assert port_free(port), f"port {port} still taken after bench ui stopped"
    finally:
        for pid in [proc.pid, *server]:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        proc.wait(timeout=10)


def test_busy_port_is_one_line_naming_it(tmp_path):
    from benchmarks.cli import app

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as held:
        held.bind(("127.0.0.1", 0))
        held.listen(1)
        port = held.getsockname()[1]
        res = CliRunner().invoke(
            app,
            ["ui", "--port", str(port)],
            env={"LDSEG_OUT": str(tmp_path / "out"), "MLFLOW_TRACKING_URI": None},
        )
    assert res.exit_code == 2, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and f"port {port}" in lines[0] and "in use" in lines[0], res.output


@pytest.mark.parametrize("keys", [set(), {"dsc", "iou", "hd95_gland", "hd95_gland_native_mm"}])
def test_default_view_columns(keys):
    from benchmarks.cli_ui import default_view

    cols = default_view(keys)["selectedColumns"]
    assert cols[:3] == ["tags.`method`", "tags.`dataset`", "tags.`seed`"]
    assert "metrics.`dsc`" in cols and "metrics.`iou`" in cols
    assert ("metrics.`hd95_gland`" in cols) == ("hd95_gland" in keys)
    assert not any("native" in c for c in cols)
