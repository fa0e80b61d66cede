"""The experiment commands end to end through Typer's CliRunner, against a temporary MLflow
store (sqlite under a temporary $LDSEG_OUT) and real GlaS data from the shared data root.

One table2 smoke sweep (module fixture) feeds the cache, report, table5, steps, robustness and
runtime tests, which reuse its trained models.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import time
import types
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from benchmarks.experiments import ABLATIONS
from benchmarks.methods import registry
from reports.paper_numbers import display

REPO = Path(__file__).resolve().parents[1]
DATA = os.environ.get("LDSEG_DATA") or str(REPO.parent / "shared" / "data")
pytestmark = pytest.mark.skipif(
    not (Path(DATA) / "glas").is_dir(), reason="needs the shared data root (GlaS)"
)


def bench_app() -> typer.Typer:
    """``benchmarks.cli.app`` (with a stand-in for ``bench data`` if that module is absent)."""
    if importlib.util.find_spec("benchmarks.cli_data") is None:
        stub = types.ModuleType("benchmarks.cli_data")
        stub.data_app = typer.Typer()
        sys.modules["benchmarks.cli_data"] = stub
    from benchmarks.cli import app

    return app


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    return {
        "LDSEG_OUT": str(root / "out"),
        "LDSEG_REPORTS": str(root / "reports"),
        "LDSEG_DATA": DATA,
        "MLFLOW_TRACKING_URI": None,
    }


def bench(env, *args):
    t0 = time.perf_counter()
    res = CliRunner().invoke(bench_app(), list(args), env=env)
    return res, time.perf_counter() - t0


@pytest.fixture(scope="module")
def table2(env):
    return bench(env, "run", "table2", "--profile", "smoke")


def _client(env):
    from benchmarks.tracking import Tracker

    return Tracker(None, env["LDSEG_OUT"])


def test_table2_smoke_sweep(table2, env):
    res, seconds = table2
    assert res.exit_code == 0, res.output
    assert seconds < 180, f"table2 smoke took {seconds:.0f} s"
    two_d = sorted(n for n, s in registry().items() if 2 in s.dims and n not in ABLATIONS)
    md = (Path(env["LDSEG_REPORTS"]) / "table2" / "report.md").read_text()
    for m in two_d:
        assert f"| {display(m)} |" in md, m
    assert (Path(env["LDSEG_REPORTS"]) / "table2" / "table2.csv").is_file()
    assert Path(env["LDSEG_OUT"], "mlflow.db").is_file()
    tracker = _client(env)
    exp = tracker.experiment_id("table2", create=False)
    children = tracker.search(exp, "tags.`bench.role` = 'child'")
    assert {r.data.tags["method"] for r in children} == set(two_d)
    assert all(r.info.status == "FINISHED" for r in children)


def test_second_run_reuses_everything(table2, env):
    tracker = _client(env)
    exp = tracker.experiment_id("table2", create=False)
    before = len(tracker.search(exp))
    res, seconds = bench(env, "run", "table2", "--profile", "smoke")
    assert res.exit_code == 0, res.output
    assert seconds < 20, f"cached rerun took {seconds:.1f} s"
    assert "cached" in res.output
    assert len(tracker.search(exp)) == before  # no new run: the parent is reused too


def test_report_command_reads_mlflow_only(table2, env, tmp_path):
    res, _ = bench(env, "report", "table2", "--out", str(tmp_path))
    assert res.exit_code == 0, res.output
    assert (tmp_path / "table2" / "report.md").read_text().startswith("# table2")
    assert (tmp_path / "table2" / "glas_qualitative.jpg").is_file()


@pytest.mark.parametrize(
    "args, message",
    [
        (["run", "table9"], "unknown experiment"),
        (["run", "table2", "--methods", "nope"], "unknown method"),
        (["run", "table5", "--methods", "unet"], "not part of table5"),
        (["run", "table2", "--profile", "nope"], "unknown profile"),
        (["run", "table2", "--seeds", "a,b"], "--seeds: 'a' is not an integer"),
        (["run", "steps", "--set", "stepz=1"], "--set"),
        (["report", "table3", "--out", "unused"], "run `bench run table3` first"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(env, args, message):
    res, _ = bench(env, *args)
    assert res.exit_code == 2, res.output
    assert message in res.output
    assert "Traceback" not in res.output


def test_experiments_list(env):
    res, _ = bench(env, "experiments")
    assert res.exit_code == 0
    for name in ("table1", "table4", "steps", "runtime", "robustness", "uncertainty"):
        assert name in res.output


def test_table5_smoke(table2, env):
    res, _ = bench(env, "run", "table5", "--profile", "smoke")
    assert res.exit_code == 0, res.output
    md = (Path(env["LDSEG_REPORTS"]) / "table5" / "report.md").read_text()
    for m in ("ldseg", *ABLATIONS):
        assert f"| {display(m)} |" in md


def test_steps_reuses_the_table2_model(table2, env):
    jobs = set(os.listdir(Path(env["LDSEG_OUT"]) / "jobs"))
    res, _ = bench(
        env,
        "run",
        "steps",
        "--profile",
        "smoke",
        "--methods",
        "ldseg",
        "--set",
        "steps_datasets=glas",
    )
    assert res.exit_code == 0, res.output
    assert set(os.listdir(Path(env["LDSEG_OUT"]) / "jobs")) == jobs  # nothing trained
    md = (Path(env["LDSEG_REPORTS"]) / "steps" / "report.md").read_text()
    assert "K=1" in md and "K=10" in md
    assert (Path(env["LDSEG_REPORTS"]) / "steps" / "steps.png").is_file()


def test_robustness_smoke(table2, env):
    res, _ = bench(env, "robustness", "--sigma", "0.2", "--profile", "smoke", "--datasets", "glas")
    assert res.exit_code == 0, res.output
    md = (Path(env["LDSEG_REPORTS"]) / "robustness" / "report.md").read_text()
    assert "sigma=0.2" in md and "sigma=0 " in md and "| Res-Unet |" in md


def test_runtime_smoke(env):
    res, _ = bench(
        env,
        "runtime",
        "--sizes",
        "64,128",
        "--sampling-steps",
        "2",
        "--repeats",
        "1",
        "--warmup",
        "1",
        "--methods",
        "ldseg,resunet,medsegdiff",
        "--profile",
        "smoke",
    )
    assert res.exit_code == 0, res.output
    md = (Path(env["LDSEG_REPORTS"]) / "runtime" / "report.md").read_text()
    assert "untrained weights" in md and "| 128 | MedSegDiff-style (no FF-parser) |" in md
    assert "| ATen ops/image | µs/op |" in md  # the launch-bound diagnostic
    assert (Path(env["LDSEG_REPORTS"]) / "runtime" / "runtime.png").is_file()


def test_missing_data_root_is_exit_2(env, tmp_path):
    res, _ = bench({**env, "LDSEG_DATA": str(tmp_path / "nowhere")}, "run", "table2")
    assert res.exit_code == 2 and "data root not found" in res.output


def test_cached_only_assembles_without_computing(table2, env, tmp_path):
    """(Last in this module: it leaves a newer table2 sweep behind.) --cached-only renders from the store: seed 0 is there, seed 1 never ran (MISSING, exit 1,
    listed in the report), nothing is trained; --device cuda needs no GPU (only a hash label),
    and no cuda child is in this store."""
    jobs = Path(env["LDSEG_OUT"], "jobs")
    before = sorted(p.name for p in jobs.iterdir())
    out = tmp_path / "rep"
    args = ("run", "table2", "--profile", "smoke", "--methods", "unet", "--cached-only")
    res, _ = bench(env, *args, "--seeds", "0,1", "--report-dir", str(out))
    assert res.exit_code == 1, res.output
    assert "1 cached, 1 missing" in res.output
    assert "MISSING unet-glas-s1: not in the store" in res.output
    md = (out / "table2" / "report.md").read_text()
    assert "- missing: unet on glas (seed 1): not in the store" in md
    assert "assembled with `--cached-only`" in md
    assert sorted(p.name for p in jobs.iterdir()) == before  # nothing trained
    res, _ = bench(env, *args, "--seeds", "0", "--device", "cuda", "--report-dir", str(out))
    assert res.exit_code == 1, res.output
    assert "1 missing" in res.output and "CUDA is not available" not in res.output
