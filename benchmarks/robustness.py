"""Robustness children (Fig. 8a): test DSC of a trained model on noisy test images.

The noisy image follows the paper's eq. 19, ``I_sigma = I + N(0, sigma)``, with ``sigma`` used
as the **standard deviation** (as the reference code does; the paper calls it the variance),
followed by ``clip`` to [0, 1] (default; the images the models saw in training are in [0, 1]) or
per-image min-max rescaling (``robustness_rescale = "minmax"``, the reference code's choice).

The noise of test case ``i`` comes from its own generator seeded by
``(noise_seed, sigma, i)``, so every method sees exactly the same noisy images whatever its
batch size, and reruns are identical. Trained models are reused (no retraining).
"""

from __future__ import annotations

from typing import Any

import torch

from benchmarks.evaluate import evaluate
from benchmarks.experiments import Child
from benchmarks.pipeline import eval_config_from
from benchmarks.trained import (
    ChildContext,
    ChildOutput,
    ensure_trained,
    numeric,
    resolved_config,
    stable_hash,
    train_hash,
)


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


def describe(child: Child, ctx: ChildContext) -> dict[str, Any]:
    spec = ctx.job_spec(child.method, child.dataset, child.seed)
    cfg = resolved_config(spec, ctx.profile)
    cfg["noise"] = {
        "sigma": child.settings["sigma"],
        "seed": ctx.settings.noise_seed,
        "rescale": ctx.settings.robustness_rescale,
        "kind": "gaussian, sigma = std",
    }
    cfg["train_hash"] = train_hash(spec, ctx.profile)
    return cfg


def run_robustness(child: Child, ctx: ChildContext) -> ChildOutput:
    spec = ctx.job_spec(child.method, child.dataset, child.seed)
    job = ensure_trained(
        spec, ctx.profile, ctx.out_root, progress=ctx.hooks.train if ctx.hooks else None
    )
    method, ckpt = ctx.cache.model(job.checkpoint, ctx.device)
    cfg = eval_config_from(ckpt)
    test = ctx.cache.test_split(spec, ctx.profile)
    sigma = float(child.settings["sigma"])
    noise = GaussianNoise(sigma, ctx.settings.noise_seed, ctx.settings.robustness_rescale)
    done = [0]

    def on_batch(b: int) -> None:
        done[0] += b
        if ctx.hooks:
            ctx.hooks.work(f"sigma={sigma:g}", done[0], len(test))

    df, summary = evaluate(method, test, cfg, device=ctx.device, on_batch=on_batch, transform=noise)
    path = ctx.workdir / "per_case.csv"
    df.to_csv(path, index=False)
    return ChildOutput(
        {**numeric(summary), "sigma": sigma},
        [(path, None)],
        {"train_hash": job.hash, "weights": "trained"},
    )
