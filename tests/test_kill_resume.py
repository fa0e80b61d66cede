"""Kill -9 a real `bench train` process mid-run, rerun it, and get the uninterrupted result."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

from benchmarks.profiles import PROFILE_DIR


def _bench(args):
    return [sys.executable, "-c", "from benchmarks.cli import main; main()", *args]


def _profile(tmp_path: Path) -> Path:
    text = (PROFILE_DIR / "smoke.toml").read_text()
    text = text.replace("steps = 30", "steps = 80").replace(
        "checkpoint_every = 10", "checkpoint_every = 5"
    )
    path = tmp_path / "smoke80.toml"
    path.write_text(text.replace('name = "smoke"', 'name = "smoke80"'))
    return path


def _metrics(path: Path) -> dict:
    m = json.loads((path / "metrics.json").read_text())
    return {k: v for k, v in m.items() if not k.endswith("_seconds")}


def test_kill_and_rerun_resumes_to_the_same_result(tmp_path):
    prof = _profile(tmp_path)
    env = {**os.environ, "LDSEG_THREADS": "1", "LDSEG_OUT": str(tmp_path / "out")}
    args = ["train", "ldseg", "--dataset", "synth2d", "--profile", str(prof), "--out"]
    killed = tmp_path / "killed"
    proc = subprocess.Popen(
        _bench([*args, str(killed)]),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    ckpt = killed / "checkpoint.pt"
    deadline = time.monotonic() + 120
    step = 0
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if ckpt.exists():
                try:
                    step = torch.load(ckpt, weights_only=True)["step"]
                except Exception:  # being replaced right now
                    step = 0
                if step >= 15:
                    break
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert 15 <= step < 80, f"could not interrupt mid-run (step {step})"
    assert not (killed / "metrics.json").exists()
    rerun = subprocess.run(
        _bench([*args, str(killed)]), env=env, capture_output=True, text=True, timeout=300
    )
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    full = tmp_path / "full"
    once = subprocess.run(
        _bench([*args, str(full)]), env=env, capture_output=True, text=True, timeout=300
    )
    assert once.returncode == 0, once.stderr[-2000:]
    assert _metrics(killed) == _metrics(full)
    a = torch.load(killed / "checkpoint.pt", weights_only=True)["model"]
    b = torch.load(full / "checkpoint.pt", weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
