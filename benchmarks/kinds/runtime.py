"""Timing kinds: Table IV (LDSeg per image at K = 1000 vs K = 2 on each dataset, ``table4``) and
Fig. 6b (per-image latency and peak memory vs image size, ``runtime``).

Both use **untrained** weights (seeded initialisation): the cost of a forward pass does not
depend on the values of the weights, so no training is needed, and the runs say so (tag
``weights=untrained``). One image per call (batch 1), timed by
:func:`benchmarks.timing.time_callable` (``timing_warmup`` untimed calls, the median of
``timing_repeats``, CUDA synchronisation, peak memory) in the same process for every method.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from benchmarks.kinds.base import ExperimentKind, register


class Timing(ExperimentKind):
    """What the two timing kinds share: describe and run one timed child."""

    trained = False

    def describe(self, child, ctx) -> dict[str, Any]:
        import torch

        size = self.size(child, ctx)
        cfg = self.method_section(child, ctx, size)
        cfg["eval"] = asdict(
            ctx.profile.eval_config(
                child.method, num_inference_steps=child.settings["num_inference_steps"]
            )
        )
        cfg["timing"] = {
            "warmup": ctx.settings.timing_warmup,
            "repeats": ctx.settings.timing_repeats,
            "batch": 1,
            "size": list(size),
            "weights": "untrained",
            "device": ctx.device,
            "torch_threads": torch.get_num_threads(),
        }
        return cfg

    def run(self, child, ctx):
        from benchmarks.runtime import time_predict
        from benchmarks.trained import ChildOutput

        size = self.size(child, ctx)
        info, mcfg = self.method_objects(child, ctx, size)
        metrics, path, source = time_predict(
            child.method,
            mcfg,
            info,
            size,
            ctx,
            num_inference_steps=int(child.settings["num_inference_steps"]),
            warmup=ctx.settings.timing_warmup,
            repeats=ctx.settings.timing_repeats,
        )
        return ChildOutput(
            metrics, [(path, None)], {"weights": "untrained", "memory_source": source}
        )

    # what differs between the two
    def size(self, child, ctx) -> tuple[int, ...]:
        raise NotImplementedError

    def method_section(self, child, ctx, size) -> dict[str, Any]:
        raise NotImplementedError

    def method_objects(self, child, ctx, size):
        raise NotImplementedError


@register
class Table4(Timing):
    """LDSeg's own job config (the profile's image and patch size) at each K of ``table4_steps``."""

    name = "table4"
    renderer = "table4"
    settings = ("table4_datasets", "table4_steps", "timing_warmup", "timing_repeats")

    def candidates(self, exp, settings) -> tuple[str, ...]:
        return ("ldseg",)

    def plan_children(self, exp, settings, p) -> None:
        for m, d in p.cells(settings.table4_datasets):
            for k in settings.table4_steps:
                p.add(m, d, 0, num_inference_steps=int(k))

    def size(self, child, ctx) -> tuple[int, ...]:
        return tuple(ctx.profile.dataset(child.dataset).size)

    def method_section(self, child, ctx, size) -> dict[str, Any]:
        from benchmarks.trained import resolved_config

        cfg = resolved_config(ctx.job_spec(child.method, child.dataset, child.seed), ctx.profile)
        cfg.pop("train", None)
        return cfg

    def method_objects(self, child, ctx, size):
        from benchmarks.pipeline import resolve_job

        job = resolve_job(ctx.job_spec(child.method, child.dataset, child.seed), ctx.profile)
        return job.info, job.method_config


@register
class Runtime(Timing):
    """``runtime_methods`` on ``runtime_dataset`` at each of ``runtime_sizes`` (square / cubic
    images; a method's patch size follows the image) with K = ``runtime_steps``."""

    name = "runtime"
    renderer = "runtime"
    settings = (
        "runtime_dataset",
        "runtime_methods",
        "runtime_sizes",
        "runtime_steps",
        "timing_warmup",
        "timing_repeats",
    )

    def candidates(self, exp, settings) -> tuple[str, ...]:
        return settings.runtime_methods

    def plan_children(self, exp, settings, p) -> None:
        for m, d in p.cells((settings.runtime_dataset,)):
            for size in settings.runtime_sizes:
                p.add(m, d, 0, size=int(size), num_inference_steps=int(settings.runtime_steps))

    def check_plan(self, plan, profile):
        """Sizes a method cannot take become skipped cells; a size none takes is refused."""
        from benchmarks.runtime import drop_unfit_sizes

        return drop_unfit_sizes(plan, profile)

    def size(self, child, ctx) -> tuple[int, ...]:
        from benchmarks.data import get_info

        return (int(child.settings["size"]),) * get_info(child.dataset).spatial_dims

    def method_section(self, child, ctx, size) -> dict[str, Any]:
        _, mcfg = self.method_objects(child, ctx, size)
        return {
            "method": json.loads(json.dumps(asdict(mcfg), default=str)),
            "dataset": {"name": child.dataset},
        }

    def method_objects(self, child, ctx, size):
        from benchmarks.runtime import _method_config

        return _method_config(child.method, child.dataset, size, ctx.profile)
