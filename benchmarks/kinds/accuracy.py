"""Accuracy (Tables I, II, III, V): every method that fits, trained per seed, scored on the test set.

A child trains (or reuses) its shared train job and logs its test metrics, per-case table,
inference weights (``model/weights.pt``: EMA applied, no optimiser state; the training state is
stored once, in the job directory, ``benchmarks.storage``), the first ``qualitative_cases`` test
cases (image, ground truth, prediction) for the qualitative figures, and the method's cost (``benchmarks.accuracy.measure_cost``: parameters,
FLOPs, median latency of one test image at the row's K over ``timing_warmup`` /
``timing_repeats`` calls, training seconds per 100 steps, peak memory).
"""

from __future__ import annotations

from typing import Any

from benchmarks.errors import ConfigError
from benchmarks.experiments import ABLATIONS
from benchmarks.kinds.base import ExperimentKind, register, train, trained_config
from benchmarks.storage import TRAIN_DIR_TAG


@register
class Accuracy(ExperimentKind):
    name = "accuracy"
    renderer = "accuracy"
    settings = ("qualitative_cases", "timing_warmup", "timing_repeats", "folds")

    def candidates(self, exp, settings) -> tuple[str, ...]:
        from benchmarks.methods import registry

        reg = registry()
        if exp.ablation:  # Table V: LDSeg and its ablations
            return tuple(m for m in ("ldseg", *ABLATIONS) if m in reg)
        return tuple(sorted(n for n, s in reg.items() if exp.dims in s.dims and n not in ABLATIONS))

    def plan_children(self, exp, settings, p) -> None:
        folds = settings.folds  # 0: the dataset's own split; k >= 2: k-fold by group
        if folds == 1:
            raise ConfigError("folds = 1 leaves nothing to train on: use 0 (the split) or >= 2")
        for m, d in p.cells(exp.datasets):
            for s in p.seeds:
                if not folds:
                    p.add(m, d, s)
                for k in range(folds):  # every group (knee: volume) held out exactly once
                    p.add(m, d, s, fold=k, num_folds=folds)

    def describe(self, child, ctx) -> dict[str, Any]:
        cfg = trained_config(child, ctx)
        cfg["cost"] = {
            "batch": 1,
            "warmup": ctx.settings.timing_warmup,
            "repeats": ctx.settings.timing_repeats,
            # v2: attention counted on the CPU too (benchmarks.timing.flop_counter); the
            # change re-evaluates cached children (their FLOPs were too low), no retraining
            "flops": "torch.utils.flop_counter+cpu-attention",
        }
        return cfg

    def run(self, child, ctx):
        from benchmarks.accuracy import measure_cost, qualitative_artifacts
        from benchmarks.trained import ChildOutput, numeric

        job = train(child, ctx)
        artifacts = [
            (job.dir / name, None)
            for name in ("per_case.csv", "metrics.json", "config.json", "curve.csv")
            if (job.dir / name).is_file()
        ]
        artifacts.append(weights_artifact(job, ctx))  # the training state stays in job.dir
        if ctx.settings.qualitative_cases > 0:
            artifacts += qualitative_artifacts(job, ctx, child, ctx.settings.qualitative_cases)
        cost, memory_source = measure_cost(
            job, ctx, warmup=ctx.settings.timing_warmup, repeats=ctx.settings.timing_repeats
        )
        return ChildOutput(
            {**numeric(job.metrics), **cost},
            artifacts,
            {
                "train_hash": job.hash,
                "weights": "trained",
                "memory_source": memory_source,
                TRAIN_DIR_TAG: str(job.dir),
            },
        )


def weights_artifact(job, ctx) -> tuple:
    """``model/weights.pt``: the inference weights only (``benchmarks.storage``)."""
    from benchmarks.storage import WEIGHTS_FOLDER, WEIGHTS_NAME, inference_weights

    method, ckpt = ctx.cache.model(job.checkpoint, ctx.device)
    return inference_weights(method, ckpt, ctx.workdir / WEIGHTS_NAME), WEIGHTS_FOLDER
