"""The sampling-method base (ldseg/sampling_method.py) that LDSeg, LSegDiff and the pixel-space
diffusion baselines share: predict's argument checks and N-sample batching, and LDSeg's predict
pinned to numbers computed before the base existed."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from ldseg.config import SamplerSettings
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
