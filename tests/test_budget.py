"""The training-budget curve (issue 12 item 3): inference-weight snapshots kept by one training
run at several step counts, and ``bench run budget`` scoring them without retraining."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from benchmarks.checkpoint import load_checkpoint
from benchmarks.configs import from_dict
from benchmarks.errors import ConfigError
from benchmarks.train import TrainConfig, Trainer, snapshot_path
from reports.budget import gap_verdict


class _Lin(torch.nn.Module):
    samples = False

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.lin = torch.nn.Linear(1, 1)

    def loss(self, batch, generator=None):
        x = batch["image"].mean().reshape(1, 1) + torch.rand(1, 1, generator=generator)
        return {"loss": (self.lin(x) - 5).pow(2).sum()}

    def ema_target(self):
        return self.lin


class _Data:
    def __len__(self):
        return 4

    def batch(self, idx, aug_seed=None):
        return {"image": torch.zeros(len(idx), 1, 4, 4), "label": torch.zeros(len(idx), 1, 4, 4)}


def _cfg(**kw):
    base = dict(steps=6, batch_size=2, lr=0.1, ema_decay=0.5, checkpoint_every=100)
    return TrainConfig(**{**base, **kw})


def _ema_bias_after(steps: int, tmp_path) -> torch.Tensor:
    """The EMA bias an uninterrupted run holds after ``steps`` steps (no snapshots)."""
    tr = Trainer(_Lin(), _Data(), _cfg(), checkpoint=tmp_path / f"ref{steps}.pt")
    tr.fit(stop_after=steps)
    with tr.swapped_ema() as m:
        return m.lin.bias.detach().clone()


def test_snapshots_hold_the_inference_weights_at_their_steps(tmp_path):
    ckpt = tmp_path / "run" / "checkpoint.pt"
    tr = Trainer(_Lin(), _Data(), _cfg(snapshot_steps=(2, 4, 6)), checkpoint=ckpt)
    tr.fit()
    for step in (2, 4, 6):
        snap = load_checkpoint(snapshot_path(ckpt, step))
        assert snap["step"] == step and snap["ema"] is None and "optimizer" not in snap
        # the EMA weights (what predict uses), not the raw ones
        assert torch.equal(snap["model"]["lin.bias"], _ema_bias_after(step, tmp_path))
    assert sorted(p.name for p in (ckpt.parent / "snapshots").iterdir()) == [
        "step0000002.pt",
        "step0000004.pt",
        "step0000006.pt",
    ]
    times = [load_checkpoint(snapshot_path(ckpt, s))["elapsed_s"] for s in (2, 4, 6)]
    assert 0 < times[0] < times[1] < times[2]


def test_snapshots_survive_an_interrupted_run(tmp_path):
    full = tmp_path / "full" / "checkpoint.pt"
    Trainer(_Lin(), _Data(), _cfg(snapshot_steps=(3, 5)), checkpoint=full).fit()
    part = tmp_path / "part" / "checkpoint.pt"
    cfg = _cfg(snapshot_steps=(3, 5), checkpoint_every=2)
    Trainer(_Lin(), _Data(), cfg, checkpoint=part).fit(stop_after=4)  # checkpoint at step 4
    Trainer(_Lin(), _Data(), cfg, checkpoint=part).fit()  # resumes at 4, writes step 5
    for step in (3, 5):
        a = load_checkpoint(snapshot_path(full, step))["model"]
        b = load_checkpoint(snapshot_path(part, step))["model"]
        assert all(torch.equal(a[k], b[k]) for k in a)


def test_no_snapshots_by_default_and_late_ones_refused(tmp_path):
    ckpt = tmp_path / "c.pt"
    Trainer(_Lin(), _Data(), _cfg(), checkpoint=ckpt).fit()
    assert not (tmp_path / "snapshots").exists()
    with pytest.raises(ConfigError, match=r"snapshot_steps \[8\] lie beyond steps = 6"):
        from_dict(TrainConfig, {"steps": 6, "snapshot_steps": [2, 8]}, where="train")
    with pytest.raises(ConfigError, match="snapshot_steps"):
        from_dict(TrainConfig, {"snapshot_steps": [0]}, where="train")


# -- the report's verdict, on hand-made frames ----------------------------------------------------
def _frame(dsc: dict[tuple[str, int, int], float]) -> pd.DataFrame:
    rows = [{"method": m, "seed": s, "steps": n, "dsc": v} for (m, s, n), v in dsc.items()]
    return pd.DataFrame(rows)


def test_gap_verdict_one_seed_uses_the_tolerance():
    closing = _frame(
        {
            ("ldseg", 0, 200): 0.5,
            ("ldseg", 0, 800): 0.75,
            ("unet", 0, 200): 0.8,
            ("unet", 0, 800): 0.8,
        }
    )
    verdict, sentence = gap_verdict(closing)
    assert verdict == "closes"
    assert "+0.300 DSC at 200 steps and +0.050 at 800 steps" in sentence
    assert "change -0.250" in sentence
    flat = _frame(
        {
            ("ldseg", 0, 200): 0.5,
            ("ldseg", 0, 800): 0.605,
            ("unet", 0, 200): 0.8,
            ("unet", 0, 800): 0.9,
        }
    )
    assert gap_verdict(flat)[0] == "holds"  # 0.300 -> 0.295: within ±0.01
    growing = _frame(
        {
            ("ldseg", 0, 200): 0.7,
            ("ldseg", 0, 800): 0.7,
            ("unet", 0, 200): 0.7,
            ("unet", 0, 800): 0.9,
        }
    )
    assert gap_verdict(growing)[0] == "grows"
    passing = _frame(
        {
            ("ldseg", 0, 200): 0.6,
            ("ldseg", 0, 800): 0.95,
            ("unet", 0, 200): 0.8,
            ("unet", 0, 800): 0.9,
        }
    )
    assert "LDSeg reaches or passes U-net by 800 steps" in gap_verdict(passing)[1]


def test_gap_verdict_several_seeds_uses_the_t_interval():
    from scipy import stats

    # per-seed change of (unet - ldseg) from 200 to 800 steps: -0.10, -0.12, -0.11
    changes = [-0.10, -0.12, -0.11]
    dsc = {}
    for s, c in enumerate(changes):
        dsc |= {("unet", s, 200): 0.9, ("ldseg", s, 200): 0.6, ("unet", s, 800): 0.9}
        dsc[("ldseg", s, 800)] = 0.6 - c
    verdict, sentence = gap_verdict(_frame(dsc))
    half = stats.t.ppf(0.975, 2) * np.std(changes, ddof=1) / np.sqrt(3)
    assert verdict == "closes"
    assert f"95% CI [{-0.11 - half:+.3f}, {-0.11 + half:+.3f}], 3 seeds" in sentence
    dsc[("ldseg", 2, 800)] = 0.6 - 0.30  # one seed's gap grows a lot: the CI straddles 0
    assert gap_verdict(_frame(dsc))[0] == "holds"
    assert gap_verdict(_frame({("ldseg", 0, 200): 0.5, ("unet", 0, 200): 0.8}))[0] == "unknown"


@pytest.mark.parametrize(
    ("ci", "median", "p", "expected"),
    [
        ((-0.05, -0.01), -0.02, 0.001, "below U-net by both tests"),
        ((0.01, 0.05), 0.02, 0.001, "above U-net by both tests"),
        ((-0.04, 0.01), -0.01, 0.30, "not distinguishable from U-net by either test"),
        # the budget report's 3,200-step case: the mean's CI touches 0, the signed ranks do not
        (
            (-0.037, 0.001),
            -0.010,
            0.008,
            "borderline: the Wilcoxon test puts it below U-net, the bootstrap CI of the mean "
            "does not (alpha 0.05)",
        ),
        (
            (0.002, 0.04),
            0.001,
            0.20,
            "borderline: the bootstrap CI of the mean puts it above U-net, the Wilcoxon test "
            "does not (alpha 0.05)",
        ),
    ],
)
def test_paired_where_says_a_split_decision(ci, median, p, expected):
    from reports.budget import _paired_where

    row = pd.Series({"ci_low": ci[0], "ci_high": ci[1], "median_diff": median, "p_value": p})
    assert _paired_where(row, "U-net") == expected


# -- bench run budget end to end (CliRunner, temporary store) ---------------------------------------
def test_budget_smoke_sweep_trains_once_per_method(tmp_path):
    from typer.testing import CliRunner

    from benchmarks.cli import app

    env = {
        "LDSEG_OUT": str(tmp_path / "out"),
        "LDSEG_REPORTS": str(tmp_path / "reports"),
        "MLFLOW_TRACKING_URI": None,
    }
    args = ["run", "budget", "--profile", "smoke", "--methods", "ldseg,unet,lsegdiff"]
    args += ["--set", "budget_steps=2,8"]  # lsegdiff switches stage at round(0.4 * 8) = 3
    res = CliRunner().invoke(app, args, env=env)
    assert res.exit_code == 0, res.output
    jobs = sorted(p for p in (tmp_path / "out" / "jobs").iterdir() if p.is_dir())
    assert len(jobs) == 3  # one train job per method, not one per budget
    final = {}
    for job in jobs:
        metrics = json.loads((job / "metrics.json").read_text())
        assert metrics["train_steps"] == 8
        assert sorted(p.name for p in (job / "snapshots").iterdir()) == [
            "step0000002.pt",
            "step0000008.pt",
        ]
        final[metrics["method"]] = metrics["dsc"]
    out = tmp_path / "reports" / "budget"
    csv = pd.read_csv(out / "budget.csv")
    dsc = csv[csv["metric"] == "dsc"].set_index(["method", "steps"])["mean"]
    assert sorted(dsc.index) == [(m, n) for m in ("ldseg", "lsegdiff", "unet") for n in (2, 8)]
    for m, v in final.items():  # the last snapshot is the final model: the same test DSC
        assert dsc[(m, 8)] == pytest.approx(v, abs=1e-9)
    secs = csv[csv["metric"] == "train_seconds"].set_index(["method", "steps"])["mean"]
    assert all(0 < secs[(m, 2)] < secs[(m, 8)] for m in final)
    assert (out / "budget.png").stat().st_size > 10_000
    report = (out / "report.md").read_text()
    gap2, gap8 = dsc[("unet", 2)] - dsc[("ldseg", 2)], dsc[("unet", 8)] - dsc[("ldseg", 8)]
    assert f"{gap2:+.3f} DSC at 2 steps and {gap8:+.3f} at 8 steps" in report
    assert (
        "LSegDiff-style is two-stage: its snapshots at 2 steps precede the stage switch" in report
    )
    paired = pd.read_csv(out / "budget_paired.csv").set_index("steps")
    assert sorted(paired.index) == [2, 8]
    for n in (2, 8):  # per-case pairs: the mean difference is the difference of the means
        row = paired.loc[n]
        assert row["mean_diff"] == pytest.approx(dsc[("ldseg", n)] - dsc[("unet", n)], abs=1e-6)
        assert row["ci_low"] <= row["mean_diff"] <= row["ci_high"]
        assert 0 <= row["p_value"] <= 1
    assert "At 8 steps LDSeg − U-net = " in report and "| p Wilcoxon |" in report
    again = CliRunner().invoke(app, args, env=env)  # everything cached: no new job
    assert again.exit_code == 0, again.output
    assert len([p for p in (tmp_path / "out" / "jobs").iterdir() if p.is_dir()]) == 3


def test_bench_plan_costs_the_budget_run_once_per_method():
    from benchmarks.plan_costs import plan_costs
    from benchmarks.profiles import load_profile

    jobs = plan_costs("budget", load_profile("smoke"), methods=("ldseg", "unet"))
    assert [(j.method, j.train_steps) for j in jobs] == [("ldseg", 8), ("unet", 8)]
