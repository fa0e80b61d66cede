"""The default torch thread count (issue 16: no 2-threads-while-busy cliff) and the script that
measures it."""

from __future__ import annotations

import json
import os
import sys

import pytest
import torch
from typer.testing import CliRunner

from benchmarks import settings, thread_policy
from benchmarks.cli import app
from benchmarks.settings import default_threads

runner = CliRunner()


@pytest.mark.parametrize(
    ("cpus", "load1", "expected"),
    [
        (1, 0.0, 1),
        (2, 0.0, 1),  # a small machine's load can change any moment: always 1
        (2, 5.0, 1),
        (4, 3.5, 1),  # at least one
        (8, 0.0, 8),
        (8, 20.0, 1),
        (16, 3.2, 12),  # the cores the load leaves idle
    ],
)
def test_default_threads(cpus, load1, expected):
    assert default_threads(cpus, load1) == expected


@pytest.fixture
def threads_restored():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def _threads_after(env: dict) -> int:
    torch.set_num_threads(4)  # torch's default on a 4-core machine
    res = runner.invoke(app, ["experiments"], env={"LDSEG_THREADS": None, **env})
    assert res.exit_code == 0, res.output
    return torch.get_num_threads()


def test_cli_applies_the_policy_unless_told(monkeypatch, threads_restored):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(os, "getloadavg", lambda: (1.5, 0.0, 0.0))
    monkeypatch.setattr(settings, "usable_cpus", lambda: 2)
    assert _threads_after({}) == 1
    monkeypatch.setattr(settings, "usable_cpus", lambda: 8)
    assert _threads_after({}) == 4  # 8 - ceil(1.5) = 6 idle, capped at torch's 4
    monkeypatch.setattr(settings, "usable_cpus", lambda: 4)
    assert _threads_after({}) == 2
    assert _threads_after({"LDSEG_THREADS": "3"}) == 3  # explicit wins
    assert _threads_after({"OMP_NUM_THREADS": "4"}) == 4  # the user's OpenMP setting is kept


def test_before_torch_loads_the_count_goes_to_omp_num_threads(monkeypatch):
    """Commands that never load torch do not pay for it: the count waits in OMP_NUM_THREADS."""
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delitem(sys.modules, "torch")
    monkeypatch.setattr(os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    monkeypatch.setattr(settings, "usable_cpus", lambda: 2)
    settings.apply_torch_threads(None)
    assert os.environ["OMP_NUM_THREADS"] == "1"
    monkeypatch.delenv("OMP_NUM_THREADS")
    monkeypatch.setattr(settings, "usable_cpus", lambda: 8)
    settings.apply_torch_threads(None)
    assert "OMP_NUM_THREADS" not in os.environ  # an idle larger machine: torch's default
    settings.apply_torch_threads(2)
    assert os.environ["OMP_NUM_THREADS"] == "2"
    assert "torch" not in sys.modules


def test_thread_policy_worker_times_ldseg(capsys, threads_restored):
    """The measuring script's worker (one configuration): LDSeg at 256^2, one timed call."""
    thread_policy.main(["--worker", "1", "--warmup", "0", "--repeats", "1"])
    row = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert row["threads"] == 1 and row["median_s"] > 0 and len(row["times_s"]) == 1
    text = thread_policy._table([{"config": "1 thread", "busy": True, "load1_before": 0.5, **row}])
    assert "1 busy proc" in text and "256^2" in text
