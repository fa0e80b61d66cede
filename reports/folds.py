"""k-fold cross-validation in an accuracy report (e.g. ``bench run table3 --set folds=5``):
per-class DSC per fold, and pooled over the held-out cases of all folds (knee: one volume per
fold, so five folds pool five held-out volumes, each held out exactly once).

Reads the children's ``per_case.csv`` artifacts (``reports.load``); never trains or predicts.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd

from reports import paper_numbers as paper
from reports.load import SweepData
from reports.stats import mean_ci
from reports.tables import FOLD, fmt


def has_folds(runs: pd.DataFrame) -> bool:
    return FOLD in runs.columns and runs[FOLD].notna().any()


def fold_cases(sweep: SweepData, dataset: str) -> pd.DataFrame:
    """Every held-out case of every fold child of ``dataset``: method, seed, fold + its
    per-case metrics (one row per case and run)."""
    runs = sweep.runs[(sweep.runs["dataset"] == dataset) & sweep.runs[FOLD].notna()]
    frames = []
    with tempfile.TemporaryDirectory() as tmp:
        for r in runs.to_dict("records"):
            p = sweep.artifact(r["run_id"], "per_case.csv", Path(tmp) / r["run_id"])
            if p is not None:
                frames.append(
                    pd.read_csv(p).assign(method=r["method"], seed=r["seed"], fold=int(r[FOLD]))
                )
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def metric_columns(cases: pd.DataFrame, classes: list[str]) -> list[str]:
    """The DSC columns to show: each foreground class, then the combined region or the mean."""
    cols = [f"dsc_{c}" for c in classes if f"dsc_{c}" in cases]
    extra = "dsc_combined" if "dsc_combined" in cases else "dsc_mean"
    return [*cols, extra] if extra not in cols else cols


def per_fold_table(cases: pd.DataFrame, cols: list[str]) -> pd.DataFrame:
    """One row per method x fold: the held-out cases and their DSC (mean over cases, then over
    seeds, ± 95% CI over seeds)."""
    rows = []
    for (m, k), g in cases.groupby(["method", "fold"], sort=True):
        row = {"method": paper.display(m), "fold": int(k)}
        row["held out"] = ", ".join(sorted(g["case_id"].astype(str).unique()))
        by_seed = g.groupby("seed")[cols].mean()
        for c in cols:
            row[_label(c)] = fmt(*mean_ci(by_seed[c]))
        rows.append(row)
    return pd.DataFrame(rows)


def pooled_table(cases: pd.DataFrame, cols: list[str]) -> pd.DataFrame:
    """One row per method: each held-out case's DSC averaged over seeds, then mean ± 95% CI
    (Student t) over the cases of all folds. Refuses a case held out by two folds."""
    rows = []
    for m, g in cases.groupby("method", sort=False):
        twice = g.groupby(["seed", "case_id"])["fold"].nunique()
        if (twice > 1).any():
            bad = sorted(twice[twice > 1].index.get_level_values("case_id").unique())
            raise ValueError(f"{m}: case(s) {bad} held out by more than one fold")
        per_case = g.groupby("case_id")[cols].mean()
        row = {"method": paper.display(m), "folds": g["fold"].nunique()}
        row["held-out cases"] = len(per_case)
        for c in cols:
            row[_label(c)] = fmt(*mean_ci(per_case[c]))
        rows.append(row)
    return pd.DataFrame(rows)


def _label(col: str) -> str:
    name = col.removeprefix("dsc_")
    return {"combined": "DSC combined", "mean": "DSC mean"}.get(name, f"DSC {name}")


def fold_section(sweep: SweepData, dataset: str, name: str, out: Path, tables: list) -> list[str]:
    """Markdown of a k-fold accuracy sweep on ``dataset``: per-fold and pooled per-class DSC
    (their display tables appended to ``tables``; ``NAME_folds.csv`` / ``NAME_pooled.csv``)."""
    from reports.export import DisplayTable
    from reports.tables import class_columns, to_markdown

    cases = fold_cases(sweep, dataset)
    if cases.empty:
        return ["", "Cross-validation: no per-case tables of the fold runs."]
    cols = metric_columns(cases, class_columns(sweep.runs, dataset))
    folds, pooled = per_fold_table(cases, cols), pooled_table(cases, cols)
    folds.to_csv(out / f"{name}_folds.csv", index=False)
    pooled.to_csv(out / f"{name}_pooled.csv", index=False)
    label = paper.label(dataset)
    tables.append(DisplayTable(f"{name}: {label}, per fold", folds, {}))
    tables.append(DisplayTable(f"{name}: {label}, pooled over the folds", pooled, {}))
    n = int(cases["fold"].nunique())
    return [
        "",
        f"### {n}-fold cross-validation (by volume / case group)",
        "",
        f"Each fold trains on the other {n - 1} folds and tests on its own held-out cases; "
        "every case is held out exactly once. The table above pools the folds per seed (each "
        "number is the mean over every held-out case; its ± spans seeds, so `n=1` with one "
        "seed; its cases column counts all held-out cases). Per fold (mean over its held-out cases, "
        "± 95% CI over seeds):",
        "",
        to_markdown(folds),
        "",
        "Pooled over the held-out cases of all folds (each case's DSC averaged over seeds, "
        "then mean ± 95% CI over the cases, Student t):",
        "",
        to_markdown(pooled),
    ]
