"""Reports: statistics (t CI, formatting, paired Wilcoxon), the paper's numbers, and a rendered
report (Markdown + CSV + PNG) from a small two-seed sweep in a temporary MLflow store."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from test_runner import Tiny, TinyConfig  # the fake method of the runner tests

from benchmarks import experiments, methods
from benchmarks.experiments import Experiment
from benchmarks.runner import RunOptions, run_experiment
from reports import paper_numbers as paper
from reports.render import render_report
from reports.tables import accuracy_table, fmt, mean_ci, summarize, wilcoxon_vs_best


def test_mean_ci_uses_the_t_distribution():
    mean, half, n = mean_ci([1.0, 2.0, 3.0])
    assert (mean, n) == (2.0, 3)
    assert half == pytest.approx(4.302652729911275 * 1.0 / math.sqrt(3))  # t_.975,2 * sd/sqrt(n)
    m1, h1, n1 = mean_ci([0.5])
    assert (m1, n1) == (0.5, 1) and math.isnan(h1)
    assert mean_ci([])[2] == 0
    assert mean_ci([0.2, float("nan"), 0.4])[2] == 2


def test_formatting():
    assert fmt(0.81234, 0.0123, 3) == "0.812 ± 0.012"
    assert fmt(0.8, float("nan"), 1) == "0.800 (n=1)"
    assert fmt(float("nan"), float("nan"), 0) == "-"


def test_wilcoxon_pairs_cases_after_averaging_seeds():
    cases = [f"c{i}" for i in range(12)]
    rng = np.random.default_rng(0)
    base = rng.random(12) * 0.5

    def frame(v):
        return pd.DataFrame({"case_id": cases, "dsc_mean": v})

    per_case = {
        "ldseg": [frame(base + 0.3), frame(base + 0.32)],
        "unet": [frame(base), frame(base + 0.01)],
        "vnet": [frame(base - 0.1), frame(base - 0.1)],
    }
    res = wilcoxon_vs_best(per_case)
    assert res["baseline"] == "unet" and res["n_cases"] == 12
    assert res["median_diff"] == pytest.approx(0.305)
    assert res["p_value"] < 0.01  # ldseg better on every case
    assert wilcoxon_vs_best({"unet": per_case["unet"]}) is None


def test_paper_numbers_are_transcribed():
    assert paper.TABLE2_GLAS["ldseg"] == (0.91, 0.84)
    assert paper.TABLE2_GLAS["resunet"] == (0.86, 0.76)
    assert paper.TABLE1_ECHO["dsc"]["ldseg"] == (0.93, 0.87, 0.92)
    assert paper.TABLE3_KNEE["iou"]["nnunet"] == (0.93, 0.94, 0.93)
    assert paper.TABLE5_ABLATION["ldseg-ld-id"] == (0.47, 0.33)
    glas = paper.TABLE4_RUNTIME["glas"]
    assert glas[1000] / glas[2] == pytest.approx(paper.SPEEDUP_CLAIM, rel=0.01)
    assert paper.STEPS_FOR_MAX_DSC == {"ldseg": 2, "lsegdiff": 10, "medsegdiff": 700}
    assert "not the paper's echo data" in paper.label("echo-synth")


def test_accuracy_table_marks_skips_and_missing_rows():
    runs = pd.DataFrame(
        {
            "method": ["ldseg", "ldseg", "unet"],
            "dataset": ["glas"] * 3,
            "seed": [0, 1, 0],
            "dsc": [0.8, 0.9, 0.7],
            "iou": [0.7, 0.8, 0.6],
        }
    )
    table, long = accuracy_table(
        runs, "glas", "table2", [{"method": "sdfddpm", "dataset": "glas", "reason": "n/a"}]
    )
    rows = table.set_index("method")
    assert rows.loc["LDSeg", "DSC"].startswith("0.850 ± ")
    assert rows.loc["LDSeg", "DSC (paper)"] == "0.91"
    assert rows.loc["U-net", "DSC"] == "0.700 (n=1)"
    assert rows.loc["SDF-DDPM", "DSC"] == "n/a"
    assert rows.loc["MedT", "DSC"] == "not run"  # a paper row we do not implement
    assert table["method"].iloc[-1] == "LDSeg"
    assert set(long["metric"]) == {"dsc", "iou"}
    s = summarize(runs, ["dsc"], ["method"])
    assert s.set_index("method").loc["ldseg", "n"] == 2


# -- a rendered report -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    methods.registry()
    mp.setitem(
        methods._REGISTRY,
        "tiny",
        methods.MethodSpec(
            "tiny", "test fake", (2, 3), True, TinyConfig, lambda cfg, info: Tiny(cfg)
        ),
    )
    mp.setitem(
        experiments.EXPERIMENTS,
        "table2",
        Experiment(
            "table2",
            "accuracy",
            "DSC/IoU (test on synth2d)",
            "Table II",
            datasets=("synth2d",),
            dims=2,
        ),
    )
    root = tmp_path_factory.mktemp("reports")
    opts = RunOptions(
        profile="smoke",
        seeds=(0, 1),
        methods=("ldseg", "tiny"),
        out_root=str(root),
        tracking_uri=f"sqlite:///{root}/mlflow.db",
    )
    res = run_experiment("table2", opts)
    yield res, root, opts
    mp.undo()


def test_rendered_report(sweep):
    res, root, opts = sweep
    assert res.ok, [r.error for r in res.failed]
    out = render_report(
        "table2", tracking_uri=opts.tracking_uri, out_dir=root / "rep", out_root=root
    )
    assert out == root / "rep" / "table2"
    md = (out / "report.md").read_text()
    assert "| LDSeg |" in md and " ± " in md and "0.91" in md
    assert "Paired Wilcoxon signed-rank test over" in md
    assert "`method.loss.denoised` = eq12" in md  # the switches behind LDSeg's numbers
    assert "`eval.num_inference_steps` = 2" in md
    csv = pd.read_csv(out / "table2.csv")
    assert {"method", "metric", "mean", "ci95", "n", "paper"} <= set(csv.columns)
    assert set(csv["n"]) == {2}
    for name in ("synth2d_dsc.png", "synth2d_qualitative.jpg"):
        assert (out / name).stat().st_size > 1000
    assert (out / "synth2d_qualitative.jpg").read_bytes()[:2] == b"\xff\xd8"  # a JPEG


def test_report_of_an_unknown_sweep_is_a_config_error(sweep):
    from benchmarks.errors import ConfigError

    res, root, opts = sweep
    with pytest.raises(ConfigError, match="run `bench run table5` first"):
        render_report("table5", tracking_uri=opts.tracking_uri, out_dir=root / "rep", out_root=root)
