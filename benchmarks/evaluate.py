"""Test-set evaluation shared by every method: predict in batches, score with the shared
metrics, return the per-case table and its summary."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import torch

from benchmarks.metrics import per_case_metrics, summarize
from benchmarks.profiles import EvalConfig


def predict_dataset(
    method,
    dataset,
    cfg: EvalConfig,
    *,
    device="cpu",
    on_batch: Callable[[int], None] | None = None,
    transform: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None,
):
    """Label maps (N, 1, *spatial) for every case of ``dataset`` (in order).

    ``transform(images, generator)`` perturbs the inputs first (the robustness experiment).
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
            if on_batch is not None:
                on_batch(len(items))
    return torch.cat(labels)


def evaluate(
    method, dataset, cfg: EvalConfig, *, device="cpu", on_batch=None, transform=None
) -> tuple[pd.DataFrame, dict[str, float]]:
    info = dataset.info
    pred = predict_dataset(
        method, dataset, cfg, device=device, on_batch=on_batch, transform=transform
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
    return df, summarize(df)
