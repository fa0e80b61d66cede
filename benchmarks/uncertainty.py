"""Uncertainty children (Fig. 10): N LDSeg samples per test image -> mean and SD maps, and how
well the SD map finds the misclassified pixels (AUROC of the per-pixel SD as a score for
"this pixel's mean-segmentation label is wrong").

AUROC is computed with the rank (Mann-Whitney) formula, ties given their average rank:
``AUROC = (R_pos - n_pos (n_pos + 1) / 2) / (n_pos n_neg)``; it is undefined (NaN) when a set
has no misclassified or no correct pixels.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from scipy.stats import rankdata

from benchmarks.accuracy import middle_slice
from benchmarks.experiments import Child
from benchmarks.pipeline import eval_config_from
from benchmarks.trained import (
    ChildContext,
    ChildOutput,
    ensure_trained,
    resolved_config,
    train_hash,
)


def auroc(scores, positives) -> float:
    """Area under the ROC curve of ``scores`` for the boolean labels ``positives``."""
    s = np.asarray(scores, dtype=np.float64).ravel()
    y = np.asarray(positives, dtype=bool).ravel()
    if s.shape != y.shape:
        raise ValueError(f"scores {s.shape} and labels {y.shape} differ in shape")
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(s)  # average ranks for ties
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def describe(child: Child, ctx: ChildContext) -> dict[str, Any]:
    spec = ctx.job_spec(child.method, child.dataset, child.seed)
    cfg = resolved_config(spec, ctx.profile)
    cfg["eval"]["num_samples"] = child.settings["num_samples"]
    cfg["uncertainty"] = {
        "cases": ctx.settings.uncertainty_cases,
        "figures": ctx.settings.uncertainty_figures,
    }
    cfg["train_hash"] = train_hash(spec, ctx.profile)
    return cfg


def run_uncertainty(child: Child, ctx: ChildContext) -> ChildOutput:
    spec = ctx.job_spec(child.method, child.dataset, child.seed)
    job = ensure_trained(
        spec, ctx.profile, ctx.out_root, progress=ctx.hooks.train if ctx.hooks else None
    )
    method, ckpt = ctx.cache.model(job.checkpoint, ctx.device)
    n_samples = int(child.settings["num_samples"])
    cfg = eval_config_from(ckpt, num_samples=n_samples)
    test = ctx.cache.test_split(spec, ctx.profile)
    n_cases = min(ctx.settings.uncertainty_cases, len(test))
    g = torch.Generator().manual_seed(cfg.seed)
    rows, maps = [], {"image": [], "label": [], "mean": [], "pred": [], "sd": []}
    all_sd, all_wrong = [], []
    for i in range(n_cases):  # one image at a time: N samples of it run as one batch
        item = test[i]
        with torch.inference_mode():
            seg = method.predict(
                item["image"][None].to(ctx.device),
                num_inference_steps=cfg.num_inference_steps,
                sampler=cfg.sampler,
                num_samples=n_samples,
                generator=g,
            )
        pred = seg.labels.cpu()
        sd = (
            (
                seg.uncertainty
                if seg.uncertainty is not None
                else torch.zeros_like(pred, dtype=torch.float32)
            )
            .cpu()
            .float()
        )
        wrong = (pred != item["label"][None]).numpy()
        a = auroc(sd.numpy(), wrong)
        rows.append(
            {
                "case_id": item["case_id"],
                "auroc": a,
                "error_rate": float(wrong.mean()),
                "sd_mean": float(sd.mean()),
                "sd_wrong": float(sd.numpy()[wrong].mean()) if wrong.any() else float("nan"),
                "sd_right": float(sd.numpy()[~wrong].mean()) if (~wrong).any() else float("nan"),
            }
        )
        all_sd.append(sd.numpy().ravel())
        all_wrong.append(wrong.ravel())
        if i < ctx.settings.uncertainty_figures:
            fg = seg.probs[:, 1:].sum(dim=1, keepdim=True).cpu()  # P(foreground), mean over N
            maps["image"].append(middle_slice(item["image"][None])[0].numpy())
            maps["label"].append(middle_slice(item["label"][None])[0, 0].numpy())
            maps["mean"].append(middle_slice(fg)[0, 0].numpy())
            maps["pred"].append(middle_slice(pred)[0, 0].numpy())
            maps["sd"].append(middle_slice(sd)[0, 0].numpy())
        if ctx.hooks:
            ctx.hooks.work(f"N={n_samples} samples", i + 1, n_cases)

    import pandas as pd

    df = pd.DataFrame(rows)
    csv = ctx.workdir / "per_case.csv"
    df.to_csv(csv, index=False)
    npz = ctx.workdir / "uncertainty_maps.npz"
    np.savez_compressed(
        npz,
        case_id=np.array([r["case_id"] for r in rows[: len(maps["sd"])]]),
        **{
            k: np.stack(v).astype(np.float16 if k in ("image", "mean", "sd") else np.uint8)
            for k, v in maps.items()
        },
    )
    pooled = auroc(np.concatenate(all_sd), np.concatenate(all_wrong))
    metrics = {
        "auroc": pooled,
        "auroc_case_mean": float(np.nanmean(df["auroc"]))
        if df["auroc"].notna().any()
        else float("nan"),
        "error_rate": float(df["error_rate"].mean()),
        "sd_mean": float(df["sd_mean"].mean()),
        "num_samples": n_samples,
        "n_cases": n_cases,
    }
    artifacts = [(csv, None), (npz, None)]
    try:
        from reports.figures import uncertainty_figure

        png = ctx.workdir / "uncertainty.png"
        uncertainty_figure(npz, png, title=f"{child.dataset}: N={n_samples}")
        artifacts.append((png, "figures"))
    except Exception:  # figures are a convenience; the numbers are the result
        import logging

        logging.getLogger(__name__).warning("uncertainty figure failed", exc_info=True)
    return ChildOutput(metrics, artifacts, {"train_hash": job.hash, "weights": "trained"})
