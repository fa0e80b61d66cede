"""Oracle tests: a denoiser that returns the true noise must let every sampler recover z_0."""

from dataclasses import replace

import pytest
import torch

from ldseg.config import SamplerConfig, ScheduleConfig
from ldseg.samplers import sample, standardize, timesteps
from ldseg.schedule import NoiseSchedule


def oracle(schedule: NoiseSchedule, z0: torch.Tensor):
    """eps(z_t, t) = (z_t - sqrt(abar_t) z0) / sqrt(1 - abar_t): the exact noise in z_t."""

    def denoise(z_t, t):
        return schedule.predict_eps(z_t, z0, t)

    return denoise


def test_timesteps_paper_rule():
    assert timesteps(2, 1000) == [1000, 1]
    assert timesteps(3, 1000) == [1000, 501, 1]  # 500.5 rounds half up
    assert timesteps(5, 1000) == [1000, 750, 501, 251, 1]  # 250.75, 500.5, 750.25
    assert timesteps(1, 1000) == [1000]
    assert timesteps(1000, 1000) == list(range(1000, 0, -1))
    assert timesteps(4, 10) == [10, 7, 4, 1]
    for K in (1, 2, 7, 50, 333, 999):
        ts = timesteps(K, 1000)
        assert len(ts) == K and ts[0] == 1000 and min(ts) >= 1
    with pytest.raises(ValueError):
        timesteps(0, 1000)
    with pytest.raises(ValueError):
        timesteps(1001, 1000)


@pytest.mark.parametrize("K", [1, 2, 3, 10, 50, 1000])
@pytest.mark.parametrize("kind", ["cosine", "linear"])
def test_ddim_oracle_recovers_z0(K, kind):
    s = NoiseSchedule(ScheduleConfig(kind=kind))
    g = torch.Generator().manual_seed(0)
    z0 = torch.randn(3, 2, 4, 4, generator=g, dtype=torch.float64)
    z_T = torch.randn(3, 2, 4, 4, generator=g, dtype=torch.float64)
    out = sample(oracle(s, z0), z_T, s, SamplerConfig(name="ddim"), num_inference_steps=K)
    assert torch.allclose(out, z0, atol=1e-4)


@pytest.mark.parametrize("K", [1, 2, 10, 1000])
@pytest.mark.parametrize("sampler", ["ddim", "ddpm"])
def test_v_prediction_oracle_recovers_z0(K, sampler):
    """A denoiser that returns the true v = sqrt(abar) eps - sqrt(1 - abar) z0 lets both
    samplers recover z_0 when the schedule predicts v."""
    s = NoiseSchedule(ScheduleConfig(prediction="v"))
    g = torch.Generator().manual_seed(1)
    z0 = torch.randn(3, 2, 4, 4, generator=g, dtype=torch.float64)
    z_T = torch.randn(3, 2, 4, 4, generator=g, dtype=torch.float64)

    def denoise(z_t, t):
        return s.target(z0, s.predict_eps(z_t, z0, t), t)

    cfg = SamplerConfig(name=sampler)
    out = sample(
        denoise, z_T, s, cfg, num_inference_steps=K, generator=torch.Generator().manual_seed(2)
    )
    assert torch.allclose(out, z0, atol=1e-4)


@pytest.mark.parametrize("K", [2, 10, 100])
@pytest.mark.parametrize("variance", ["posterior", "beta"])
def test_ddpm_oracle_recovers_z0(K, variance):
    s = NoiseSchedule()
    g = torch.Generator().manual_seed(0)
    z0 = torch.randn(2, 1, 3, 3, 3, generator=g, dtype=torch.float64)  # 3D latents too
    z_T = torch.randn(z0.shape, generator=g, dtype=torch.float64)
    cfg = SamplerConfig(name="ddpm", ddpm_variance=variance)
    out = sample(
        oracle(s, z0),
        z_T,
        s,
        cfg,
        num_inference_steps=K,
        generator=torch.Generator().manual_seed(3),
    )
    assert torch.allclose(out, z0, atol=1e-4)


def test_ddim_stochastic_eta_oracle_and_noise():
    s = NoiseSchedule()
    z0 = torch.randn(2, 1, 4, 4, dtype=torch.float64)
    z_T = torch.randn(2, 1, 4, 4, dtype=torch.float64)
    cfg = SamplerConfig(name="ddim", eta=1.0)
    out = sample(
        oracle(s, z0),
        z_T,
        s,
        cfg,
        num_inference_steps=10,
        generator=torch.Generator().manual_seed(0),
    )
    assert torch.allclose(out, z0, atol=1e-4)


def test_ddpm_matches_algorithm2_line5():
    """One full-chain DDPM step equals 1/sqrt(a)(z - b/sqrt(1-ab) eps) + sigma n."""
    s = NoiseSchedule(ScheduleConfig(num_train_timesteps=10))
    z = torch.randn(1, 1, 2, 2, dtype=torch.float64)
    eps = torch.randn(1, 1, 2, 2, dtype=torch.float64)
    from ldseg.samplers import ddpm_step

    cfg = SamplerConfig(name="ddpm", ddpm_variance="beta")
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    got = ddpm_step(s, cfg, z, eps, 7, 6, g1)
    a, b, ab = s.alphas[7].item(), s.betas[7].item(), s.alpha_bar[7].item()
    n = torch.randn(z.shape, generator=g2, dtype=torch.float64)
    want = (z - b / (1 - ab) ** 0.5 * eps) / a**0.5 + b**0.5 * n
    assert torch.allclose(got, want, atol=1e-12)
    # last step adds no noise (Algorithm 2, line 4)
    last = ddpm_step(s, cfg, z, eps, 1, 0, torch.Generator().manual_seed(5))
    assert torch.allclose(
        last,
        (z - s.betas[1].item() / (1 - s.alpha_bar[1].item()) ** 0.5 * eps)
        / s.alphas[1].item() ** 0.5,
        atol=1e-12,
    )


def test_every_sampler_key_changes_the_result():
    """No accepted-but-ignored sampler key: changing each one changes the output."""
    s = NoiseSchedule()
    g = torch.Generator().manual_seed(0)
    z_T = torch.randn(2, 1, 4, 4, generator=g)
    w = torch.randn(1, 1, 4, 4, generator=g)

    def imperfect(z_t, t):  # a denoiser that is not the oracle
        return 0.9 * z_t + 0.1 * w + 1e-4 * t.float().reshape(-1, 1, 1, 1)

    def run(cfg, K=None):
        return sample(
            imperfect,
            z_T,
            s,
            cfg,
            num_inference_steps=K,
            generator=torch.Generator().manual_seed(1),
        )

    base = SamplerConfig(name="ddim", num_inference_steps=5)
    ref = run(base)
    variants = {
        "name": replace(base, name="ddpm"),
        "num_inference_steps": replace(base, num_inference_steps=7),
        "eta": replace(base, eta=0.5),
        "x0_processing": replace(base, x0_processing="standardize"),
        "renormalize": replace(base, renormalize="batch"),
        "timestep_grid": replace(base, timestep_grid="linspace"),
    }
    for key, cfg in variants.items():
        assert not torch.allclose(run(cfg), ref), key
    clip_a = replace(base, x0_processing="clip", x0_clip=0.5)
    assert not torch.allclose(run(clip_a), run(replace(clip_a, x0_clip=2.0))), "x0_clip"
    ddpm = replace(base, name="ddpm")
    assert not torch.allclose(run(ddpm), run(replace(ddpm, ddpm_variance="beta"))), "variance"
    assert not torch.allclose(run(base, K=3), ref), "num_inference_steps override"
    per = replace(base, renormalize="sample")
    assert not torch.allclose(run(per), run(replace(base, renormalize="batch"))), "renorm"
    v = NoiseSchedule(ScheduleConfig(prediction="v"))
    out_v = sample(imperfect, z_T, v, base, generator=torch.Generator().manual_seed(1))
    assert not torch.allclose(out_v, ref), "schedule.prediction"


def test_standardize():
    z = torch.randn(3, 2, 5, 5) * 4 + 2
    out = standardize(z, "sample")
    assert torch.allclose(out.mean(dim=(1, 2, 3)), torch.zeros(3), atol=1e-5)
    assert torch.allclose(out.std(dim=(1, 2, 3), correction=0), torch.ones(3), atol=1e-4)
    assert torch.equal(standardize(z, "none"), z)


def test_same_generator_same_samples():
    s = NoiseSchedule()
    z_T = torch.randn(2, 1, 4, 4)
    cfg = SamplerConfig(name="ddpm")
    f = lambda z, t: 0.5 * z  # noqa: E731
    a = sample(f, z_T, s, cfg, num_inference_steps=5, generator=torch.Generator().manual_seed(9))
    b = sample(f, z_T, s, cfg, num_inference_steps=5, generator=torch.Generator().manual_seed(9))
    assert torch.equal(a, b)
