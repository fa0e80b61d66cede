"""A shared tracking server on PostgreSQL (``bench server``) with concurrent workers.

A throwaway PostgreSQL cluster (Debian's ``initdb`` into a temp dir, ``pg_ctl`` on a free
loopback port, trust auth) and ``bench server`` on it; a smoke sweep run by two concurrent
Ray workers (``bench run --executor ray``, a local Ray cluster) into the server.
Checked: every planned child FINISHED exactly once (no lost, duplicated or RUNNING-forever run)
with its metrics and artifacts, stored through the server's artifact proxy. Everything is
stopped after (the server's process group, ``pg_ctl stop``). Skipped, with the reason, only
where the PostgreSQL binaries (or psycopg2) are absent.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # PostgreSQL, an MLflow server and a Ray cluster: a minute or two
LAUNCH = "import sys; from benchmarks.cli import main; sys.argv = ['bench', *sys.argv[1:]]; main()"
START_TIMEOUT_S = 180
SWEEP = ["table2", "--profile", "smoke", "--methods", "resunet,swinunet", "--seeds", "0"]
SWEEP += ["--set", "timing_warmup=0", "--set", "timing_repeats=1", "--set", "qualitative_cases=0"]
SWEEP_CHILDREN = 2


def pg_binary(name: str) -> str | None:
    """``initdb`` / ``pg_ctl``: on PATH, else where Debian puts them (not on PATH there)."""
    found = shutil.which(name)
    if found:
        return found
    hits = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return hits[-1] if hits else None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_postgres_user() -> dict:
    """initdb refuses to run as root: run the cluster as Debian's ``postgres`` user then."""
    if os.geteuid() != 0:
        return {}
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        pytest.skip("running as root and there is no 'postgres' user to own the cluster")
    return {"user": "postgres", "group": "postgres"}


@pytest.fixture(scope="module")
def postgres():
    """``postgresql://bench@127.0.0.1:PORT/mlflow`` of a throwaway cluster (stopped after)."""
    initdb, pg_ctl = pg_binary("initdb"), pg_binary("pg_ctl")
    if initdb is None or pg_ctl is None:
        pytest.skip("PostgreSQL binaries (initdb, pg_ctl) not found: apt-get install postgresql")
    pytest.importorskip("psycopg2", reason="psycopg2 missing: pip install -e '.[server]'")
    user = _as_postgres_user()
    base = Path(tempfile.mkdtemp(prefix="bench-pg-"))
    if user:
        shutil.chown(base, user["user"], user["group"])
    data, port = base / "data", free_port()
    run = dict(check=True, capture_output=True, timeout=120, **user)
    subprocess.run(
        [initdb, "-D", str(data), "-U", "bench", "--auth=trust", "-E", "UTF8", "--no-sync"], **run
    )
    opts = f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={base} -c fsync=off"
    subprocess.run(
        [pg_ctl, "-D", str(data), "-l", str(base / "log"), "-w", "-o", opts, "start"], **run
    )
    try:
        import psycopg2

        conn = psycopg2.connect(host="127.0.0.1", port=port, user="bench", dbname="postgres")
        conn.autocommit = True
        conn.cursor().execute("CREATE DATABASE mlflow")
        conn.close()
        yield f"postgresql://bench@127.0.0.1:{port}/mlflow"
    finally:
        subprocess.run(
            [pg_ctl, "-D", str(data), "-m", "immediate", "stop"], **{**run, "check": False}
        )
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def server(postgres, tmp_path_factory):
    """``bench server`` on the cluster (its process group stopped after): (url, artifacts)."""
    from benchmarks.cli_ui import stop_group
    from benchmarks.server import wait_ready

    artifacts = tmp_path_factory.mktemp("artifacts")
    port = free_port()
    log = open(artifacts.parent / "server.log", "wb")  # noqa: SIM115 - closed below
    cmd = [sys.executable, "-c", LAUNCH, "server", "--backend-store-uri", postgres]
    cmd += ["--artifacts-destination", str(artifacts), "--port", str(port), "--workers", "1"]
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, START_TIMEOUT_S, proc)
        yield url, artifacts
    finally:
        stop_group(proc)
        log.close()


def test_bad_backend_store_is_one_line(postgres):
    from typer.testing import CliRunner

    from benchmarks.cli import app

    res = CliRunner().invoke(app, ["server", "--backend-store-uri", "sqlite:///x.db"])
    assert res.exit_code == 2 and "expected a PostgreSQL URI" in res.output
    dead = postgres.rsplit(":", 1)[0] + f":{free_port()}/mlflow"
    res = CliRunner().invoke(
        app, ["server", "--backend-store-uri", dead, "--port", str(free_port())]
    )
    assert res.exit_code == 2 and "cannot connect to the backend store" in res.output


def test_two_concurrent_ray_workers_log_every_child_once(server, tmp_path, glas_dir):
    from mlflow import MlflowClient

    pytest.importorskip("ray", reason="Ray missing: pip install -e '.[ray]'")
    url, artifacts = server
    env = {**os.environ, "LDSEG_OUT": str(tmp_path / "shared-out"), "OMP_NUM_THREADS": "1"}
    env.pop("MLFLOW_TRACKING_URI", None)
    cmd = [sys.executable, "-c", LAUNCH, "run", *SWEEP, "--tracking-uri", url]
    cmd += ["--executor", "ray", "--report-dir", str(tmp_path / "reports")]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert "disk:" in done.stdout  # the sweep states its footprint

    client = MlflowClient(tracking_uri=url)
    exp = client.get_experiment_by_name("table2")
    runs = client.search_runs([exp.experiment_id], max_results=1000)
    assert not [r for r in runs if r.info.status != "FINISHED"]  # none lost or RUNNING forever
    children = [r for r in runs if r.data.tags.get("bench.role") == "child"]
    hashes = [r.data.tags["config_hash"] for r in children]
    assert len(hashes) == SWEEP_CHILDREN and len(set(hashes)) == SWEEP_CHILDREN  # once each
    parents = [r for r in runs if r.data.tags.get("bench.role") == "sweep"]
    assert len(parents) == 1 and parents[0].data.metrics["disk_total_mb"] > 0
    # two Ray workers at once: the children's runs overlap in time, in two processes
    assert max(r.info.start_time for r in children) < min(r.info.end_time for r in children)
    assert len({r.data.tags["bench.pid"] for r in children}) == 2
    for run in children:
        assert run.data.tags["mlflow.parentRunId"] == parents[0].info.run_id
        assert 0.0 <= run.data.metrics["dsc"] <= 1.0
        names = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert {"metrics.json", "per_case.csv", "model"} <= names
    # the artifacts went through the server's proxy into its artifact destination
    assert len(list(artifacts.rglob("weights.pt"))) == SWEEP_CHILDREN
