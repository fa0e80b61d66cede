"""k-fold cross-validation by volume (Table III, issue 12 item 6): every knee volume is held out
exactly once, and the fold enters a job's identity only when folds are used."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from benchmarks.data import open_source
from benchmarks.data.registry import split_record
from benchmarks.data.splits import partition
from benchmarks.pipeline import JobSpec
from benchmarks.profiles import load_profile
from benchmarks.trained import resolved_config, train_hash
from reports.folds import metric_columns, per_fold_table, pooled_table


@pytest.mark.realdata
def test_five_knee_folds_hold_out_every_volume_exactly_once(knee_dir):
    cases = open_source("knee3d", path=knee_dir).cases()
    volumes = [c.group for c in cases]
    assert volumes == ["case1", "case2", "case3", "case4", "case5"]  # the shared files
    held_out = []
    for k in range(5):
        parts = partition(cases, fold=k, num_folds=5)
        test = [c.case_id for c in parts["test"]]
        train = [c.case_id for c in parts["train"]]
        assert test == [f"case{k + 1}"]  # natural order: fold k holds out case k+1
        assert sorted(train + test) == volumes and parts["val"] == []
        held_out += test
    assert sorted(held_out) == volumes  # each once, none twice
    record = split_record("knee3d", path=knee_dir, fold=2, num_folds=5)
    assert record["test"] == ["case3"] and "fold 2 of 5" in record["rule"]


def test_the_fold_is_part_of_the_job_identity_only_when_used():
    prof = load_profile("smoke")
    plain = JobSpec("unet", "synth3d", "smoke")
    assert "fold" not in resolved_config(plain, prof)["job"]  # hashes from before folds
    f0 = JobSpec("unet", "synth3d", "smoke", fold=0, num_folds=2)
    f1 = JobSpec("unet", "synth3d", "smoke", fold=1, num_folds=2)
    job = resolved_config(f0, prof)["job"]
    assert (job["fold"], job["num_folds"]) == (0, 2)
    hashes = {train_hash(s, prof) for s in (plain, f0, f1)}
    assert len(hashes) == 3
    assert json.dumps(f0.fold_keys) == '{"fold": 0, "num_folds": 2}' and plain.fold_keys == {}


def _fold_cases() -> pd.DataFrame:
    """ldseg, 5 folds (fold k holds out case k+1), 2 seeds; DSC_FC = 0.5 + 0.1 k + 0.02 seed."""
    rows = []
    for k in range(5):
        for seed in (0, 1):
            fc, tc = 0.5 + 0.1 * k + 0.02 * seed, 0.4
            rows.append(
                {"case_id": f"case{k + 1}", "dsc_FC": fc, "dsc_TC": tc, "dsc_combined": 0.7}
                | {"dsc_mean": (fc + tc) / 2, "method": "ldseg", "seed": seed, "fold": k}
            )
    return pd.DataFrame(rows)


def test_pooled_dsc_is_over_the_held_out_volumes():
    from scipy import stats

    cases = _fold_cases()
    cols = metric_columns(cases, ["FC", "TC"])
    assert cols == ["dsc_FC", "dsc_TC", "dsc_combined"]
    pooled = pooled_table(cases, cols).iloc[0]
    assert (pooled["folds"], pooled["held-out cases"]) == (5, 5)
    per_volume = np.array([0.51, 0.61, 0.71, 0.81, 0.91])  # mean over the two seeds
    half = stats.t.ppf(0.975, 4) * per_volume.std(ddof=1) / np.sqrt(5)
    assert pooled["DSC FC"] == f"{per_volume.mean():.3f} ± {half:.3f}"
    assert pooled["DSC TC"] == "0.400 ± 0.000"
    folds = per_fold_table(cases, cols)
    assert list(folds["held out"]) == [f"case{k + 1}" for k in range(5)]
    seeds = np.array([0.7, 0.72])  # fold 2: 0.5 + 0.2 (+ 0.02)
    half = stats.t.ppf(0.975, 1) * seeds.std(ddof=1) / np.sqrt(2)
    assert folds.iloc[2]["DSC FC"] == f"0.710 ± {half:.3f}"


def test_a_volume_held_out_twice_is_refused():
    cases = _fold_cases()
    cases.loc[cases["fold"] == 1, "case_id"] = "case1"  # fold 1 tests case1 again
    with pytest.raises(ValueError, match=r"\['case1'\] held out by more than one fold"):
        pooled_table(cases, ["dsc_FC"])


TINY = """
name = "tinyfold"
description = "k-fold CLI test: knee3d at 8^3, 3 optimiser steps"
[datasets.knee3d]
size = [8, 8, 8]
[train]
steps = 3
batch_size = 2
checkpoint_every = 3
[eval]
num_inference_steps = 1
hd95 = false
native_resolution = false
[methods.ldseg]
num_downsamplings = 1
latent_channels = 2
label_encoder = { widths = [4, 8] }
image_encoder = { widths = [4, 8], attention_3d = false }
label_decoder = { widths = [8] }
denoiser = { channels = [8, 16], attention_levels = [false, false], num_res_blocks = 1, norm_num_groups = 4, num_head_channels = 4 }
[methods.resunet]
channels = [4, 8]
[experiments]
seeds = [0]
torch_threads = 1
qualitative_cases = 0
timing_warmup = 0
timing_repeats = 1
"""


@pytest.mark.realdata
def test_table3_two_fold_sweep_on_the_knee_volumes(knee_dir, tmp_path):
    from typer.testing import CliRunner

    from benchmarks.cli import app

    profile = tmp_path / "tinyfold.toml"
    profile.write_text(TINY)
    env = {
        "LDSEG_OUT": str(tmp_path / "out"),
        "LDSEG_REPORTS": str(tmp_path / "reports"),
        "LDSEG_DATA": str(knee_dir.parent),
        "MLFLOW_TRACKING_URI": None,
    }
    args = ["run", "table3", "--profile", str(profile), "--methods", "ldseg,resunet"]
    res = CliRunner().invoke(app, [*args, "--folds", "2"], env=env)
    assert res.exit_code == 0, res.output
    jobs = [p for p in (tmp_path / "out" / "jobs").iterdir() if p.is_dir()]
    assert len(jobs) == 4  # 2 methods x 2 folds, each its own train job
    held_out: dict[str, list[list[str]]] = {}
    per_case = []
    for job in jobs:
        split = json.loads((job / "split.json").read_text())
        method = json.loads((job / "metrics.json").read_text())["method"]
        assert not set(split["train"]) & set(split["test"])
        held_out.setdefault(method, []).append(split["test"])
        per_case.append(pd.read_csv(job / "per_case.csv").assign(method=method))
    for tests in held_out.values():  # array_split of 5 volumes into 2 folds: 3 + 2
        assert sorted(tests) == [["case1", "case2", "case3"], ["case4", "case5"]]
    out = tmp_path / "reports" / "table3"
    pooled = pd.read_csv(out / "table3_pooled.csv").set_index("method")
    cases = pd.concat(per_case)
    for method, g in cases.groupby("method"):
        row = pooled.loc[{"ldseg": "LDSeg", "resunet": "Res-Unet"}[method]]
        assert (row["folds"], row["held-out cases"]) == (2, 5)
        assert row["DSC FC"].startswith(f"{g['dsc_FC'].mean():.3f} ± ")
    assert len(pd.read_csv(out / "table3_folds.csv")) == 4
    assert "2-fold cross-validation" in (out / "report.md").read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["table3", "--folds", "1"], "folds = 1 leaves nothing to train on"),
        (["budget", "--folds", "5"], "--folds: budget is not an accuracy table"),
        (["table3", "--folds", "5", "--set", "folds=2"], "--folds 5 and --set folds=2 disagree"),
    ],
)
def test_bad_folds_are_one_line(args, message, tmp_path):
    from typer.testing import CliRunner

    from benchmarks.cli import app

    env = {"LDSEG_OUT": str(tmp_path / "out"), "MLFLOW_TRACKING_URI": None}
    res = CliRunner().invoke(app, ["run", *args, "--profile", "smoke"], env=env)
    assert res.exit_code == 2, res.output
    assert message in res.output and "Traceback" not in res.output


def test_accuracy_table_pools_folds_per_seed():
    """The main table's unit is the seed: a k-fold sweep's fold runs are pooled over their
    held-out cases first (case-weighted), so n, seeds and cases count seeds and volumes."""
    import pandas as pd

    from reports.tables import accuracy_table, pool_folds

    runs = pd.DataFrame(
        {
            "method": ["unet"] * 4,
            "dataset": ["synth2d"] * 4,
            "seed": [0, 0, 1, 1],
            "setting.fold": [0, 1, 0, 1],
            "n_cases": [1, 3, 1, 3],
            "dsc": [0.2, 0.6, 0.4, 0.8],
            "iou": [0.1, 0.5, 0.3, 0.7],
        }
    )
    pooled = pool_folds(runs, ["dsc", "iou"])
    assert list(pooled["seed"]) == [0, 1] and list(pooled["n_cases"]) == [4, 4]
    assert pooled["dsc"].tolist() == pytest.approx([(0.2 + 3 * 0.6) / 4, (0.4 + 3 * 0.8) / 4])
    table, long = accuracy_table(runs, "synth2d", "table2", skipped=[])
    row = table.iloc[0]
    assert row["seeds"] == 2 and row["cases"] == 4
    dsc = long[long["metric"] == "dsc"].iloc[0]
    assert dsc["n"] == 2 and dsc["mean"] == pytest.approx((0.5 + 0.7) / 2)
    assert pool_folds(runs.drop(columns="setting.fold"), ["dsc"]).equals(
        runs.drop(columns="setting.fold")
    )
