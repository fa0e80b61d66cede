"""Tables: measured mean +/- 95% CI over seeds beside the paper's numbers, as DataFrames that
render to Markdown and CSV.

CI: Student-t, ``mean +/- t_{0.975, n-1} * sd / sqrt(n)`` over seeds; with one seed only the
mean is shown with "n=1". Paired test: Wilcoxon signed-rank (two-sided) of LDSeg vs the best
other method over test cases, each case's DSC averaged over seeds first.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from reports import paper_numbers as paper


def mean_ci(values: Iterable[float]) -> tuple[float, float, int]:
    """(mean, 95% CI half-width, n) of the finite values; half-width NaN when n < 2."""
    x = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=float)
    n = len(x)
    if n == 0:
        return float("nan"), float("nan"), 0
    if n == 1:
        return float(x[0]), float("nan"), 1
    half = stats.t.ppf(0.975, n - 1) * x.std(ddof=1) / math.sqrt(n)
    return float(x.mean()), float(half), n


def fmt(mean: float, half: float, n: int, digits: int = 3) -> str:
    if n == 0 or not np.isfinite(mean):
        return "-"
    if n == 1:
        return f"{mean:.{digits}f} (n=1)"
    return f"{mean:.{digits}f} ± {half:.{digits}f}"


def fmt_paper(v: float | None, digits: int = 2) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def summarize(df: pd.DataFrame, metrics: Sequence[str], by: Sequence[str]) -> pd.DataFrame:
    """Long table: one row per group x metric with mean, ci95 (half-width) and n (seeds)."""
    rows = []
    for key, g in df.groupby(list(by), sort=False):
        key = key if isinstance(key, tuple) else (key,)
        for m in metrics:
            if m not in g:
                continue
            mean, half, n = mean_ci(g[m])
            rows.append(
                {**dict(zip(by, key, strict=True)), "metric": m, "mean": mean, "ci95": half, "n": n}
            )
    return pd.DataFrame(rows)


def to_markdown(df: pd.DataFrame) -> str:
    cols = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for _, row in df.iterrows():
        lines.append("| " + " | ".join(str(v) for v in row.tolist()) + " |")
    return "\n".join(lines)


# -- accuracy tables (I, II, III, V) -----------------------------------------------------------
def class_columns(runs: pd.DataFrame, dataset: str) -> list[str]:
    """Foreground class names in label order (from the dataset registry when possible)."""
    try:
        from benchmarks.data import get_info

        names = list(get_info(dataset).class_names[1:])
    except Exception:  # noqa: BLE001 - a report still renders without the data layer
        names = sorted(
            {
                c[4:]
                for c in runs.columns
                if c.startswith("dsc_") and c not in ("dsc_mean", "dsc_combined")
            }
        )
    return names


def accuracy_table(
    runs: pd.DataFrame,
    dataset: str,
    table: str,
    skipped: Sequence[dict],
    failed: Sequence[dict] = (),
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(display table, long numbers) for one dataset of an accuracy experiment."""
    if runs.empty:
        runs = pd.DataFrame(columns=["method", "dataset", "seed"])
    sub = runs[runs["dataset"] == dataset]
    ref = paper.per_class(dataset) if table in ("table1", "table3") else None
    if ref is not None:
        names = class_columns(sub, dataset)
        cols = [(f"dsc_{c}", "dsc", i, f"DSC {c}") for i, c in enumerate(names[:2])]
        cols += [("dsc_combined", "dsc", 2, "DSC combined")]
        cols += [(f"iou_{c}", "iou", i, f"IoU {c}") for i, c in enumerate(names[:2])]
        cols += [("iou_combined", "iou", 2, "IoU combined")]
    else:
        cols = [("dsc", "dsc", 0, "DSC"), ("iou", "iou", 1, "IoU")]
    long = summarize(sub, [c[0] for c in cols], ["method"]) if len(sub) else pd.DataFrame()
    methods = list(dict.fromkeys(sub["method"])) if len(sub) else []
    ref_methods = list(ref["dsc"]) if ref is not None else list(paper.binary(table))
    skip = {s["method"]: s["reason"] for s in skipped if s["dataset"] == dataset}
    for f in failed:
        if f["dataset"] == dataset and f["method"] not in methods:
            skip.setdefault(f["method"], "failed (see below)")
    order = _order(methods, ref_methods, skip)
    rows = []
    for m in order:
        row = {"method": paper.display(m)}
        for metric, kind, idx, title in cols:
            row[title] = _cell(
                long, m, metric, skip.get(m) or ("not run" if m not in methods else None)
            )
            row[f"{title} (paper{_paper_class(ref, idx)})"] = fmt_paper(
                _paper_value(ref, table, m, kind, idx)
            )
        row["seeds"] = int(sub[sub["method"] == m]["seed"].nunique()) if m in methods else 0
        rows.append(row)
    if len(long):
        long["paper"] = [
            _paper_value(ref, table, r.method, _kind(r.metric), _idx(r.metric, cols))
            for r in long.itertuples()
        ]
        long.insert(0, "dataset", dataset)
    return pd.DataFrame(rows), long


def _paper_class(ref, idx: int) -> str:
    """' LV' / ' FC+TC': which of the paper's columns a per-class column is compared with."""
    return f" {ref['classes'][idx]}" if ref is not None else ""


def _kind(metric: str) -> str:
    return "iou" if metric.startswith("iou") else "dsc"


def _idx(metric: str, cols) -> int:
    return next(c[2] for c in cols if c[0] == metric)


def _order(methods: list[str], ref_methods: list[str], skip: dict) -> list[str]:
    ours = [m for m in ref_methods if m in methods or m in skip]
    ours += [m for m in methods if m not in ours]
    ours += [m for m in skip if m not in ours]
    ours += [m for m in ref_methods if m not in ours]  # paper rows we did not run (MedT)
    # LDSeg last, as in the paper
    return sorted(ours, key=lambda m: m == "ldseg")


def _cell(long: pd.DataFrame, method: str, metric: str, reason: str | None) -> str:
    if reason:
        return reason
    hit = long[(long["method"] == method) & (long["metric"] == metric)] if len(long) else long
    if not len(hit):
        return "-"
    r = hit.iloc[0]
    return fmt(r["mean"], r["ci95"], int(r["n"]))


def _paper_value(ref, table: str, method: str, kind: str, idx: int) -> float | None:
    if ref is not None:
        vals = ref[kind].get(method)
        return None if vals is None else vals[idx]
    vals = paper.binary(table).get(method)
    return None if vals is None else vals[0 if kind == "dsc" else 1]


def wilcoxon_vs_best(
    per_case: dict[str, list[pd.DataFrame]], metric: str = "dsc_mean", ldseg: str = "ldseg"
) -> dict | None:
    """Paired Wilcoxon of ``ldseg`` vs the best other method (by mean ``metric``) over test
    cases; ``per_case[method]`` holds one per-case table per seed."""
    if ldseg not in per_case or len(per_case) < 2:
        return None

    def by_case(frames: list[pd.DataFrame]) -> pd.Series:
        both = pd.concat(frames)
        return both.groupby(both["case_id"].astype(str))[metric].mean()

    means = {m: by_case(f) for m, f in per_case.items() if f}
    others = {m: s.mean() for m, s in means.items() if m != ldseg}
    if not others:
        return None
    best = max(others, key=others.get)
    a, b = means[ldseg].align(means[best], join="inner")
    out = {
        "method": ldseg,
        "baseline": best,
        "n_cases": int(len(a)),
        "mean_ldseg": float(a.mean()),
        "mean_baseline": float(b.mean()),
        "median_diff": float((a - b).median()) if len(a) else float("nan"),
        "statistic": float("nan"),
        "p_value": float("nan"),
        "seeds": {m: len(f) for m, f in per_case.items()},
    }
    if len(a) and np.any(a.to_numpy() != b.to_numpy()):
        res = stats.wilcoxon(a.to_numpy(), b.to_numpy(), alternative="two-sided")
        out.update(statistic=float(res.statistic), p_value=float(res.pvalue))
    return out


# -- switches ----------------------------------------------------------------------------------
SWITCH_PREFIXES = (
    "method.loss.",
    "method.sampler.",
    "method.schedule.",
    "eval.sampler",
    "eval.num_inference_steps",
    "eval.num_samples",
    "eval.seed",
    "method.num_downsamplings",
    "method.latent_channels",
    "train.steps",
    "train.lr",
    "train.lr_schedule",
    "train.ema_decay",
    "train.batch_size",
    "noise.",
)


def switches(params: dict[str, dict[str, str]], run_ids: Iterable[str]) -> dict[str, str]:
    """The behaviour-changing settings of the given runs (values joined when they differ)."""
    seen: dict[str, list[str]] = {}
    for rid in run_ids:
        for k, v in params.get(rid, {}).items():
            if k.startswith(SWITCH_PREFIXES):
                seen.setdefault(k, [])
                if v not in seen[k]:
                    seen[k].append(v)
    return {k: ", ".join(v) for k, v in sorted(seen.items())}
