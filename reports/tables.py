"""Tables: measured mean +/- 95% CI over seeds beside the paper's numbers, paired p-values
against LDSeg and the cost of each method, as DataFrames that render to Markdown, CSV and LaTeX.

CI: Student-t over seeds (``reports.stats.mean_ci``); with one seed only the mean is shown with
"n=1". Paired tests: ``reports.stats.paired_comparison`` (Wilcoxon per row vs LDSeg, Holm).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from reports import paper_numbers as paper
from reports.stats import mean_ci

__all__ = ["mean_ci", "fmt", "summarize", "accuracy_table", "to_markdown", "switches"]

# metric -> (column title, scale, direction of "better") of the cost columns, in display order;
# the CPU peak RSS is the whole process's (an upper bound that depends on what ran before in
# the sweep), so it is never marked best
COST_COLUMNS = {
    "num_parameters": ("params (M)", 1e-6, "min"),
    "flops_per_image": ("GFLOPs/image", 1e-9, "min"),
    "aten_ops_per_image": ("ATen ops/image", 1.0, "min"),
    "latency_median_s": ("latency (ms/image)", 1e3, "min"),
    "train_s_per_100_steps": ("train s/100 steps", 1.0, "min"),
    "peak_rss_mb": ("peak RSS (MiB, upper bound)", 1.0, ""),
    "peak_allocated_mb": ("peak allocated (MiB)", 1.0, "min"),
    "peak_reserved_mb": ("peak reserved (MiB)", 1.0, "min"),
}
COUNT_COLUMNS = {"aten_ops_per_image"}  # whole numbers: no decimals
P_COLUMNS = ("p Wilcoxon", "p Holm")


def fmt(mean: float, half: float, n: int, digits: int = 3) -> str:
    if n == 0 or not np.isfinite(mean):
        return "-"
    if n == 1:
        return f"{mean:.{digits}f} (n=1)"
    return f"{mean:.{digits}f} ± {half:.{digits}f}"


def fmt_paper(v: float | None, digits: int = 2) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def fmt_p(p: float) -> str:
    if p is None or not np.isfinite(p):
        return "-"
    return f"{p:.1e}" if p < 1e-3 else f"{p:.3f}"


def fmt_num(v: float) -> str:
    """A cost value with about three significant digits and no exponent."""
    if v is None or not np.isfinite(v):
        return "-"
    if abs(v) >= 100:
        return f"{v:.0f}"
    if abs(v) >= 1:
        return f"{v:.2f}"
    return f"{v:.{max(2, 2 - math.floor(math.log10(abs(v))))}f}" if v else "0"


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
                if c.startswith("dsc_")
                and c not in ("dsc_mean", "dsc_combined", "dsc_native")
                and not c.endswith("_native")
            }
        )
    return names


def accuracy_table(
    runs: pd.DataFrame,
    dataset: str,
    table: str,
    skipped: Sequence[dict],
    failed: Sequence[dict] = (),
    comparison: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(display table, long numbers) for one dataset of an accuracy experiment.

    ``comparison`` (``reports.stats.paired_comparison``) fills the p-value columns; the cost
    columns come from the runs' cost metrics (``benchmarks.accuracy.measure_cost``), "-" for
    runs logged before those existed.
    """
    if runs.empty:
        runs = pd.DataFrame(columns=["method", "dataset", "seed"])
    sub = _train_rate(runs[runs["dataset"] == dataset])
    names = class_columns(sub, dataset) if table in ("table1", "table3") else []
    multi = len(names) > 1  # per-class columns; paper numbers only where the paper has a table
    ref = paper.per_class(dataset) if multi else None
    if multi:
        cols = [(f"dsc_{c}", "dsc", i, f"DSC {c}") for i, c in enumerate(names[:2])]
        cols += [("dsc_combined", "dsc", 2, "DSC combined")]
        cols += [(f"iou_{c}", "iou", i, f"IoU {c}") for i, c in enumerate(names[:2])]
        cols += [("iou_combined", "iou", 2, "IoU combined")]
    else:
        cols = [("dsc", "dsc", 0, "DSC"), ("iou", "iou", 1, "IoU")]
    costs = cost_metrics(sub)
    natives = native_metrics(sub, [c[0] for c in cols])
    metrics = [c[0] for c in cols] + list(natives.values()) + hd95_metrics(sub) + costs
    sub = pool_folds(sub, [c[0] for c in cols])
    long = summarize(sub, metrics, ["method"]) if len(sub) else pd.DataFrame()
    methods = list(dict.fromkeys(sub["method"])) if len(sub) else []
    ref_methods = list(ref["dsc"]) if ref is not None else list(paper.binary(table))
    skip = {s["method"]: s["reason"] for s in skipped if s["dataset"] == dataset}
    for f in failed:
        if f["dataset"] == dataset and f["method"] not in methods:
            status = "missing" if f.get("status") == "MISSING" else "failed"
            skip.setdefault(f["method"], f"{status} (see below)")
    order = _order(methods, ref_methods, skip)
    tests = comparison.set_index("method") if comparison is not None and len(comparison) else None
    rows = []
    for m in order:
        ran = m in methods
        g = sub[sub["method"] == m]
        row = {"method": paper.display(m), "K": _k(g) if ran else "-"}
        for metric, kind, idx, title in cols:
            row[title] = _cell(long, m, metric, skip.get(m) or ("not run" if not ran else None))
            if metric in natives:  # the same predictions scored at each case's file size
                row[f"{title} native"] = _cell(
                    long, m, natives[metric], skip.get(m) or ("not run" if not ran else None)
                )
            if ref is not None or not multi:
                row[f"{title} (paper{_paper_class(ref, idx)})"] = fmt_paper(
                    _paper_value(ref, table, m, kind, idx)
                )
        row["seeds"] = int(g["seed"].nunique()) if ran else 0
        row["cases"] = int(g["n_cases"].max()) if ran and _has(g, "n_cases") else "-"
        for title, key in zip(P_COLUMNS, ("p_value", "p_holm"), strict=True):
            row[title] = fmt_p(tests.loc[m, key]) if tests is not None and m in tests.index else "-"
            if comparison is not None and len(comparison) and m == comparison["reference"].iloc[0]:
                row[title] = "ref."
        for metric in costs:
            title, scale = COST_COLUMNS[metric][:2]
            value = g[metric].mean() * scale if ran and _has(g, metric) else None
            whole = metric in COUNT_COLUMNS and value is not None
            row[title] = f"{value:.0f}" if whole else fmt_num(value)
        rows.append(row)
    if len(long):
        long["paper"] = [
            _paper_value(ref, table, r.method, _kind(r.metric), _idx(r.metric, cols))
            if r.metric in {c[0] for c in cols}  # native twins, HD95, costs: no paper value
            else None
            for r in long.itertuples()
        ]
        long.insert(0, "dataset", dataset)
    return pd.DataFrame(rows), long


FOLD = "setting.fold"  # a k-fold child's fold (benchmarks/kinds/accuracy.py)


def pool_folds(runs: pd.DataFrame, accuracy: Sequence[str]) -> pd.DataFrame:
    """One row per (method, dataset, seed): a k-fold sweep has a run per fold, each scoring its
    own held-out cases, and the table's unit is the seed. Accuracy metrics are pooled over the
    folds' cases (each fold's mean weighted by its number of cases), ``n_cases`` summed, other
    numbers (costs, K) averaged. Runs without folds are returned unchanged."""
    if FOLD not in runs or not runs[FOLD].notna().any():
        return runs
    keys = ["method", "dataset", "seed"]
    w = runs["n_cases"].fillna(1) if "n_cases" in runs else pd.Series(1.0, index=runs.index)
    rows = []
    for key, g in runs.groupby(keys, sort=False):
        row = dict(zip(keys, key, strict=True))
        for col in g.columns.difference(keys + [FOLD]):
            values = g[col]
            if not pd.api.types.is_numeric_dtype(values):
                row[col] = values.iloc[0]
            elif col == "n_cases":
                row[col] = values.sum()
            elif col in accuracy and values.notna().all():
                row[col] = float((values * w[g.index]).sum() / w[g.index].sum())
            else:
                row[col] = values.mean()
        row["folds"] = int(g[FOLD].nunique())
        rows.append(row)
    return pd.DataFrame(rows)


def native_metrics(runs: pd.DataFrame, metrics: Sequence[str]) -> dict[str, str]:
    """``{metric: its native-resolution twin}`` for the twins the runs logged
    (``benchmarks.native``: ``dsc`` -> ``dsc_native``, ``dsc_fc`` -> ``dsc_fc_native``)."""
    return {m: f"{m}_native" for m in metrics if _has(runs, f"{m}_native")}


def hd95_metrics(runs: pd.DataFrame) -> list[str]:
    """HD95 columns (training resolution in resized pixels, native in the unit its name
    states), for the CSV; not shown in the display table."""
    return sorted(c for c in runs.columns if c.startswith("hd95_") and _has(runs, c))


def native_change(long: pd.DataFrame, metric: str = "dsc") -> pd.DataFrame:
    """Per method: mean native-resolution minus mean training-resolution ``metric``."""
    if not len(long):
        return pd.DataFrame(columns=["method", "train_res", "native", "change"])
    wide = long[long["metric"].isin([metric, f"{metric}_native"])].pivot_table(
        index="method", columns="metric", values="mean", sort=False
    )
    if f"{metric}_native" not in wide or metric not in wide:
        return pd.DataFrame(columns=["method", "train_res", "native", "change"])
    out = pd.DataFrame(
        {"train_res": wide[metric], "native": wide[f"{metric}_native"]}
    ).reset_index()
    out["change"] = out["native"] - out["train_res"]
    return out


def cost_metrics(runs: pd.DataFrame) -> list[str]:
    """The cost columns to show: always parameters, FLOPs, latency and training time; the
    ATen operator count when any run has it (runs logged before it existed do not); the
    CUDA memory columns when any run has them, else the CPU peak RSS."""
    base = ["num_parameters", "flops_per_image", "latency_median_s", "train_s_per_100_steps"]
    if _has(runs, "aten_ops_per_image"):
        base.insert(2, "aten_ops_per_image")
    cuda = ["peak_allocated_mb", "peak_reserved_mb"]
    return base + (cuda if any(_has(runs, c) for c in cuda) else ["peak_rss_mb"])


def best_directions(table: pd.DataFrame) -> dict[str, str]:
    """Which value of each column of an accuracy display table is best (for bold)."""
    out = {}
    for col in table.columns:
        if col.startswith(("DSC", "IoU")):
            out[col] = "max"
        for title, _, direction in COST_COLUMNS.values():
            if col == title and direction:
                out[col] = direction
    return out


def _train_rate(runs: pd.DataFrame) -> pd.DataFrame:
    """Training seconds per 100 steps, derived from the train job's ``train_seconds`` and
    ``train_steps`` for runs logged before the cost columns existed."""
    if not (_has(runs, "train_seconds") and _has(runs, "train_steps")):
        return runs
    rate = runs["train_seconds"] / runs["train_steps"].where(runs["train_steps"] > 0) * 100
    if "train_s_per_100_steps" in runs:
        rate = runs["train_s_per_100_steps"].fillna(rate)
    return runs.assign(train_s_per_100_steps=rate)


def _has(df: pd.DataFrame, col: str) -> bool:
    return col in df and df[col].notna().any()


def _k(g: pd.DataFrame) -> str:
    """The sampling steps K behind a row's numbers ("-" for a one-pass method)."""
    if not _has(g, "num_inference_steps"):
        return "-"
    ks = sorted({int(k) for k in g["num_inference_steps"].dropna()})
    return ", ".join(str(k) for k in ks) if ks and ks != [0] else "-"


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
