"""The noise of the robustness experiment (Fig. 8a, ``benchmarks/kinds/robustness.py``).

The noisy image follows the paper's eq. 19, ``I_sigma = I + N(0, sigma)``, with ``sigma`` used
as the **standard deviation** (as the reference code does; the paper calls it the variance),
followed by ``clip`` to [0, 1] (default; the images the models saw in training are in [0, 1]) or
per-image min-max rescaling (``robustness_rescale = "minmax"``, the reference code's choice).

The noise of test case ``i`` comes from its own generator seeded by
``(noise_seed, sigma, i)``, so every method sees exactly the same noisy images whatever its
batch size, and reruns are identical. Trained models are reused (no retraining).
"""

from __future__ import annotations

import torch

from benchmarks.trained import stable_hash


class GaussianNoise:
    """``transform(images, generator)`` for :func:`benchmarks.evaluate.evaluate`.

    Keeps a running case index (evaluate passes the test set in order); the sampler's
    ``generator`` is left untouched so the sampling noise does not depend on sigma.
    """

    def __init__(self, sigma: float, seed: int = 0, rescale: str = "clip") -> None:
        if sigma < 0:
            raise ValueError(f"sigma must be >= 0, got {sigma}")
        if rescale not in ("clip", "minmax"):
            raise ValueError(f"rescale must be 'clip' or 'minmax', got {rescale!r}")
        self.sigma, self.seed, self.rescale = float(sigma), int(seed), rescale
        self.index = 0

    def case_seed(self, i: int) -> int:
        return int(stable_hash([self.seed, round(self.sigma, 6), i], n=15), 16)

    def __call__(
        self, images: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        out = []
        for img in images:
            g = torch.Generator().manual_seed(self.case_seed(self.index))
            self.index += 1
            noisy = img + self.sigma * torch.randn(img.shape, generator=g, dtype=img.dtype)
            out.append(_rescale(noisy, self.rescale))
        return torch.stack(out)


def _rescale(x: torch.Tensor, how: str) -> torch.Tensor:
    if how == "clip":
        return x.clamp(0.0, 1.0)
    lo, hi = x.min(), x.max()
    return (x - lo) / (hi - lo).clamp_min(1e-8)
