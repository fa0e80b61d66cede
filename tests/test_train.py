"""The shared trainer: determinism, exact resume, NaN guard, LR schedules, checkpoints."""

import json
from dataclasses import replace

import pytest
import torch

from benchmarks.checkpoint import load_checkpoint, save_checkpoint
from benchmarks.errors import CheckpointError, TrainingError
from benchmarks.pipeline import JobSpec, load_trained, run_job
from benchmarks.profiles import load_profile
from benchmarks.train import TrainConfig, Trainer, lr_at, make_lr_schedule, make_optimizer


def _metrics(path):
    m = json.loads((path / "metrics.json").read_text())
    return {k: v for k, v in m.items() if not k.endswith("_seconds")}


@pytest.fixture(scope="module")
def smoke():
    return load_profile("smoke")


def test_same_seed_identical_and_resume_exact(tmp_path, smoke):
    spec = JobSpec("ldseg", "synth2d", "smoke", seed=3)
    full = run_job(spec, smoke, tmp_path / "full")
    run_job(spec, smoke, tmp_path / "again")
    assert _metrics(tmp_path / "full") == _metrics(tmp_path / "again")
    assert full["train_steps"] == 30 and full["finished"]
    # interrupted after 17 steps (last checkpoint at 10), then rerun with the same directory
    part = run_job(spec, smoke, tmp_path / "resumed", stop_after=17)
    assert part == {"finished": False, "step": 17}
    assert load_checkpoint(tmp_path / "resumed" / "checkpoint.pt")["step"] == 10
    run_job(spec, smoke, tmp_path / "resumed")
    assert _metrics(tmp_path / "resumed") == _metrics(tmp_path / "full")
    a = load_checkpoint(tmp_path / "full" / "checkpoint.pt")["model"]
    b = load_checkpoint(tmp_path / "resumed" / "checkpoint.pt")["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    # a different seed gives a different model
    other = run_job(replace(spec, seed=4), smoke, tmp_path / "other")
    c = load_checkpoint(tmp_path / "other" / "checkpoint.pt")["model"]
    assert not all(torch.equal(a[k], c[k]) for k in a)
    assert other["finished"]
    method, ckpt = load_trained(tmp_path / "full" / "checkpoint.pt")
    assert ckpt["method_name"] == "ldseg" and not method.training


class _Nan(torch.nn.Module):
    samples = False

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(1))

    def loss(self, batch, generator=None):
        return {"loss": self.w * float("nan")}

    def ema_target(self):
        return self


class _Data:
    def __len__(self):
        return 4

    def batch(self, idx, aug_seed=None):
        return {"image": torch.zeros(len(idx), 1, 4, 4), "label": torch.zeros(len(idx), 1, 4, 4)}


def test_nan_loss_stops_with_clear_error():
    tr = Trainer(_Nan(), _Data(), TrainConfig(steps=3, batch_size=2))
    with pytest.raises(TrainingError, match="loss is nan at step 1"):
        tr.fit()


@pytest.mark.parametrize("kind", ["exp", "poly", "constant"])
def test_lr_schedule_closed_form(kind):
    cfg = TrainConfig(steps=20, lr=0.1, lr_schedule=kind, lr_final_fraction=0.01)
    p = torch.nn.Parameter(torch.zeros(1))
    opt = make_optimizer([p], cfg)
    sched = make_lr_schedule(opt, cfg)
    for step in range(1, 21):
        opt.step()
        sched.step()
        assert opt.param_groups[0]["lr"] == pytest.approx(lr_at(cfg, step), rel=1e-9, abs=1e-12)


def test_optimizer_keys_honoured():
    p = [torch.nn.Parameter(torch.zeros(1))]
    sgd = make_optimizer(p, TrainConfig(optimizer="sgd", momentum=0.9, nesterov=False))
    assert isinstance(sgd, torch.optim.SGD) and sgd.defaults["momentum"] == 0.9
    assert not sgd.defaults["nesterov"]
    assert isinstance(make_optimizer(p, TrainConfig(optimizer="adamw")), torch.optim.AdamW)


def test_ema_is_tracked_and_swapped(tmp_path):
    class Lin(torch.nn.Module):
        samples = False

        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(1, 1)

        def loss(self, batch, generator=None):
            return {"loss": (self.lin(batch["image"].mean().reshape(1, 1)) - 5).pow(2).sum()}

        def ema_target(self):
            return self.lin

    m = Lin()
    tr = Trainer(
        m,
        _Data(),
        TrainConfig(steps=5, batch_size=2, lr=0.1, ema_decay=0.9, checkpoint_every=5),
        checkpoint=tmp_path / "c.pt",
    )
    tr.fit()
    raw = m.lin.bias.detach().clone()
    with tr.swapped_ema():
        ema = m.lin.bias.detach().clone()
    assert not torch.equal(raw, ema)  # EMA lags the raw weights
    assert torch.equal(m.lin.bias.detach(), raw)  # restored after the swap
    assert load_checkpoint(tmp_path / "c.pt")["ema"] is not None


def test_foreign_checkpoints_are_refused(tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="junk.pt: not a readable"):
        load_checkpoint(junk)
    other = tmp_path / "other.pt"
    torch.save({"state_dict": {}}, other)
    with pytest.raises(CheckpointError, match="no 'ldseg-bench-checkpoint' marker"):
        load_checkpoint(other)
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")
    ok = tmp_path / "ok.pt"
    save_checkpoint(ok, {"step": 1})
    assert load_checkpoint(ok)["step"] == 1
