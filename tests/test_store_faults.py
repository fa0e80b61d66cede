"""A fault-safe store (issue 16): concurrent sweeps on one fresh store, SIGTERM and ``kill -9``
mid-sweep, a read-only output root or store, a full disk.

The sweep used throughout is the cheapest one that trains a shared job: ``bench run robustness``
with one small U-Net on ``echo-synth`` at 32^2 and sigma 0 only (one child, one train job), under
a smoke-derived profile written by :func:`_profile`.

Real file systems where the sandbox allows them: running as root, the read-only and full-disk
tests mount a tmpfs (``mount -t tmpfs``, remounted read-only, or filled up); without ``mount``
they fall back to injected failures (``os.access`` denying writes, ``torch.save`` raising
``OSError(ENOSPC)``), as each test's docstring says.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from benchmarks import tracking
from benchmarks.checkpoint import load_checkpoint
from benchmarks.cli import app
from benchmarks.errors import StoreError
from benchmarks.profiles import PROFILE_DIR
from benchmarks.tracking import CLOSED_TAG, ROLE_TAG, Tracker

EXPERIMENT = "robustness"
runner = CliRunner()


# -- helpers -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """An empty, migrated MLflow database (creating one takes seconds of alembic migrations):
    copied into the output root of each test that is not about a fresh store."""
    root = tmp_path_factory.mktemp("template")
    Tracker(None, root)
    return root / "mlflow.db"


def _seeded(out: Path, template: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    shutil.copy(template, out / "mlflow.db")
    return out


def _profile(folder: Path, name: str, steps: int, every: int) -> Path:
    """smoke.toml with ``steps`` training steps, a checkpoint every ``every`` steps, a small
    U-Net and a one-child robustness sweep."""
    text = (PROFILE_DIR / "smoke.toml").read_text()
    text = text.replace("steps = 30", f"steps = {steps}")
    text = text.replace("checkpoint_every = 10", f"checkpoint_every = {every}")
    text = text.replace('name = "smoke"', f'name = "{name}"')
    text = re.sub(
        r"robustness_sigmas = .*", 'robustness_sigmas = [0.0]\nrobustness_methods = ["unet"]', text
    )
    text += "\n[methods.unet]\nfeatures = [8, 8, 16, 16, 32, 8]\n"
    path = folder / f"{name}.toml"
    path.write_text(text)
    return path


def _env(out: Path, reports: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    return {**env, "LDSEG_OUT": str(out), "LDSEG_REPORTS": str(reports), "LDSEG_THREADS": "1"}


def _bench(args) -> list[str]:
    return [sys.executable, "-c", "from benchmarks.cli import main; main()", *map(str, args)]


def _run_args(profile: Path, *extra) -> list[str]:
    return ["run", EXPERIMENT, "--profile", str(profile), *extra]


def _invoke(out: Path, args, tmp_path: Path):
    """``bench ARGS`` in this process (no 10 s import per call)."""
    env = {
        "LDSEG_OUT": str(out),
        "LDSEG_REPORTS": str(tmp_path / "reports"),
        "MLFLOW_TRACKING_URI": None,
        "LDSEG_THREADS": "1",
    }
    return runner.invoke(app, [str(a) for a in args], env=env)


def _runs(out: Path) -> list:
    tracker = Tracker(None, out)
    exp = tracker.experiment_id(EXPERIMENT, create=False)
    return tracker.search(exp) if exp is not None else []


def _by_role(runs, role: str) -> list:
    return [r for r in runs if r.data.tags.get(ROLE_TAG) == role]


def _wait_for(path_glob, root: Path, proc: subprocess.Popen, timeout: float = 180) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out = proc.stdout.read() if proc.stdout else ""
            pytest.fail(f"bench ended (rc {proc.returncode}) before {path_glob} appeared:\n{out}")
        found = sorted(root.glob(path_glob))
        if found:
            return found[0]
        time.sleep(0.05)
    proc.kill()
    pytest.fail(f"{path_glob} did not appear within {timeout} s")


def _mount_tmpfs(path: Path, size: str) -> bool:
    """A size-limited tmpfs at ``path`` when this process may mount (root in a sandbox)."""
    path.mkdir(parents=True, exist_ok=True)
    try:
        res = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
            capture_output=True,
            timeout=20,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return res.returncode == 0


def _umount(path: Path) -> None:
    subprocess.run(["umount", "-l", str(path)], capture_output=True, timeout=20)


# metrics that measure the machine, not the model (they differ between any two runs)
TIMING = ("_seconds", "per_s", "latency", "peak_", "rss")


def _scores(run) -> dict[str, float]:
    return {k: v for k, v in run.data.metrics.items() if not any(t in k for t in TIMING)}


# -- concurrency ---------------------------------------------------------------------------------
@pytest.mark.slow
def test_two_identical_sweeps_on_a_fresh_store(tmp_path):
    """Two ``bench run`` started together on a fresh ``$LDSEG_OUT``: both exit 0, one FINISHED
    child per config hash, nothing FAILED or RUNNING, one train job. (Before the locks: one
    died in MLflow's migration of the new database, or both trained into the same job
    directory and one child FAILED.)"""
    prof = _profile(tmp_path, "faults", steps=20, every=5)
    out = tmp_path / "out"
    env = _env(out, tmp_path / "reports")
    procs = [
        subprocess.Popen(
            _bench(_run_args(prof, "--report-dir", tmp_path / f"report{i}")),
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i in range(2)
    ]
    logs = [p.communicate(timeout=300)[0] for p in procs]
    for p, text in zip(procs, logs, strict=True):
        assert p.returncode == 0, text[-3000:]
    runs = _runs(out)
    children = _by_role(runs, "child")
    assert Counter(r.info.status for r in runs)["FINISHED"] == len(runs), [
        (r.info.run_name, r.info.status) for r in runs
    ]
    per_hash = Counter(r.data.tags["config_hash"] for r in children)
    assert len(per_hash) == 1 and set(per_hash.values()) == {1}, per_hash
    assert len(_by_role(runs, "sweep")) == 1  # one parent per sweep hash
    assert len(list((out / "jobs").glob("*/checkpoint.pt"))) == 1
    assert not list((out / "jobs").glob("*/*.tmp"))


def test_a_train_job_needed_twice_at_once_is_trained_once(tmp_path, monkeypatch):
    """Two callers of ``ensure_trained`` for one job at the same time (threads here; the lock
    is a file lock, so processes behave alike): one trains, the other waits and reads the
    finished job back; never two writers in the job directory (before: both trained, and one
    failed with FileNotFoundError on checkpoint.pt.tmp)."""
    from benchmarks import trained
    from benchmarks.pipeline import JobSpec
    from benchmarks.profiles import load_profile

    inside, most, trainings = [0], [0], []

    def slow_run_job(spec, profile, out, progress=None):
        inside[0] += 1
        most[0] = max(most[0], inside[0])
        time.sleep(0.3)
        cfg = trained.resolved_config(spec, profile)
        (out / "config.json").write_text(json.dumps(cfg))
        (out / "checkpoint.pt").write_bytes(b"weights")
        metrics = {"finished": True, "dsc": 0.5}
        (out / "metrics.json").write_text(json.dumps(metrics))
        trainings.append(out)
        inside[0] -= 1
        return metrics

    monkeypatch.setattr(trained, "run_job", slow_run_job)
    prof = load_profile(str(_profile(tmp_path, "faults", steps=6, every=2)))
    spec = JobSpec("unet", "synth2d", prof.name)
    with ThreadPoolExecutor(2) as pool:
        jobs = list(pool.map(lambda _: trained.ensure_trained(spec, prof, tmp_path), range(2)))
    assert len(trainings) == 1 and most[0] == 1
    assert jobs[0].dir == jobs[1].dir and jobs[0].metrics == jobs[1].metrics == {
        "finished": True,
        "dsc": 0.5,
    }


# -- signals and dead processes ------------------------------------------------------------------
@pytest.mark.slow
def test_sigterm_closes_the_child_and_the_parent_as_killed(tmp_path, template):
    """SIGTERM to a real ``bench run`` once its train job has written a checkpoint: exit 143,
    the child and the parent KILLED, no run of the experiment left RUNNING."""
    prof = _profile(tmp_path, "faults", steps=2000, every=2)
    out = _seeded(tmp_path / "out", template)
    proc = subprocess.Popen(
        _bench(_run_args(prof, "--report-dir", tmp_path / "report")),
        env=_env(out, tmp_path / "reports"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        _wait_for("jobs/*/checkpoint.pt", out, proc)
        proc.send_signal(signal.SIGTERM)
        text = proc.communicate(timeout=60)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, text[-3000:]
    assert "interrupted (SIGTERM)" in text and "Traceback" not in text, text[-3000:]
    runs = _runs(out)
    assert {r.info.status for r in runs} == {"KILLED"}, [
        (r.info.run_name, r.info.status) for r in runs
    ]
    assert {r.data.tags[ROLE_TAG] for r in runs} == {"child", "sweep"}
    ckpt = next((out / "jobs").glob("*/checkpoint.pt"))
    assert load_checkpoint(ckpt)["step"] >= 2  # what was trained is kept for the rerun


@pytest.mark.slow
def test_kill_9_then_rerun_closes_the_dead_child(tmp_path, template):
    """``kill -9`` mid-training leaves the child and the parent RUNNING; the rerun (in
    process) closes the dead child as FAILED (tagged why), resumes the train job and leaves
    exactly one FINISHED child per config hash and nothing RUNNING."""
    prof = _profile(tmp_path, "faults", steps=60, every=2)
    out = _seeded(tmp_path / "out", template)
    proc = subprocess.Popen(
        _bench(_run_args(prof, "--report-dir", tmp_path / "report")),
        env=_env(out, tmp_path / "reports"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for("jobs/*/checkpoint.pt", out, proc)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    dead = _runs(out)
    assert {r.info.status for r in dead} == {"RUNNING"}  # what kill -9 leaves behind
    dead_child = _by_role(dead, "child")[0]

    res = _invoke(out, _run_args(prof, "--report-dir", tmp_path / "report"), tmp_path)
    assert res.exit_code == 0, res.output
    runs = _runs(out)
    assert "RUNNING" not in {r.info.status for r in runs}
    finished = [r for r in _by_role(runs, "child") if r.info.status == "FINISHED"]
    per_hash = Counter(r.data.tags["config_hash"] for r in finished)
    assert per_hash == Counter({dead_child.data.tags["config_hash"]: 1})
    closed = next(r for r in runs if r.info.run_id == dead_child.info.run_id)
    assert closed.info.status == "FAILED"
    assert f"owner process {proc.pid}" in closed.data.tags[CLOSED_TAG]
    parent = _by_role(runs, "sweep")
    assert len(parent) == 1 and parent[0].info.status == "FINISHED"
    assert CLOSED_TAG not in parent[0].data.tags  # reused by the rerun, no stale reason left


def test_signals_raise_interrupted_but_wait_for_a_run_being_closed():
    """During a sweep SIGINT/SIGTERM raise Interrupted (exit code 128 + signal) at once, except
    while a run's end is being written: then right after it. The old handlers come back."""
    from benchmarks.runner import Interrupted, _Signals

    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Interrupted) as now:
        with _Signals():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(2)
            pytest.fail("SIGINT did not interrupt")
    assert now.value.exit_code == 130
    written = []
    with pytest.raises(Interrupted) as later:
        with _Signals() as signals, signals.deferred():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.2)  # the handler has run by now
            written.append("run ended")
    assert written == ["run ended"] and later.value.exit_code == 143
    assert signal.getsignal(signal.SIGTERM) is before


def test_stale_runs_of_live_or_foreign_owners_are_left_alone(tmp_path, template):
    """Only a RUNNING run whose owner is gone from this host is closed: a live owner's run
    (this process) and another host's run stay RUNNING."""
    tracker = Tracker(None, _seeded(tmp_path, template))
    exp = tracker.experiment_id("stale")
    tracker.start_run(exp, "mine", {ROLE_TAG: "child"})
    foreign = tracker.start_run(exp, "foreign", {ROLE_TAG: "child"})
    tracker.log(foreign, tags={tracking.HOST_TAG: "another-host", tracking.PID_TAG: "1"})
    dead_proc = subprocess.Popen([sys.executable, "-c", "pass"])
    dead_proc.wait()
    dead = tracker.start_run(exp, "dead", {ROLE_TAG: "child"})
    tracker.log(dead, tags={tracking.PID_TAG: str(dead_proc.pid)})
    reused = tracker.start_run(exp, "pid-reused", {ROLE_TAG: "child"})
    tracker.log(reused, tags={tracking.PID_START_TAG: "1"})  # our pid, another start time
    assert sorted(tracker.close_stale(exp)) == sorted([dead, reused])
    status = {r.info.run_name: r.info.status for r in tracker.search(exp)}
    assert status == {
        "mine": "RUNNING",
        "foreign": "RUNNING",
        "dead": "FAILED",
        "pid-reused": "FAILED",
    }


# -- read-only output root or store --------------------------------------------------------------
@pytest.fixture
def read_only(tmp_path, monkeypatch):
    """A read-only directory holding an sqlite file ``mlflow.db``: a tmpfs remounted read-only
    where mounting works, else a plain directory whose writes ``os.access`` denies."""
    ro = tmp_path / "ro"
    mounted = _mount_tmpfs(ro, "4m")
    sqlite3.connect(ro / "mlflow.db").close()
    if mounted:
        res = subprocess.run(["mount", "-o", "remount,ro", str(ro)], capture_output=True)
        assert res.returncode == 0, res.stderr
    else:
        real = os.access

        def access(path, mode, *a, **kw):
            if mode & os.W_OK and Path(path).resolve().is_relative_to(ro.resolve()):
                return False
            return real(path, mode, *a, **kw)

        monkeypatch.setattr(os, "access", access)
    yield ro
    if mounted:
        _umount(ro)


def _ro_cases(ro: Path, rw: Path):
    (rw / "a-file").write_text("x")
    (rw / "dir.db").mkdir()
    return {
        "out root read-only": (ro, [], str(ro), "output root is not writable"),
        "store dir read-only": (
            rw / "out",
            ["--tracking-uri", f"sqlite:///{ro}/new/mlflow.db"],
            str(ro),
            "MLflow store's directory is not writable",
        ),
        "store file read-only": (
            rw / "out",
            ["--tracking-uri", f"sqlite:///{ro}/mlflow.db"],
            f"{ro}/mlflow.db",
            "MLflow store is not writable",
        ),
        "store is a directory": (
            rw / "out",
            ["--tracking-uri", f"sqlite:///{rw}/dir.db"],
            f"{rw}/dir.db",
            "not a file",
        ),
        "out root under a file": (
            rw / "a-file" / "out",
            [],
            f"{rw}/a-file/out",
            "cannot create the output root",
        ),
    }


def test_unusable_store_exits_2_with_one_line(tmp_path, read_only):
    """Each unusable store ends ``bench run`` with exit 2 and one line naming the path, in
    less than 10 s, before anything is trained (before: a hang in MLflow's retry loop)."""
    prof = _profile(tmp_path, "faults", steps=6, every=2)
    rw = tmp_path / "rw"
    rw.mkdir()
    for case, (out, extra, path, phrase) in _ro_cases(read_only, rw).items():
        t0 = time.monotonic()
        res = _invoke(out, _run_args(prof, *extra), tmp_path)
        seconds = time.monotonic() - t0
        assert res.exit_code == 2, (case, res.output)
        lines = [ln for ln in res.output.splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: "), (case, res.output)
        assert path in lines[0] and phrase in lines[0], (case, lines[0])
        assert seconds < 10, (case, seconds)
    assert not (rw / "out" / "jobs").exists()  # nothing was started


def test_read_only_out_root_real_process_exits_2_fast(tmp_path):
    """A real ``bench run`` process on a read-only tmpfs ``$LDSEG_OUT`` (skipped where this
    process cannot mount): exit 2 with one line in < 10 s, start-up included (the check comes
    before the runner's heavy imports)."""
    ro = tmp_path / "ro"
    if not _mount_tmpfs(ro, "1m"):
        pytest.skip("cannot mount a tmpfs here (not root?)")
    try:
        subprocess.run(["mount", "-o", "remount,ro", str(ro)], check=True, capture_output=True)
        prof = _profile(tmp_path, "faults", steps=6, every=2)
        t0 = time.monotonic()
        res = subprocess.run(
            _bench(_run_args(prof)),
            env=_env(ro, tmp_path / "reports"),
            capture_output=True,
            text=True,
            timeout=60,
        )
        seconds = time.monotonic() - t0
    finally:
        _umount(ro)
    assert res.returncode == 2, res.stdout + res.stderr
    assert (
        res.stderr.strip()
        == f"error: {ro}: the output root is not writable (read-only file system)"
    )
    assert seconds < 10


def test_mlflow_sqlite_retries_are_bounded(tmp_path, monkeypatch):
    """With our own check skipped, MLflow itself meets a database it cannot open: the error
    is one line (StoreError) after a few seconds, not MLflow's ~100 s of retries."""
    db = tmp_path / "dir.db"
    db.mkdir()  # sqlite: "unable to open database file"
    monkeypatch.setattr(tracking, "check_store", lambda uri: None)
    import mlflow.store.tracking.sqlalchemy_store  # noqa: F401 - imports are not the retries

    t0 = time.monotonic()
    with pytest.raises(StoreError, match="unable to open database file"):
        Tracker(f"sqlite:///{db}", tmp_path)
    assert time.monotonic() - t0 < 5


# -- full disk -----------------------------------------------------------------------------------
class FullDisk:
    """Fills the disk right after the ``after``-th checkpoint save of the test's train job.

    With a mounted tmpfs: a filler file leaves less free space than one checkpoint (sqlite
    still has room for a few pages), so the next save really fails with ENOSPC. Without one:
    ``torch.save`` writes a few bytes, then raises ``OSError(ENOSPC)``."""

    def __init__(self, root: Path, mounted: bool, monkeypatch, after: int) -> None:
        self.root, self.mounted, self.mp, self.after = root, mounted, monkeypatch, after
        self.saves = 0
        self.full = False
        import benchmarks.train as train_mod

        real = train_mod.save_checkpoint

        def save(path, payload):
            real(path, payload)
            self.saves += 1
            if self.saves == self.after:
                self.fill(Path(path))

        monkeypatch.setattr(train_mod, "save_checkpoint", save)

    def fill(self, ckpt: Path) -> None:
        self.full = True
        if self.mounted:
            st = os.statvfs(self.root)
            free = st.f_bavail * st.f_frsize
            with open(self.root / "filler", "wb") as f:
                f.write(b"\0" * max(free - ckpt.stat().st_size // 2, 0))
            return
        real_save = torch.save

        def no_space(obj, f, *a, **kw):
            f.write(b"PK partial")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        self.mp.setattr(torch, "save", no_space)
        self.real_save = real_save

    def free(self) -> None:
        """Remove the fault (delete the filler / restore torch.save); saves are no longer hooked."""
        if self.mounted:
            (self.root / "filler").unlink()
        else:
            self.mp.setattr(torch, "save", self.real_save)
        self.after = -1


@pytest.fixture
def disk(tmp_path, monkeypatch):
    root = tmp_path / "disk"
    mounted = _mount_tmpfs(root, "64m")
    yield root, mounted, monkeypatch
    if mounted:
        _umount(root)


def test_full_disk_fails_the_sweep_cleanly_and_the_rerun_resumes(tmp_path, disk, template):
    """ENOSPC on a checkpoint save during ``bench run``: exit 2 with one line naming the
    checkpoint and "no space left on device", the child and the parent FAILED (none RUNNING),
    the last complete checkpoint loadable and no temporary file left; once space is freed the
    rerun resumes and logs the same metrics as an uninterrupted sweep. (A tmpfs filled up
    where mounting works, else an injected ENOSPC; see :class:`FullDisk`.)"""
    root, mounted, mp = disk
    _seeded(root, template)
    prof = _profile(tmp_path, "faults", steps=12, every=2)
    args = _run_args(prof, "--report-dir", tmp_path / "report")
    fault = FullDisk(root, mounted, mp, after=2)  # full after the step-4 checkpoint

    res = _invoke(root, args, tmp_path)
    assert fault.full
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.output.splitlines() if ln.startswith("error: ")]
    assert len(lines) == 1 and "no space left on device" in lines[0], res.output
    assert "Traceback" not in res.output
    ckpt = next((root / "jobs").glob("*/checkpoint.pt"))
    assert str(ckpt) in lines[0]
    assert load_checkpoint(ckpt)["step"] == 4
    assert not list(ckpt.parent.glob("*.tmp"))
    runs = _runs(root)
    status = {r.data.tags[ROLE_TAG]: r.info.status for r in runs}
    assert status == {"child": "FAILED", "sweep": "FAILED"}, status
    failed_child = _by_role(runs, "child")[0]
    assert "no space left on device" in failed_child.data.tags["error"]

    fault.free()
    res = _invoke(root, args, tmp_path)
    assert res.exit_code == 0, res.output
    runs = _runs(root)
    assert "RUNNING" not in {r.info.status for r in runs}
    resumed = [r for r in _by_role(runs, "child") if r.info.status == "FINISHED"]
    assert len(resumed) == 1

    clean = _seeded(tmp_path / "clean", template)
    res = _invoke(clean, args, tmp_path)
    assert res.exit_code == 0, res.output
    (once,) = _by_role(_runs(clean), "child")
    assert _scores(resumed[0]) == _scores(once)
    assert "dsc" in _scores(once)


def test_full_disk_in_bench_train_exits_2_and_resumes(tmp_path, monkeypatch):
    """``bench train`` on ENOSPC (injected into the 2nd checkpoint save): exit 2, one line, the
    step-2 checkpoint intact; the rerun resumes to the uninterrupted run's metrics."""
    prof = _profile(tmp_path, "faults", steps=6, every=2)
    out = tmp_path / "run"
    args = ["train", "unet", "-d", "synth2d", "--profile", prof, "--out"]
    fault = FullDisk(tmp_path, False, monkeypatch, after=1)
    res = _invoke(tmp_path / "o", [*args, out], tmp_path)
    assert fault.full and res.exit_code == 2, res.output
    lines = [ln for ln in res.output.splitlines() if ln.startswith("error: ")]
    assert len(lines) == 1 and f"{out / 'checkpoint.pt'}: no space left on device" in lines[0]
    assert load_checkpoint(out / "checkpoint.pt")["step"] == 2
    assert not (out / "checkpoint.pt.tmp").exists()
    fault.free()
    assert _invoke(tmp_path / "o", [*args, out], tmp_path).exit_code == 0
    assert _invoke(tmp_path / "o", [*args, tmp_path / "once"], tmp_path).exit_code == 0

    def metrics(d):
        m = json.loads((d / "metrics.json").read_text())
        return {k: v for k, v in m.items() if not k.endswith("_seconds")}

    assert metrics(out) == metrics(tmp_path / "once")


def test_a_lock_holder_closes_another_hosts_running_child(tmp_path, template):
    """A Ray worker killed on another node leaves its child RUNNING; the retry (which holds the
    child's lock on the shared store) closes it instead of leaving it RUNNING forever. Without
    the lock another host's run is left alone, and a live owner's always."""
    tracker = Tracker(None, _seeded(tmp_path, template))
    exp = tracker.experiment_id("stale-lock")
    mine = tracker.start_run(exp, "mine", {ROLE_TAG: "child"})
    foreign = tracker.start_run(exp, "foreign", {ROLE_TAG: "child"})
    tracker.log(foreign, tags={tracking.HOST_TAG: "another-host", tracking.PID_TAG: "1"})
    # a process of this host that is still there (a killed worker not reaped yet)
    lingering = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        unreaped = tracker.start_run(exp, "unreaped", {ROLE_TAG: "child"})
        tracker.log(unreaped, tags={tracking.PID_TAG: str(lingering.pid)})
        tracker.log(unreaped, tags={tracking.PID_START_TAG: tracking.process_start(lingering.pid)})
        assert tracker.close_stale(exp) == []
        assert sorted(tracker.close_stale(exp, lock_held=True)) == sorted([foreign, unreaped])
    finally:
        lingering.kill()
        lingering.wait()
    status = {r.info.run_id: r.info.status for r in tracker.search(exp)}
    assert status == {mine: "RUNNING", foreign: "FAILED", unreaped: "FAILED"}
