"""Budget (issue 12): test DSC vs the number of optimiser steps, one training run per method.

``budget_methods`` on ``budget_dataset``: each method trains ONCE per seed for the longest of
``budget_steps`` optimiser steps, keeping its inference weights (EMA applied) at every listed
step (``TrainConfig.snapshot_steps``); a child scores one snapshot on the test set, nothing is
retrained. The LR schedule (the profile's, e.g. exponential decay to ``lr_final_fraction``) is
therefore defined over the longest budget: the 800-step point is the 800th step of a 3,200-step
run, not an 800-step run with its own decay. The runs' other training settings are the
profile's; ``curve_every`` is off (the snapshots are the curve).

No choice is made from these numbers (the budgets are fixed in advance and every snapshot is
scored), so no validation split is needed: the test set only scores. A two-stage method
(LSegDiff-style) places its stage switch in the longest budget; a snapshot taken before the
switch is logged with ``train_stage`` = 1 and the report says so.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from benchmarks.kinds.base import (
    ExperimentKind,
    register,
    score_checkpoint,
    train,
    trained_config,
)


@register
class Budget(ExperimentKind):
    name = "budget"
    renderer = "budget"
    settings = ("budget_steps", "budget_dataset", "budget_methods")

    def candidates(self, exp, settings) -> tuple[str, ...]:
        return settings.budget_methods

    def job_profile(self, child, profile, settings):
        """``profile`` training ``child.method`` once for the longest budget with snapshots at
        every budget (``[method_train.METHOD]`` overrides on top of the profile's own)."""
        budgets = sorted({int(n) for n in settings.budget_steps})
        own = dict(profile.method_train.get(child.method, {}))
        own.update(steps=budgets[-1], snapshot_steps=budgets, curve_every=0)
        return replace(profile, method_train={**profile.method_train, child.method: own})

    def plan_children(self, exp, settings, p) -> None:
        for m, d in p.cells((settings.budget_dataset,)):
            for s in p.seeds:
                for n in sorted(set(settings.budget_steps)):
                    p.add(m, d, s, train_steps=int(n))

    def describe(self, child, ctx) -> dict[str, Any]:
        cfg = trained_config(child, ctx)
        cfg["budget"] = {"train_steps": child.settings["train_steps"], "weights": "snapshot"}
        return cfg

    def run(self, child, ctx):
        from benchmarks.train import snapshot_path
        from benchmarks.trained import ChildOutput, numeric

        job = train(child, ctx)  # the first child of a method trains, the others reuse it
        n = int(child.settings["train_steps"])
        snapshot = snapshot_path(job.checkpoint, n)
        method, ckpt, _, path, summary = score_checkpoint(ctx, job, snapshot, f"{n} steps")
        metrics = {**numeric(summary), "train_steps": n, "train_seconds": float(ckpt["elapsed_s"])}
        stage = getattr(method, "stage", None)  # two-stage methods: 1 before the switch
        if stage is not None:
            metrics["train_stage"] = int(stage)
        return ChildOutput(
            metrics,
            [(path, None), (job.dir / "config.json", None)],
            {"train_hash": job.hash, "weights": f"snapshot step {n}"},
        )
