"""``bench ui`` starts the MLflow server on the harness's store: start it on a free localhost
port, read the experiment list through MLflow's REST API, stop it (bounded timeouts; the whole
process group is killed in a finally)."""

from __future__ import annotations

import importlib.util
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

START_TIMEOUT_S = 120


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# `bench` itself, with a stand-in for the `bench data` sub-app if that module is absent
LAUNCH = """
import importlib.util, sys, types
if importlib.util.find_spec("benchmarks.cli_data") is None:
    import typer
    stub = types.ModuleType("benchmarks.cli_data"); stub.data_app = typer.Typer()
    sys.modules["benchmarks.cli_data"] = stub
from benchmarks.cli import main
sys.argv = ["bench", *sys.argv[1:]]
main()
"""


def search_experiments(port: int) -> list[str]:
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/2.0/mlflow/experiments/search",
        data=json.dumps({"max_results": 100}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=5) as resp:
        return [e["name"] for e in json.load(resp).get("experiments", [])]


def test_bench_ui_serves_the_store(tmp_path):
    assert importlib.util.find_spec("mlflow") is not None
    from benchmarks.tracking import Tracker

    out = tmp_path / "out"
    Tracker(None, out).experiment_id("table2")  # a store with one experiment in it
    port = free_port()
    env = {**os.environ, "LDSEG_OUT": str(out)}
    env.pop("MLFLOW_TRACKING_URI", None)
    proc = subprocess.Popen(
        [sys.executable, "-c", LAUNCH, "ui", "--port", str(port), "--host", "127.0.0.1"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        names = None
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(
                    f"bench ui exited with {proc.returncode}: "
                    f"{proc.stdout.read().decode(errors='replace')[-2000:]}"
                )
            try:
                names = search_experiments(port)
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                time.sleep(1)
        assert names is not None, "MLflow UI did not answer in time"
        assert "table2" in names
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=10)
