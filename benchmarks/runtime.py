"""What the timing kinds (Table IV, Fig. 6b: ``benchmarks/kinds/runtime.py``) measure and check:
:func:`time_predict` times one image through an untrained method (batch 1,
:func:`benchmarks.timing.time_callable`: warm-up, repeats, median, CUDA synchronisation, peak
memory); :func:`drop_unfit_sizes` turns image sizes a method cannot take into skipped cells.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from benchmarks.errors import ConfigError
from benchmarks.methods import build_method, method_config
from benchmarks.pipeline import method_config_for
from benchmarks.timing import count_flops_and_ops, count_params, time_callable


def _method_config(method: str, dataset: str, size: tuple[int, ...], profile):
    from benchmarks.data import get_info

    info = get_info(dataset)
    mcfg = method_config(method, profile.method_overrides(method, info.spatial_dims), info)
    # the fields the method takes from the image size (nnU-Net's patch) follow the timed size
    return info, method_config_for(method, mcfg, image_size=tuple(size))


def size_problems(sweep_plan, profile) -> dict[tuple[str, int], str]:
    """(method, side) -> why that method cannot take that image size (``--sizes`` /
    ``runtime_sizes``; e.g. a side its downsamplings or Swin windows do not divide).

    Each method is built once, untrained, and its ``check_size`` hook is asked about a
    zero-sized batch (only the shape is looked at); methods that pad their input have no hook.
    """
    from benchmarks.data import get_info

    children = [c for c in sweep_plan.children if "size" in c.settings]
    problems: dict[tuple[str, int], str] = {}
    for method, dataset in dict.fromkeys((c.method, c.dataset) for c in children):
        dims = get_info(dataset).spatial_dims
        size = (int(children[0].settings["size"]),) * dims
        info, mcfg = _method_config(method, dataset, size, profile)
        check = getattr(build_method(method, mcfg, info), "check_size", None)
        if check is None:
            continue
        for side in sorted({int(c.settings["size"]) for c in children if c.method == method}):
            try:
                check(torch.empty(0, 1, *(side,) * dims))
            except ValueError as err:
                problems[method, side] = str(err)
    return problems


def drop_unfit_sizes(sweep_plan, profile):
    """The plan without the (method, size) cells a method cannot take — they become skipped
    cells with the reason, as a 2D-only method on a 3D dataset does. A size that *no* planned
    method can take is refused before anything runs, naming the nearest sizes that fit."""
    from dataclasses import replace as dc_replace

    from benchmarks.experiments import Skip

    problems = size_problems(sweep_plan, profile)
    if not problems:
        return sweep_plan
    children = [c for c in sweep_plan.children if "size" in c.settings]
    methods = sorted({c.method for c in children})
    for side in sorted({int(c.settings["size"]) for c in children}):
        if all((m, side) in problems for m in methods):
            raise ConfigError(
                f"image size {side} (--sizes / runtime_sizes): no planned method takes it "
                f"({methods[0]}: {problems[methods[0], side]}); use {_nearest_fits(side, sweep_plan, profile)}"
            )
    keep = tuple(
        c
        for c in sweep_plan.children
        if "size" not in c.settings or (c.method, int(c.settings["size"])) not in problems
    )
    dataset = {c.method: c.dataset for c in children}
    skipped = tuple(
        Skip(m, dataset[m], f"n/a at {side} px: {why}")
        for (m, side), why in sorted(problems.items())
    )
    return dc_replace(sweep_plan, children=keep, skipped=tuple(sweep_plan.skipped) + skipped)


def _nearest_fits(side: int, sweep_plan, profile) -> str:
    from benchmarks.data import get_info

    children = [c for c in sweep_plan.children if "size" in c.settings]
    dataset = children[0].dataset
    dims = get_info(dataset).spatial_dims
    checks = []
    for method in sorted({c.method for c in children}):
        info, mcfg = _method_config(method, dataset, (side,) * dims, profile)
        check = getattr(build_method(method, mcfg, info), "check_size", None)
        if check is None:
            return str(side)
        checks.append(check)

    def fits(n: int) -> bool:
        for check in checks:
            try:
                check(torch.empty(0, 1, *(n,) * dims))
                return True
            except ValueError:
                continue
        return False

    below = next((n for n in range(side - 1, 0, -1) if fits(n)), None)
    above = next((n for n in range(side + 1, 16 * side + 1024) if fits(n)), None)
    return " or ".join(str(n) for n in (below, above) if n is not None)


def time_predict(
    name: str,
    mcfg,
    info,
    size: tuple[int, ...],
    ctx,
    *,
    num_inference_steps: int,
    warmup: int,
    repeats: int,
) -> tuple[dict[str, float], Path, str]:
    """Latency and peak memory of one random image of ``size`` through the untrained method
    ``name`` (seeded initialisation) at K = ``num_inference_steps`` with the profile's sampler.
    Returns (metrics, ``timing.json`` in ``ctx.workdir``, memory source)."""
    k = num_inference_steps
    ev = ctx.profile.eval_config(name, num_inference_steps=k)
    torch.manual_seed(0)
    method = build_method(name, mcfg, info).to(ctx.device).eval()
    g = torch.Generator().manual_seed(0)
    x = torch.rand(1, info.in_channels, *size, generator=g).to(ctx.device)
    total = warmup + repeats
    calls = [0]

    def call():
        return method.predict(
            x,
            num_inference_steps=k,
            sampler=ev.sampler,
            num_samples=1,
            generator=torch.Generator().manual_seed(ev.seed),
        )

    def fn():
        out = call()
        calls[0] += 1
        if ctx.hooks:
            ctx.hooks.work(f"time K={k} {'x'.join(map(str, size))}", calls[0], total)
        return out

    res = time_callable(fn, warmup=warmup, repeats=repeats, device=ctx.device)
    path = ctx.workdir / "timing.json"
    path.write_text(json.dumps(res.to_dict(), indent=2))
    metrics: dict[str, Any] = {
        k_: v
        for k_, v in res.to_dict().items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    }
    if res.peak_memory_bytes is not None:
        metrics["peak_memory_mb"] = res.peak_memory_bytes / 2**20
    with torch.inference_mode():  # one more, untimed call: what the timed ones dispatched
        flops, ops = count_flops_and_ops(call)
    metrics.update(num_inference_steps=k, size=size[-1], num_parameters=count_params(method))
    metrics.update(flops_per_image=float(flops), aten_ops_per_image=float(ops))
    return metrics, path, res.memory_source
