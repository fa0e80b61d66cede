"""Figures that mirror the paper's (seaborn / matplotlib, PNG, headless).

steps curve on log-x (Fig. 5 / 6a), runtime and memory vs image size on log axes (Fig. 6b),
DSC vs noise sigma (Fig. 8a), accuracy / ablation bars with the paper's numbers as markers
(Tables II / V), qualitative overlays (Fig. 4 / 9: false negatives dark red, false positives
light red) and uncertainty maps (Fig. 10: image, ground truth, mean map, SD map).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from benchmarks.run_figures import (  # noqa: E402, F401 - the per-run figures, re-exported
    FN_COLOUR,
    FP_COLOUR,
    TP_COLOUR,
    _rgb,
    _save,
    _theme,
    overlay,
    qualitative_grid,
    uncertainty_figure,
)
from reports.paper_numbers import display  # noqa: E402


def accuracy_bars(long: pd.DataFrame, path: Path, title: str, metric: str = "dsc") -> Path:
    """Bars of the measured mean (95% CI whiskers) with the paper's value as a black marker."""
    _theme()
    d = long[long["metric"] == metric].copy()
    d["name"] = d["method"].map(display)
    fig, ax = plt.subplots(figsize=(6, 0.45 * len(d) + 1.2))
    sns.barplot(data=d, y="name", x="mean", color="#7aa6c2", errorbar=None, ax=ax)
    ax.errorbar(
        d["mean"], np.arange(len(d)), xerr=d["ci95"].fillna(0), fmt="none", ecolor="k", capsize=3
    )
    if "paper" in d and d["paper"].notna().any():
        ax.scatter(d["paper"], np.arange(len(d)), marker="D", color="k", zorder=3, label="paper")
        ax.legend(loc="lower right")
    ax.set_xlim(0, 1)
    ax.set_xlabel(metric.upper())
    ax.set_ylabel("")
    ax.set_title(title, fontsize=9)
    return _save(fig, path)


def steps_curve(df: pd.DataFrame, path: Path, title: str) -> Path:
    """Fig. 5 / 6a: DSC vs sampling steps K (log-x); df: method, dataset, K, mean, ci95."""
    _theme()
    d = df.copy()
    d["series"] = d["method"].map(display) + " / " + d["dataset"]
    fig, ax = plt.subplots(figsize=(6, 4))
    sns.lineplot(data=d, x="K", y="mean", hue="series", marker="o", ax=ax)
    for _, g in d.groupby("series"):
        ax.fill_between(
            g["K"], g["mean"] - g["ci95"].fillna(0), g["mean"] + g["ci95"].fillna(0), alpha=0.15
        )
    ax.set_xscale("log")
    ks = sorted(d["K"].unique())
    ax.set_xticks(ks)
    ax.set_xticklabels([str(int(k)) for k in ks])
    ax.minorticks_off()
    ax.set_xlabel("sampling steps K (DDIM, log scale)")
    ax.set_ylabel("DSC")
    ax.set_title(title, fontsize=9)
    return _save(fig, path)


def runtime_curves(df: pd.DataFrame, path: Path, title: str) -> Path:
    """Fig. 6b: per-image latency and peak memory vs image size (log axes)."""
    _theme()
    d = df.copy()
    d["name"] = d["method"].map(display)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    sns.lineplot(data=d, x="size", y="median_s", hue="name", marker="o", ax=axes[0])
    axes[0].set_ylabel("seconds per image (median)")
    if "peak_memory_mb" in d and d["peak_memory_mb"].notna().any():
        sns.lineplot(
            data=d, x="size", y="peak_memory_mb", hue="name", marker="o", ax=axes[1], legend=False
        )
    axes[1].set_ylabel("peak memory (MiB)")
    for ax in axes:
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("image size (pixels per side)")
    fig.suptitle(title, fontsize=9)
    return _save(fig, path)


def robustness_curve(df: pd.DataFrame, path: Path, title: str) -> Path:
    """Fig. 8a: DSC vs sigma; LDSeg solid, the others dotted; one panel per dataset."""
    _theme()
    datasets = list(dict.fromkeys(df["dataset"]))
    fig, axes = plt.subplots(1, len(datasets), figsize=(5 * len(datasets), 4), squeeze=False)
    for ax, ds in zip(axes[0], datasets, strict=True):
        for m, g in df[df["dataset"] == ds].groupby("method"):
            g = g.sort_values("sigma")
            ax.errorbar(
                g["sigma"],
                g["mean"],
                yerr=g["ci95"].fillna(0),
                marker="o",
                linestyle="-" if m.startswith("ldseg") else ":",
                label=display(m),
                capsize=3,
            )
        ax.set_xlabel("added noise sigma (std of N(0, sigma), then clip to [0, 1])")
        ax.set_ylabel("DSC")
        ax.set_title(ds, fontsize=9)
        ax.legend()
    fig.suptitle(title, fontsize=9)
    return _save(fig, path)


def table4_bars(df: pd.DataFrame, path: Path, title: str) -> Path:
    _theme()
    fig, ax = plt.subplots(figsize=(6, 4))
    sns.barplot(data=df, x="dataset", y="median_s", hue="K", ax=ax, errorbar=None)
    ax.set_yscale("log")
    ax.set_ylabel("seconds per image (median)")
    ax.set_title(title, fontsize=9)
    return _save(fig, path)
