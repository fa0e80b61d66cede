"""The sampling-method base (ldseg/sampling_method.py) that LDSeg, LSegDiff and the pixel-space
diffusion baselines share: predict's argument checks and N-sample batching, and LDSeg's predict
pinned to numbers computed before the base existed."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from benchmarks.configs import from_dict, without_moved_keys
from benchmarks.errors import ConfigError
from ldseg.config import LDSegConfig, SamplerConfig, SamplerSettings
from ldseg.model import LDSeg
from tests.test_ldseg_model import batch, tiny_config

# Computed with the code before the SamplingMethod refactor (commit e3a40fa): predict must give
# the same numbers for the same weights, seeds and sampler settings.
# (sampler, K, N) -> (sum of P(class 1), P[0, 1, 3, 5], P[1, 0, 10, 2], SD sum, foreground pixels)
PINNED = {
    ("ddim", 3, 2): (
        274.6002197265625,
        0.5362848043441772,
        0.48500490188598633,
        59.5048828125,
        366,
    ),
    ("ddpm", 2, 1): (273.42657470703125, 0.44360044598579407, 0.3403298854827881, None, 353),
}


def perturbed_ldseg() -> LDSeg:
    torch.manual_seed(0)
    m = LDSeg(replace(tiny_config(), sampler=SamplerSettings(x0_processing="standardize"))).eval()
    with torch.no_grad():  # off MONAI's zero-initialised output conv, so the denoiser matters
        g = torch.Generator().manual_seed(7)
        for p in m.denoiser.parameters():
            p.add_(0.2 * torch.randn(p.shape, generator=g))
    return m


@pytest.mark.parametrize("sampler, k, n", list(PINNED))
def test_ldseg_predict_matches_numbers_pinned_before_the_refactor(sampler, k, n):
    seg = perturbed_ldseg().predict(
        batch()["image"],
        num_inference_steps=k,
        sampler=sampler,
        num_samples=n,
        generator=torch.Generator().manual_seed(1),
    )
    total, p0, p1, sd, fg = PINNED[(sampler, k, n)]
    assert seg.probs[:, 1].sum().item() == pytest.approx(total, rel=1e-5)
    assert seg.probs[0, 1, 3, 5].item() == pytest.approx(p0, abs=1e-5)
    assert seg.probs[1, 0, 10, 2].item() == pytest.approx(p1, abs=1e-5)
    assert (seg.std is None) == (sd is None)
    if sd is not None:
        assert seg.std.sum().item() == pytest.approx(sd, rel=1e-5)
    assert int(seg.labels.sum()) == fg


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"sampler": "dpm"}, "unknown sampler 'dpm'; valid: ddim, ddpm"),
        ({"num_inference_steps": 0}, r"num_inference_steps must be an integer in \[1, 1000\]"),
        ({"num_inference_steps": 1001}, r"in \[1, 1000\], got 1001"),
        ({"num_inference_steps": 2.5}, r"in \[1, 1000\], got 2.5"),
        ({"num_samples": 0}, "num_samples must be an integer >= 1, got 0"),
        ({"num_samples": True}, "num_samples must be an integer >= 1, got True"),
    ],
)
def test_predict_refuses_bad_sampling_arguments_before_any_work(kw, match):
    m = perturbed_ldseg()
    calls = []
    m.image_encoder.register_forward_hook(lambda *a: calls.append(1))
    with pytest.raises(ValueError, match=match):
        m.predict(batch()["image"], **kw)
    assert not calls  # refused before the image is encoded


def test_predict_without_sampler_arguments_is_two_step_ddim_with_the_method_settings():
    """None = the paper's DDIM with K = 2, stepping with the method's own settings."""
    m, img = perturbed_ldseg(), batch()["image"]
    g = torch.Generator
    default = m.predict(img, generator=g().manual_seed(1)).probs
    explicit = m.predict(
        img, sampler="ddim", num_inference_steps=2, generator=g().manual_seed(1)
    ).probs
    assert torch.equal(default, explicit)
    full = SamplerConfig(x0_processing="standardize", name="ddim", num_inference_steps=2)
    assert torch.equal(default, m.predict(img, sampler=full, generator=g().manual_seed(1)).probs)
    other = SamplerConfig(name="ddim", num_inference_steps=2)  # no x0 standardisation
    assert not torch.equal(
        default, m.predict(img, sampler=other, generator=g().manual_seed(1)).probs
    )


def test_a_checkpoint_config_with_the_moved_sampler_keys_still_loads():
    """Configs stored before the sampler and K left the method config (they never acted)."""
    stored = {
        "num_downsamplings": 2,
        "sampler": {"name": "ddpm", "num_inference_steps": 9, "eta": 0.5},
    }
    with pytest.raises(ConfigError, match=r"num_inference_steps is set in \[eval\]"):
        from_dict(LDSegConfig, stored, where="ldseg")
    cfg = from_dict(LDSegConfig, without_moved_keys(LDSegConfig, stored), where="ldseg")
    assert cfg.sampler == SamplerSettings(eta=0.5) and cfg.num_downsamplings == 2
