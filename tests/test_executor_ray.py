"""``--executor ray`` on a local Ray cluster (num_cpus=2): the same per-child results as the local
executor with two children running at once; a worker killed mid-child is retried, killed past
its retries the child is FAILED and the sweep completes; a rerun then trains only what is
missing; a driver killed (with its local Ray cluster) mid-sweep leaves nothing RUNNING after the
rerun, which reuses the finished child. Real methods (Res-UNet, Swin-Unet) on synth2d at smoke settings."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from benchmarks import experiments
from benchmarks.experiments import Experiment

pytestmark = (
    pytest.mark.slow
)  # a local Ray cluster and six smoke trainings: minutes on a loaded CPU
ray = pytest.importorskip("ray", reason="Ray missing: pip install -e '.[ray]'")

EXP = Experiment("testray", "accuracy", "ray executor test", "none", datasets=("synth2d",), dims=2)
METHODS = ("resunet", "swinunet")
FAST = {"timing_warmup": 0, "timing_repeats": 1, "qualitative_cases": 0}


@pytest.fixture(scope="module")
def cluster():
    mp = pytest.MonkeyPatch()
    mp.setitem(experiments.EXPERIMENTS, EXP.name, EXP)  # the driver plans; workers get children
    mp.setenv("OMP_NUM_THREADS", "1")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()
    mp.undo()


def options(root, executor="local", retries=1):
    from benchmarks.executors import ExecutorOptions
    from benchmarks.runner import RunOptions

    return RunOptions(
        profile="smoke",
        methods=METHODS,
        seeds=(0,),
        out_root=str(root),
        tracking_uri=f"sqlite:///{root}/mlflow.db",
        settings=FAST,
        executor=ExecutorOptions(executor, retries=retries),
    )


def model_metrics(tracker, result) -> dict[str, float]:
    metrics = tracker.client.get_run(result.run_id).data.metrics
    return {k: v for k, v in metrics.items() if k.startswith(("dsc", "iou", "n_cases"))}


def test_ray_gives_the_local_results_with_two_children_at_once(cluster, tmp_path):
    from benchmarks.runner import run_experiment
    from benchmarks.tracking import Tracker

    local = run_experiment(EXP.name, options(tmp_path / "local"))
    remote = run_experiment(EXP.name, options(tmp_path / "ray", "ray"))
    assert local.ok and remote.ok
    lt, rt = Tracker(local.tracking_uri), Tracker(remote.tracking_uri)
    by_name = {r.child.run_name: r for r in remote.results}
    assert set(by_name) == {r.child.run_name for r in local.results}
    for r in local.results:
        want = model_metrics(lt, r)
        assert want["dsc"] >= 0 and model_metrics(rt, by_name[r.child.run_name]) == want
    runs = [rt.client.get_run(r.run_id).info for r in remote.results]
    assert all(r.status == "FINISHED" for r in runs)
    assert max(r.start_time for r in runs) < min(r.end_time for r in runs)  # ran concurrently
    parent = rt.client.get_run(remote.parent_run_id)
    children = rt.search(
        remote.experiment_id, f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'"
    )
    assert len(children) == len(METHODS)  # the driver made the parent; workers logged under it


def _killer(tracker, exp_name, kills: dict[str, int], stop: threading.Event) -> None:
    """Kill -9 the worker process of each RUNNING child run (its bench.pid tag), up to
    ``kills[method]`` times per method."""
    seen: set[str] = set()
    while not stop.is_set():
        exp = tracker.client.get_experiment_by_name(exp_name)
        runs = tracker.search(exp.experiment_id, "attributes.status = 'RUNNING'") if exp else []
        for run in runs:
            method, pid = run.data.tags.get("method"), run.data.tags.get("bench.pid")
            if method and pid and run.info.run_id not in seen and kills.get(method, 0) > 0:
                seen.add(run.info.run_id)
                kills[method] -= 1
                os.kill(int(pid), signal.SIGKILL)
        time.sleep(0.3)


def test_killed_worker_is_retried_then_failed_and_a_rerun_trains_only_the_rest(cluster, tmp_path):
    from benchmarks.runner import run_experiment
    from benchmarks.tracking import Tracker

    opts = options(tmp_path, "ray", retries=1)
    tracker = Tracker(opts.tracking_uri, tmp_path)
    kills = {"resunet": 1, "swinunet": 2}  # resunet: killed once, retried; swinunet: past it
    stop = threading.Event()
    killer = threading.Thread(target=_killer, args=(tracker, EXP.name, kills, stop))
    killer.start()
    try:
        res = run_experiment(EXP.name, opts)
    finally:
        stop.set()
        killer.join()
    assert kills == {"resunet": 0, "swinunet": 0}
    status = {r.child.method: r.status for r in res.results}
    assert status == {"resunet": "FINISHED", "swinunet": "FAILED"}  # the sweep completed
    failed = res.failed[0]
    assert "Worker" in failed.error or "died" in failed.error, failed.error
    runs = tracker.search(res.experiment_id)
    running = [(r.info.run_name, r.data.tags) for r in runs if r.info.status == "RUNNING"]
    assert not running  # none left RUNNING
    per_method = {
        m: sorted(r.info.status for r in runs if r.data.tags.get("method") == m) for m in METHODS
    }
    assert per_method == {"resunet": ["FAILED", "FINISHED"], "swinunet": ["FAILED", "FAILED"]}

    resunet = next(r for r in res.results if r.child.method == "resunet")
    done = tmp_path / "jobs" / tracker.client.get_run(resunet.run_id).data.tags["train_hash"]
    mtime = (done / "checkpoint.pt").stat().st_mtime_ns
    again = run_experiment(EXP.name, options(tmp_path, "ray", retries=1))
    assert {r.child.method: r.status for r in again.results} == {
        "resunet": "CACHED",
        "swinunet": "FINISHED",
    }
    assert (done / "checkpoint.pt").stat().st_mtime_ns == mtime  # not retrained


DRIVER = """
import sys
from benchmarks import experiments
from benchmarks.experiments import Experiment
from benchmarks.executors import ExecutorOptions
from benchmarks.runner import RunOptions, run_experiment

experiments.EXPERIMENTS["testray"] = Experiment(
    "testray", "accuracy", "ray executor test", "none", datasets=("synth2d",), dims=2
)
root = sys.argv[1]
run_experiment("testray", RunOptions(
    profile="smoke", methods=("resunet", "swinunet"), seeds=(0,), out_root=root,
    tracking_uri=f"sqlite:///{root}/mlflow.db",
    settings={"timing_warmup": 0, "timing_repeats": 1, "qualitative_cases": 0},
    executor=ExecutorOptions("ray", num_cpus=1),  # one child at a time: kill between them
))
"""


def test_killed_driver_rerun_reuses_the_finished_child(cluster, tmp_path):
    import subprocess
    import sys

    from benchmarks.cli_ui import stop_group
    from benchmarks.runner import run_experiment
    from benchmarks.tracking import Tracker

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("RAY_ADDRESS", None)
    # its own session: the driver and the Ray cluster it starts are killed together (kill -9)
    driver = subprocess.Popen(
        [sys.executable, "-c", DRIVER, str(tmp_path)], env=env, start_new_session=True
    )
    tracker, deadline = None, time.monotonic() + 600
    try:
        while time.monotonic() < deadline and driver.poll() is None:
            time.sleep(1)
            if tracker is None and (tmp_path / "mlflow.db").exists():
                tracker = Tracker(f"sqlite:///{tmp_path}/mlflow.db", tmp_path)
            exp = tracker and tracker.client.get_experiment_by_name(EXP.name)
            runs = tracker.search(exp.experiment_id, "tags.`bench.role` = 'child'") if exp else []
            if {r.info.status for r in runs} == {"FINISHED", "RUNNING"}:
                break  # one child done, the other running
        assert driver.poll() is None, "the driver finished before it could be killed"
        stop_group(driver, grace=0.0)  # SIGTERM then at once SIGKILL to the whole group
    finally:
        stop_group(driver, grace=0.0)
    finished = {r.data.tags["method"] for r in runs if r.info.status == "FINISHED"}
    again = run_experiment(EXP.name, options(tmp_path, "ray"))
    status = {r.child.method: r.status for r in again.results}
    assert again.ok and {status[m] for m in finished} == {"CACHED"}
    runs = tracker.search(again.experiment_id, "tags.`bench.role` = 'child'")
    running = [(r.info.run_name, r.data.tags) for r in runs if r.info.status == "RUNNING"]
    assert not running  # the killed child was closed
    assert sorted(r.info.status for r in runs).count("FINISHED") == len(METHODS)
