"""Robustness (Fig. 8a): test DSC of trained models on noisy test images, vs the noise SD.

``robustness_methods`` on ``robustness_datasets``, each at every ``robustness_sigmas`` (0, the
clean reference, always added). The noise (``benchmarks.robustness.GaussianNoise``: seeded per
test case by ``noise_seed``, then ``robustness_rescale``) is applied to the test images of the
shared trained model; nothing is retrained.
"""

from __future__ import annotations

from typing import Any

from benchmarks.kinds.base import ExperimentKind, register, train, trained_config


@register
class Robustness(ExperimentKind):
    name = "robustness"
    renderer = "robustness"
    settings = (
        "robustness_datasets",
        "robustness_methods",
        "robustness_sigmas",
        "robustness_rescale",
        "noise_seed",
    )

    def candidates(self, exp, settings) -> tuple[str, ...]:
        return settings.robustness_methods

    def plan_children(self, exp, settings, p) -> None:
        sigmas = sorted({0.0, *(float(x) for x in settings.robustness_sigmas)})
        for m, d in p.cells(settings.robustness_datasets):
            for s in p.seeds:
                for sigma in sigmas:
                    p.add(m, d, s, sigma=sigma)

    def describe(self, child, ctx) -> dict[str, Any]:
        cfg = trained_config(child, ctx)
        cfg["noise"] = {
            "sigma": child.settings["sigma"],
            "seed": ctx.settings.noise_seed,
            "rescale": ctx.settings.robustness_rescale,
            "kind": "gaussian, sigma = std",
        }
        return cfg

    def run(self, child, ctx):
        from benchmarks.evaluate import evaluate
        from benchmarks.pipeline import eval_config_from
        from benchmarks.robustness import GaussianNoise
        from benchmarks.trained import ChildOutput, numeric

        job = train(child, ctx)
        method, ckpt = ctx.cache.model(job.checkpoint, ctx.device)
        cfg = eval_config_from(ckpt)
        test = ctx.cache.test_split(job.spec, ctx.profile)
        sigma = float(child.settings["sigma"])
        noise = GaussianNoise(sigma, ctx.settings.noise_seed, ctx.settings.robustness_rescale)
        done = [0]

        def on_batch(b: int) -> None:
            done[0] += b
            if ctx.hooks:
                ctx.hooks.work(f"sigma={sigma:g}", done[0], len(test))

        df, summary = evaluate(
            method, test, cfg, device=ctx.device, on_batch=on_batch, transform=noise
        )
        path = ctx.workdir / "per_case.csv"
        df.to_csv(path, index=False)
        return ChildOutput(
            {**numeric(summary), "sigma": sigma},
            [(path, None)],
            {"train_hash": job.hash, "weights": "trained"},
        )
