import math

import pytest
import torch

from ldseg.config import ScheduleConfig
from ldseg.schedule import NoiseSchedule, cosine_betas, linear_betas


def test_cosine_closed_form_float64():
    s = NoiseSchedule(ScheduleConfig(kind="cosine", num_train_timesteps=1000))
    assert s.alpha_bar.dtype == torch.float64
    assert s.alpha_bar[0] == 1.0 and s.betas[0] == 0.0
    f = lambda t: math.cos(((t / 1000 + 0.008) / 1.008) * math.pi / 2) ** 2  # noqa: E731
    for t in (1, 10, 500, 900, 998):  # before the 0.999 clip bites
        assert s.alpha_bar[t].item() == pytest.approx(f(t) / f(0), rel=1e-10)
    # the last beta is clipped at max_beta, so alpha_bar_T = alpha_bar_{T-1} * 0.001
    assert s.betas[1000].item() == pytest.approx(0.999)
    assert s.alpha_bar[1000].item() == pytest.approx(s.alpha_bar[999].item() * 0.001, rel=1e-9)


def test_linear_closed_form():
    s = NoiseSchedule(ScheduleConfig(kind="linear", num_train_timesteps=1000))
    assert s.betas[1].item() == pytest.approx(1e-4)
    assert s.betas[1000].item() == pytest.approx(0.02)
    expected = torch.cumprod(1 - torch.linspace(1e-4, 0.02, 1000, dtype=torch.float64), 0)
    assert torch.allclose(s.alpha_bar[1:], expected, rtol=0, atol=1e-15)


@pytest.mark.parametrize("kind", ["cosine", "linear"])
@pytest.mark.parametrize("T", [10, 1000])
def test_schedule_invariants(kind, T):
    s = NoiseSchedule(ScheduleConfig(kind=kind, num_train_timesteps=T))
    assert len(s.betas) == T + 1
    assert torch.all(s.betas[1:] > 0) and torch.all(s.betas <= 0.999)
    assert torch.all(torch.diff(s.alpha_bar) < 0)  # strictly decreasing
    assert torch.allclose(s.alphas, 1 - s.betas)
    assert s.alpha_bar[-1] < 0.01 if kind == "cosine" else s.alpha_bar[-1] < 0.1


def test_add_noise_and_inverses_roundtrip():
    s = NoiseSchedule()
    g = torch.Generator().manual_seed(0)
    z0 = torch.randn(4, 2, 5, 5, generator=g, dtype=torch.float64)
    eps = torch.randn(4, 2, 5, 5, generator=g, dtype=torch.float64)
    t = torch.tensor([1, 10, 500, 999])
    z_t = s.add_noise(z0, eps, t)
    ab = s.alpha_bar[t].reshape(-1, 1, 1, 1)
    assert torch.allclose(z_t, ab.sqrt() * z0 + (1 - ab).sqrt() * eps)
    assert torch.allclose(s.predict_x0(z_t, eps, t), z0, atol=1e-9)
    assert torch.allclose(s.predict_eps(z_t, z0, t), eps, atol=1e-9)


def test_v_prediction_target_and_split_closed_form():
    """v = sqrt(abar) eps - sqrt(1-abar) z0; split(v) recovers (z0, eps) at every t, incl. T."""
    s = NoiseSchedule(ScheduleConfig(prediction="v"))
    g = torch.Generator().manual_seed(0)
    z0 = torch.randn(4, 2, 5, 5, generator=g, dtype=torch.float64)
    eps = torch.randn(4, 2, 5, 5, generator=g, dtype=torch.float64)
    t = torch.tensor([1, 10, 500, 1000])
    ab = s.alpha_bar[t].reshape(-1, 1, 1, 1)
    v = s.target(z0, eps, t)
    assert torch.allclose(v, ab.sqrt() * eps - (1 - ab).sqrt() * z0)
    z_t = s.add_noise(z0, eps, t)
    x0_hat, eps_hat = s.split(v, z_t, t)
    assert torch.allclose(x0_hat, z0, atol=1e-9) and torch.allclose(eps_hat, eps, atol=1e-9)
    # ||v - v_hat||^2 = ||eps - eps_hat||^2 + ||z0 - z0_hat||^2 (per element, any error)
    err = torch.randn(z0.shape, generator=g, dtype=torch.float64)
    x0_e, eps_e = s.split(v + err, z_t, t)
    assert torch.allclose(err**2, (eps_e - eps) ** 2 + (x0_e - z0) ** 2, atol=1e-9)
    # epsilon prediction: the target is eps and split is (predict_x0, eps)
    e = NoiseSchedule()
    assert torch.equal(e.target(z0, eps, t), eps)
    x0_e, eps_e = e.split(eps, z_t, t)
    assert torch.allclose(x0_e, z0, atol=1e-6) and torch.equal(eps_e, eps)
    with pytest.raises(ValueError, match="prediction"):
        NoiseSchedule(ScheduleConfig(prediction="x"))


def test_sample_timesteps_range_and_seed():
    s = NoiseSchedule(ScheduleConfig(num_train_timesteps=5))
    t = s.sample_timesteps(5000, torch.Generator().manual_seed(1))
    assert t.min() == 1 and t.max() == 5
    t2 = s.sample_timesteps(5000, torch.Generator().manual_seed(1))
    assert torch.equal(t, t2)


def test_kind_switch_changes_schedule():
    a = NoiseSchedule(ScheduleConfig(kind="cosine")).alpha_bar
    b = NoiseSchedule(ScheduleConfig(kind="linear")).alpha_bar
    assert not torch.allclose(a, b)
    assert torch.allclose(cosine_betas(1000)[:10], NoiseSchedule().betas[1:11])
    assert linear_betas(100)[0].item() == pytest.approx(1e-3)  # rescaled for T = 100


def test_bad_kind():
    with pytest.raises(ValueError, match="unknown schedule kind"):
        NoiseSchedule(ScheduleConfig(kind="sigmoid"))  # type: ignore[arg-type]
