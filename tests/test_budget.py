"""The training-budget curve (issue 12 item 3): inference-weight snapshots kept by one training
run at several step counts, and ``bench run budget`` scoring them without retraining."""

import pytest
import torch

from benchmarks.checkpoint import load_checkpoint
from benchmarks.configs import from_dict
from benchmarks.errors import ConfigError
from benchmarks.train import TrainConfig, Trainer, snapshot_path


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
