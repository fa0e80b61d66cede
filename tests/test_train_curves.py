"""Training curves in MLflow: every step of a train job (loss, loss terms, LR, gradient norm,
images/s) on the run that trained it, written in batches; a child that reuses the trained job
links to that run. Tiny fake method on ``synth2d`` (smoke profile: 30 steps)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from benchmarks import experiments, methods
from benchmarks.experiments import Experiment
from benchmarks.runner import RunOptions, run_experiment
from benchmarks.tracking import Tracker
from benchmarks.train import TrainConfig, Trainer, TrainState, lr_at
from benchmarks.train_curves import LINK_FILE, TRAIN_RUN_TAG, StepLogger, step_metrics
from ldseg.model import Segmentation


@dataclass(frozen=True)
class CurveConfig:
    spatial_dims: int = 2
    in_channels: int = 1
    num_classes: int = 2


class Curvy(nn.Module):
    samples = False

    def __init__(self, cfg: CurveConfig) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cfg.in_channels, cfg.num_classes, 1)

    def loss(self, batch, generator=None):
        ce = F.cross_entropy(self.conv(batch["image"]), batch["label"][:, 0])
        return {"loss": ce, "ce": ce.detach()}

    def predict(self, images, **kw):
        return Segmentation.from_samples(torch.softmax(self.conv(images), 1)[:, None])

    def ema_target(self):
        return self


@pytest.fixture(scope="module")
def registered():
    mp = pytest.MonkeyPatch()
    methods.registry()
    mp.setitem(
        methods._REGISTRY,
        "curvy",
        methods.MethodSpec(
            "curvy", "test fake", (2,), False, CurveConfig, lambda cfg, info: Curvy(cfg)
        ),
    )
    for name in ("curvesa", "curvesb"):  # two experiments that need the same train job
        mp.setitem(
            experiments.EXPERIMENTS,
            name,
            Experiment(name, "accuracy", name, "none", datasets=("synth2d",), dims=2),
        )
    yield
    mp.undo()


def test_train_job_steps_are_logged_and_reusers_link_to_them(tmp_path, registered, monkeypatch):
    calls = []
    real = StepLogger.flush

    def counting_flush(self):
        if self.buffer:
            calls.append(len(self.buffer))
        real(self)

    monkeypatch.setattr(StepLogger, "flush", counting_flush)
    opts = RunOptions(
        profile="smoke",
        out_root=str(tmp_path),
        tracking_uri=f"sqlite:///{tmp_path}/mlflow.db",
        methods=("curvy",),
        settings={"qualitative_cases": 0},
    )
    first = run_experiment("curvesa", opts)
    assert first.ok, [r.error for r in first.results]
    run_id = first.results[0].run_id
    client = Tracker(opts.tracking_uri, opts.out_root).client
    steps = 30  # the smoke profile's training budget
    for key in ("train/loss", "train/ce", "train/lr", "train/grad_norm", "train/images_per_s"):
        history = client.get_metric_history(run_id, key)
        assert sorted(m.step for m in history) == list(range(1, steps + 1)), key
    lrs = {m.step: m.value for m in client.get_metric_history(run_id, "train/lr")}
    assert lrs[1] > lrs[steps] > 0  # the smoke profile decays the LR
    assert all(m.value > 0 for m in client.get_metric_history(run_id, "train/images_per_s"))
    assert len(calls) <= 2 and sum(calls) == 5 * steps  # batched, not one write per point
    run = client.get_run(run_id)
    assert run.data.tags[TRAIN_RUN_TAG] == run_id
    job = Path(opts.out_root) / "jobs" / run.data.tags["train_hash"]
    assert json.loads((job / LINK_FILE).read_text())["run_id"] == run_id

    second = run_experiment("curvesb", opts)  # another experiment reusing the trained job
    assert second.ok
    other = client.get_run(second.results[0].run_id)
    assert other.data.tags["train_hash"] == run.data.tags["train_hash"]
    assert other.data.tags[TRAIN_RUN_TAG] == run_id
    assert f"runs/{run_id})" in other.data.tags["mlflow.note.content"]
    assert not client.get_metric_history(other.info.run_id, "train/loss")  # no retraining


def test_step_metrics_and_trainer_stats():
    class Data:
        def __len__(self):
            return 4

        def batch(self, idx, aug_seed=0):
            g = torch.Generator().manual_seed(aug_seed)
            image = torch.randn(len(idx), 1, 8, 8, generator=g)
            return {"image": image, "label": (image > 0).long()}

    cfg = TrainConfig(steps=4, batch_size=2, grad_clip=None, lr=1e-2, checkpoint_every=100)
    tr = Trainer(Curvy(CurveConfig()), Data(), cfg)
    seen = {}
    tr.fit(on_step=lambda step, terms: seen.setdefault(step, step_metrics(tr.state, step)))
    assert sorted(seen) == [1, 2, 3, 4]
    for step, m in seen.items():
        assert m["train/lr"] == pytest.approx(lr_at(cfg, step - 1))  # the LR the step used
        assert m["train/grad_norm"] > 0 and m["train/images_per_s"] > 0
        assert m["train/loss"] == pytest.approx(m["train/ce"])
    state = TrainState(step=2, curve=[{"step": 2, "minutes": 0.1, "dsc": 0.5, "iou": 0.25}])
    assert step_metrics(state, 2)["curve/test_dsc"] == 0.5
    assert "curve/test_dsc" not in step_metrics(state, 3)


def test_system_metrics_are_logged_only_when_asked(tmp_path, monkeypatch):
    from benchmarks.train_curves import SYSTEM_METRICS_ENV, system_metrics

    tracker = Tracker(f"sqlite:///{tmp_path}/mlflow.db", tmp_path)
    exp = tracker.experiment_id("sysmetrics")
    monkeypatch.setenv("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL", "0.2")
    runs = {}
    for on in (False, True):
        monkeypatch.setenv(SYSTEM_METRICS_ENV, "1" if on else "0")
        runs[on] = tracker.start_run(exp, f"on={on}", {})
        with system_metrics(tracker.uri, runs[on]):
            time.sleep(1.5)
    keys = {on: set(tracker.client.get_run(r).data.metrics) for on, r in runs.items()}
    assert not any(k.startswith("system/") for k in keys[False])
    assert "system/cpu_utilization_percentage" in keys[True], keys[True]
