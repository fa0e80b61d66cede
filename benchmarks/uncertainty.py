"""The measurements of the uncertainty experiment (Fig. 10, ``benchmarks/kinds/uncertainty.py``):
N LDSeg samples per test image -> mean and SD maps, and how
well the SD map finds the misclassified pixels (AUROC of the per-pixel SD as a score for
"this pixel's mean-segmentation label is wrong").

AUROC is computed with the rank (Mann-Whitney) formula, ties given their average rank:
``AUROC = (R_pos - n_pos (n_pos + 1) / 2) / (n_pos n_neg)``; it is undefined (NaN) when a set
has no misclassified or no correct pixels.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.stats import rankdata

from benchmarks.accuracy import middle_slice


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


@dataclass
class CaseUncertainty:
    """One test case sampled N times: its table row, the per-pixel SD and "label wrong" masks
    (flattened, for the pooled AUROC) and middle-slice maps for the figure."""

    row: dict[str, Any]
    sd: np.ndarray
    wrong: np.ndarray
    maps: dict[str, np.ndarray]


def sample_case(method, item: dict, cfg, generator: torch.Generator, device: str):
    """``cfg.num_samples`` segmentations of test case ``item`` (one batch) -> mean label, SD."""
    with torch.inference_mode():
        seg = method.predict(
            item["image"][None].to(device),
            num_inference_steps=cfg.num_inference_steps,
            sampler=cfg.sampler,
            num_samples=cfg.num_samples,
            generator=generator,
        )
    pred = seg.labels.cpu()
    sd = seg.uncertainty if seg.uncertainty is not None else torch.zeros_like(pred)
    sd = sd.cpu().float()
    wrong = (pred != item["label"][None]).numpy()
    s = sd.numpy()
    row = {
        "case_id": item["case_id"],
        "auroc": auroc(s, wrong),
        "error_rate": float(wrong.mean()),
        "sd_mean": float(sd.mean()),
        "sd_wrong": float(s[wrong].mean()) if wrong.any() else float("nan"),
        "sd_right": float(s[~wrong].mean()) if (~wrong).any() else float("nan"),
    }
    fg = seg.probs[:, 1:].sum(dim=1, keepdim=True).cpu()  # P(foreground), mean over N
    maps = {
        "image": middle_slice(item["image"][None])[0].numpy(),
        "label": middle_slice(item["label"][None])[0, 0].numpy(),
        "mean": middle_slice(fg)[0, 0].numpy(),
        "pred": middle_slice(pred)[0, 0].numpy(),
        "sd": middle_slice(sd)[0, 0].numpy(),
    }
    return CaseUncertainty(row, s.ravel(), wrong.ravel(), maps)


def summarize(cases: list[CaseUncertainty], num_samples: int):
    """(per-case DataFrame, metrics): the pooled AUROC over every pixel of every case, the
    per-case mean AUROC, error rate and SD."""
    import pandas as pd

    df = pd.DataFrame([c.row for c in cases])
    pooled = auroc(np.concatenate([c.sd for c in cases]), np.concatenate([c.wrong for c in cases]))
    metrics = {
        "auroc": pooled,
        "auroc_case_mean": float(np.nanmean(df["auroc"]))
        if df["auroc"].notna().any()
        else float("nan"),
        "error_rate": float(df["error_rate"].mean()),
        "sd_mean": float(df["sd_mean"].mean()),
        "num_samples": num_samples,
        "n_cases": len(cases),
    }
    return df, metrics


def save_maps(cases: list[CaseUncertainty], path: Path) -> None:
    """The cases' maps as one npz (image, mean and SD as float16; label and pred as uint8)."""
    keys = ("image", "label", "mean", "pred", "sd")
    np.savez_compressed(
        path,
        case_id=np.array([c.row["case_id"] for c in cases]),
        **{
            k: np.stack([c.maps[k] for c in cases]).astype(
                np.float16 if k in ("image", "mean", "sd") else np.uint8
            )
            for k in keys
        },
    )


def draw(npz: Path, png: Path, title: str) -> Path | None:
    """The Fig. 10-style figure of the saved maps (None if drawing fails: the numbers are the
    result, the picture is a convenience)."""
    try:
        from benchmarks.run_figures import uncertainty_figure

        uncertainty_figure(npz, png, title=title)
        return png
    except Exception:  # noqa: BLE001
        logging.getLogger(__name__).warning("uncertainty figure failed", exc_info=True)
        return None
