"""Steps (Fig. 5 / 6a): test DSC vs the number of sampling steps K, trained models reused.

LDSeg runs on every ``steps_datasets``, the comparison methods (``steps_compare_methods``) on
``steps_compare_dataset``, each at every K of ``steps``. A child reuses the accuracy tables'
trained model (same train job) and only predicts again with K steps: ``load_trained`` +
``evaluate`` with an ``EvalConfig`` override, no retraining.
"""

from __future__ import annotations

import json
from typing import Any

from benchmarks.kinds.base import (
    ExperimentKind,
    register,
    score_checkpoint,
    train,
    trained_config,
)


@register
class Steps(ExperimentKind):
    name = "steps"
    renderer = "steps"
    # qualitative_cases is not read by steps children: it stays in the tuple so the steps
    # sweep identity (and its MLflow parent run) is the one from before kinds were classes
    settings = (
        "steps",
        "steps_datasets",
        "steps_compare_dataset",
        "steps_compare_methods",
        "qualitative_cases",
    )

    def candidates(self, exp, settings) -> tuple[str, ...]:
        return ("ldseg", *settings.steps_compare_methods)

    def plan_children(self, exp, settings, p) -> None:
        pairs = [("ldseg", d) for d in settings.steps_datasets if "ldseg" in p.methods]
        pairs += [(m, settings.steps_compare_dataset) for m in p.methods if m != "ldseg"]
        for m, d in pairs:
            if not p.fits(m, d):
                continue
            for s in p.seeds:
                for k in settings.steps:
                    p.add(m, d, s, num_inference_steps=int(k))

    def describe(self, child, ctx) -> dict[str, Any]:
        cfg = trained_config(child, ctx)
        cfg["eval"]["num_inference_steps"] = child.settings["num_inference_steps"]
        return cfg

    def run(self, child, ctx):
        from benchmarks.trained import ChildOutput, numeric

        job = train(child, ctx)
        k = int(child.settings["num_inference_steps"])
        _, _, cfg, path, summary = score_checkpoint(
            ctx, job, job.checkpoint, f"K={k}", num_inference_steps=k
        )
        (ctx.workdir / "eval_config.json").write_text(json.dumps(cfg.__dict__, indent=2))
        return ChildOutput(
            {**numeric(summary), "num_inference_steps": k},
            [(path, None), (ctx.workdir / "eval_config.json", None)],
            {"train_hash": job.hash, "weights": "trained"},
        )
