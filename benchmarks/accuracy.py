"""What an accuracy child (``benchmarks/kinds/accuracy.py``) measures besides the test metrics:
the method's cost (:func:`measure_cost`: parameters, FLOPs and median latency of one test image
at the row's K, training seconds per 100 steps and peak memory) and a few test cases (image,
ground truth, prediction) for the qualitative figures (:func:`qualitative_artifacts`).
"""

from __future__ import annotations

import logging

import numpy as np
import torch

from benchmarks.experiments import Child
from benchmarks.pipeline import eval_config_from
from benchmarks.trained import ChildContext, TrainedJob


def qualitative_artifacts(job: TrainedJob, ctx: ChildContext, child: Child, n: int) -> list:
    """The first ``n`` test cases saved (``qualitative.npz``) and drawn (``figures/``)."""
    path = ctx.workdir / "qualitative.npz"
    save_qualitative(job, ctx, n, path)
    artifacts: list = [(path, None)]
    figure = _qualitative_figure(child, path, ctx.workdir / "qualitative.jpg")
    if figure is not None:
        artifacts.append((figure, "figures"))
    return artifacts


def measure_cost(
    job: TrainedJob, ctx: ChildContext, *, warmup: int, repeats: int
) -> tuple[dict[str, float], str]:
    """What the row's method costs, on this child's device, in this process: one test image
    through :func:`predict_cost` with the evaluation settings behind the row's DSC (``warmup``
    untimed calls, the median of ``repeats``), and the train job's optimiser seconds per 100
    steps. Returns (metrics, memory source)."""
    method, ckpt = ctx.cache.model(job.checkpoint, ctx.device)
    test = ctx.cache.test_split(job.spec, ctx.profile)
    total = warmup + repeats
    calls = [0]

    def on_call() -> None:
        calls[0] += 1
        if ctx.hooks:
            ctx.hooks.work("cost", calls[0], total)

    cost, source = predict_cost(
        method,
        test[0]["image"][None].to(ctx.device),
        eval_config_from(ckpt),
        warmup=warmup,
        repeats=repeats,
        device=ctx.device,
        on_call=on_call,
    )
    steps, seconds = job.metrics.get("train_steps"), job.metrics.get("train_seconds")
    if steps and seconds is not None:
        cost["train_s_per_100_steps"] = float(seconds) / float(steps) * 100
    return cost, source


def predict_cost(
    method, x: torch.Tensor, cfg, *, warmup: int, repeats: int, device: str, on_call=None
) -> tuple[dict[str, float], str]:
    """Parameters, FLOPs, latency and peak memory of ``method.predict(x)`` with the K, sampler
    and number of samples of the evaluation config ``cfg``.

    FLOPs: :class:`torch.utils.flop_counter.FlopCounterMode` over one call (a multiply-add is
    2 FLOPs; ops without a FLOP formula, e.g. element-wise ones, count 0), so a sampling
    method's count grows with K; in the same call, the ATen operators dispatched (what a GPU
    at batch 1 pays per operator, see :func:`benchmarks.timing.count_flops_and_ops`).
    Latency: :func:`benchmarks.timing.time_callable` (``warmup`` untimed calls, the median of
    ``repeats``). Peak memory during the timed calls: CUDA
    allocated and reserved; CPU the process's peak RSS (an upper bound, see
    ``benchmarks.timing``).
    """
    from benchmarks.timing import count_flops_and_ops, count_params, time_callable

    def call():
        return method.predict(
            x,
            num_inference_steps=cfg.num_inference_steps,
            sampler=cfg.sampler,
            num_samples=cfg.num_samples,
            generator=torch.Generator().manual_seed(cfg.seed),
        )

    def predict():
        out = call()
        if on_call is not None:
            on_call()
        return out

    with torch.inference_mode():
        flops, ops = count_flops_and_ops(call)
    timing = time_callable(predict, warmup=warmup, repeats=repeats, device=device)
    cost = {
        "num_parameters": float(count_params(method)),
        "flops_per_image": float(flops),
        "aten_ops_per_image": float(ops),
        "latency_median_s": timing.median_s,
        "latency_p90_s": timing.p90_s,
    }
    mib = 2**20
    if timing.memory_source == "cuda_max_allocated":
        cost["peak_allocated_mb"] = timing.peak_memory_bytes / mib
        cost["peak_reserved_mb"] = timing.peak_reserved_bytes / mib
    elif timing.peak_memory_bytes is not None:
        cost["peak_rss_mb"] = timing.peak_memory_bytes / mib  # upper bound
    return cost, timing.memory_source


def save_qualitative(job: TrainedJob, ctx: ChildContext, n: int, path) -> None:
    """The first ``n`` test cases: image, ground truth and prediction (3D: the middle slice)."""
    method, ckpt = ctx.cache.model(job.checkpoint, ctx.device)
    test = ctx.cache.test_split(job.spec, ctx.profile)
    cfg = eval_config_from(ckpt)
    n = min(n, len(test))
    items = [test[i] for i in range(n)]
    images = torch.stack([it["image"] for it in items])
    g = torch.Generator().manual_seed(cfg.seed)
    with torch.inference_mode():
        seg = method.predict(
            images.to(ctx.device),
            num_inference_steps=cfg.num_inference_steps,
            sampler=cfg.sampler,
            num_samples=1,
            generator=g,
        )
    labels = torch.stack([it["label"] for it in items])
    np.savez_compressed(
        path,
        image=middle_slice(images).numpy().astype(np.float16),
        label=middle_slice(labels)[:, 0].numpy().astype(np.uint8),
        pred=middle_slice(seg.labels.cpu())[:, 0].numpy().astype(np.uint8),
        case_id=np.array([str(it["case_id"]) for it in items]),
        class_names=np.array(list(test.info.class_names)),
    )


def _qualitative_figure(child: Child, npz, image_path):
    """The Fig. 4-style overlay of this run's cases (a convenience; None if drawing fails)."""
    try:
        from benchmarks.run_figures import qualitative_grid

        with np.load(npz, allow_pickle=False) as d:
            return qualitative_grid({child.method: dict(d)}, image_path, child.run_name)
    except Exception:  # noqa: BLE001 - the numbers are the result, the picture is extra
        logging.getLogger(__name__).warning("qualitative figure failed", exc_info=True)
        return None


def middle_slice(x: torch.Tensor) -> torch.Tensor:
    """(B, C, D, H, W) -> (B, C, H, W) at D // 2; 2D input is returned as is."""
    return x[:, :, x.shape[2] // 2] if x.ndim == 5 else x
