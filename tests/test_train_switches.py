"""The training switches the reference code differs in act: constant LR, clipping on/off, AMP."""

import pytest
import torch

from benchmarks.train import TrainConfig, Trainer


class _Linear(torch.nn.Module):
    """loss = 3 w0 + 4 w1: the gradient is (3, 4), its norm 5."""

    samples = False

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(2))
        self.autocast: list[bool] = []

    def loss(self, batch, generator=None):
        self.autocast.append(torch.is_autocast_enabled())
        return {"loss": self.w @ torch.tensor([3.0, 4.0], device=self.w.device)}

    def ema_target(self):
        return self


class _Data:
    def __len__(self):
        return 2

    def batch(self, idx, aug_seed=None):
        return {"image": torch.zeros(len(idx), 1, 2, 2)}


def _step(**kw) -> tuple[list[float], dict[str, float]]:
    cfg = TrainConfig(steps=3, batch_size=1, optimizer="sgd", momentum=0.0, nesterov=False, **kw)
    tr = Trainer(_Linear(), _Data(), cfg)
    tr.train_step(1)
    return tr.method.w.detach().tolist(), tr.state.last_stats


@pytest.mark.parametrize("off", [0.0, None])
def test_grad_clip_off_takes_the_full_gradient_step(off):
    w, stats = _step(lr=1.0, grad_clip=off)
    assert w == pytest.approx([-3.0, -4.0])
    assert stats["grad_norm"] == pytest.approx(5.0)


def test_grad_clip_on_rescales_to_the_max_norm():
    w, stats = _step(lr=1.0, grad_clip=1.0)
    assert w == pytest.approx([-0.6, -0.8])  # (3, 4) / 5
    assert stats["grad_norm"] == pytest.approx(5.0)  # reported before clipping


def test_constant_lr_every_step():
    cfg = TrainConfig(steps=5, batch_size=1, lr=1e-3, lr_schedule="constant", grad_clip=0)
    tr = Trainer(_Linear(), _Data(), cfg)
    seen = []
    for step in range(1, 6):
        tr.train_step(step)
        seen.append(tr.state.last_stats["lr"])
    assert seen == [1e-3] * 5
    exp = Trainer(_Linear(), _Data(), TrainConfig(steps=5, batch_size=1, lr=1e-3))
    exp.train_step(1)
    exp.train_step(2)  # the default "exp" decays: 1e-3 * 0.05 ** (1 / 5) at step 2
    assert exp.state.last_stats["lr"] == pytest.approx(1e-3 * 0.05 ** (1 / 5))


def test_amp_is_off_on_cpu_and_fp32_by_default():
    for amp in (False, True):
        tr = Trainer(_Linear(), _Data(), TrainConfig(steps=2, batch_size=1, amp=amp))
        tr.train_step(1)
        assert tr.method.autocast == [False]  # CPU: honoured on CUDA only


@pytest.mark.skipif(not torch.cuda.is_available(), reason="bf16 autocast is honoured on CUDA only")
def test_amp_autocasts_bf16_on_cuda():
    for amp in (False, True):
        tr = Trainer(_Linear(), _Data(), TrainConfig(steps=2, batch_size=1, amp=amp), device="cuda")
        tr.train_step(1)
        assert tr.method.autocast == [amp]
