"""Uncertainty (Fig. 10): N LDSeg samples per test image -> mean and SD maps, and the AUROC of
the per-pixel SD as a detector of misclassified pixels (``benchmarks.uncertainty``).

LDSeg on ``uncertainty_datasets``, ``uncertainty_samples`` samples of each of the first
``uncertainty_cases`` test cases, maps of the first ``uncertainty_figures`` saved and drawn; the
shared trained model is reused.
"""

from __future__ import annotations

from typing import Any

from benchmarks.kinds.base import ExperimentKind, register, train, trained_config


@register
class Uncertainty(ExperimentKind):
    name = "uncertainty"
    renderer = "uncertainty"
    settings = (
        "uncertainty_datasets",
        "uncertainty_samples",
        "uncertainty_cases",
        "uncertainty_figures",
    )

    def candidates(self, exp, settings) -> tuple[str, ...]:
        return ("ldseg",)

    def plan_children(self, exp, settings, p) -> None:
        for m, d in p.cells(settings.uncertainty_datasets):
            for s in p.seeds:
                p.add(m, d, s, num_samples=int(settings.uncertainty_samples))

    def describe(self, child, ctx) -> dict[str, Any]:
        cfg = trained_config(child, ctx)
        cfg["eval"]["num_samples"] = child.settings["num_samples"]
        cfg["uncertainty"] = {
            "cases": ctx.settings.uncertainty_cases,
            "figures": ctx.settings.uncertainty_figures,
        }
        return cfg

    def run(self, child, ctx):
        import torch

        from benchmarks.pipeline import eval_config_from
        from benchmarks.trained import ChildOutput
        from benchmarks.uncertainty import draw, sample_case, save_maps, summarize

        job = train(child, ctx)
        method, ckpt = ctx.cache.model(job.checkpoint, ctx.device)
        n_samples = int(child.settings["num_samples"])
        cfg = eval_config_from(ckpt, num_samples=n_samples)
        test = ctx.cache.test_split(job.spec, ctx.profile)
        n_cases = min(ctx.settings.uncertainty_cases, len(test))
        g = torch.Generator().manual_seed(cfg.seed)
        cases = []
        for i in range(n_cases):  # one image at a time: its N samples run as one batch
            cases.append(sample_case(method, test[i], cfg, g, ctx.device))
            if ctx.hooks:
                ctx.hooks.work(f"N={n_samples} samples", i + 1, n_cases)
        df, metrics = summarize(cases, n_samples)
        csv = ctx.workdir / "per_case.csv"
        df.to_csv(csv, index=False)
        artifacts = [(csv, None)]
        shown = cases[: ctx.settings.uncertainty_figures]
        if shown:
            npz = ctx.workdir / "uncertainty_maps.npz"
            save_maps(shown, npz)
            artifacts.append((npz, None))
            png = draw(npz, ctx.workdir / "uncertainty.png", f"{child.dataset}: N={n_samples}")
            if png is not None:
                artifacts.append((png, "figures"))
        return ChildOutput(metrics, artifacts, {"train_hash": job.hash, "weights": "trained"})
