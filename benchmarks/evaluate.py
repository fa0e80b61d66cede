"""Test-set evaluation shared by every method: predict in batches, score with the shared
metrics, return the per-case table and its summary.

The table holds the training-resolution columns (``dsc_mean``, ``hd95_<class>``, ...) and, when
``EvalConfig.native_resolution`` is on and the dataset kept its native labels (every test split
does), their native-resolution twins (``dsc_mean_native``, ``hd95_<class>_native_mm|px``, ...;
see :mod:`benchmarks.native`).
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import torch

from benchmarks.metrics import per_case_metrics, summarize
from benchmarks.native import RESAMPLING, score_native
from benchmarks.profiles import EvalConfig


def predict_dataset(
    method,
    dataset,
    cfg: EvalConfig,
    *,
    device="cpu",
    on_batch: Callable[[int], None] | None = None,
    transform: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None,
    on_probs: Callable[[int, torch.Tensor], None] | None = None,
):
    """Label maps (N, 1, *spatial) for every case of ``dataset`` (in order).

    ``transform(images, generator)`` perturbs the inputs first (the robustness experiment).
    ``on_probs(start, probs)`` receives each batch's class probabilities (B, C, *spatial), the
    cases ``start .. start + B - 1``, so they need not all be held at once.
    Sampling noise comes from one generator seeded by ``cfg.seed``: reruns are identical.
    """
    method.eval()
    g = torch.Generator().manual_seed(cfg.seed)
    labels = []
    with torch.inference_mode():
        for start in range(0, len(dataset), cfg.batch_size):
            items = [dataset[i] for i in range(start, min(start + cfg.batch_size, len(dataset)))]
            images = torch.stack([it["image"] for it in items])
            if transform is not None:
                images = transform(images, g)
            seg = method.predict(
                images.to(device),
                num_inference_steps=cfg.num_inference_steps,
                sampler=cfg.sampler,
                num_samples=cfg.num_samples,
                generator=g,
            )
            labels.append(seg.labels.cpu())
            if on_probs is not None:
                on_probs(start, seg.probs)
            if on_batch is not None:
                on_batch(len(items))
    return torch.cat(labels)


def evaluate(
    method, dataset, cfg: EvalConfig, *, device="cpu", on_batch=None, transform=None
) -> tuple[pd.DataFrame, dict[str, float]]:
    info = dataset.info
    native = cfg.native_resolution and getattr(dataset, "has_native", False)
    unit = getattr(info, "spacing_unit", "px")
    native_rows: list[pd.DataFrame] = []

    def on_probs(start: int, probs: torch.Tensor) -> None:
        native_rows.append(score_native(probs, dataset, start, hd95=cfg.hd95))

    pred = predict_dataset(
        method,
        dataset,
        cfg,
        device=device,
        on_batch=on_batch,
        transform=transform,
        on_probs=on_probs if native else None,
    )
    target = torch.stack([dataset[i]["label"] for i in range(len(dataset))])
    df = per_case_metrics(
        pred,
        target,
        num_classes=info.num_classes,
        case_ids=dataset.case_ids,
        class_names=info.class_names,
        combined=info.combined,
        combined_name=info.combined_name,
        hd95=cfg.hd95,
    )
    if native:
        ndf = pd.concat(native_rows, ignore_index=True)
        if list(ndf["case_id"]) != list(df["case_id"]):  # score_native keeps the case order
            raise RuntimeError("native-resolution rows out of order")
        attrs = dict(df.attrs)  # concat keeps attrs only where every input has the same
        df = pd.concat([df, ndf.drop(columns="case_id")], axis=1)
        df.attrs = {**attrs, "native_spacing_unit": unit, "native_resampling": RESAMPLING}
    summary = summarize(df)
    if native:
        summary["dsc_native"] = summary.get("dsc_mean_native", float("nan"))
        summary["iou_native"] = summary.get("iou_mean_native", float("nan"))
    return df, summary
