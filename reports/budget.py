"""The training-budget report (``bench run budget``): test DSC vs optimiser steps and vs training
seconds, per method (mean ± 95% CI over seeds), and whether LDSeg's gap to the U-Net closes,
holds or grows with the budget -- decided from the numbers by :func:`gap_verdict`.

Reads a finished sweep (``reports.load``); never trains or predicts.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter  # noqa: E402

from reports import paper_numbers as paper  # noqa: E402
from reports.export import DisplayTable  # noqa: E402
from reports.load import SweepData  # noqa: E402
from reports.stats import N_RESAMPLES, mean_ci, paired_comparison  # noqa: E402
from reports.tables import fmt, fmt_p, summarize, to_markdown  # noqa: E402

METHOD, REFERENCE = "ldseg", "unet"
# With one seed there is no spread to test against: a change of the gap within this many DSC
# points between the smallest and the largest budget counts as "holds".
TOLERANCE = 0.01


def budget_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """The sweep's finished children with their budget as an integer ``steps`` column."""
    if runs.empty or "setting.train_steps" not in runs:
        return pd.DataFrame(columns=["method", "dataset", "seed", "steps", "dsc"])
    out = runs.drop(columns=[c for c in ("steps",) if c in runs.columns])
    return out.assign(steps=out["setting.train_steps"].astype(int))


def gap_by_seed(runs: pd.DataFrame, method: str = METHOD, reference: str = REFERENCE):
    """reference DSC − method DSC per (seed, steps), where both were scored."""
    d = runs[runs["method"].isin([method, reference])]
    wide = d.pivot_table(index=["seed", "steps"], columns="method", values="dsc")
    if method not in wide or reference not in wide:
        return pd.Series(dtype=float)
    return (wide[reference] - wide[method]).dropna()


def gap_verdict(
    runs: pd.DataFrame, method: str = METHOD, reference: str = REFERENCE, tol: float = TOLERANCE
) -> tuple[str, str]:
    """("closes" | "holds" | "grows" | "unknown", one sentence with the numbers).

    The gap is reference − method DSC (positive: the method is behind). Its change from the
    smallest to the largest budget is taken per seed; with >= 2 seeds the verdict is "closes" /
    "grows" when the 95% t-interval of the mean change lies below / above 0, else "holds";
    with one seed a change within ±``tol`` holds.
    """
    gap = gap_by_seed(runs, method, reference)
    name, ref = paper.display(method), paper.display(reference)
    budgets = sorted({s for _, s in gap.index}) if len(gap) else []
    if len(budgets) < 2:
        return (
            "unknown",
            f"Cannot say how {name}'s gap to {ref} moves: it needs both at 2+ budgets.",
        )
    lo, hi = budgets[0], budgets[-1]
    g = gap.unstack("steps")
    change = (g[hi] - g[lo]).dropna()
    mean, half, n = mean_ci(change)
    if n >= 2:
        verdict = "closes" if mean + half < 0 else "grows" if mean - half > 0 else "holds"
        spread = (
            f"mean change {mean:+.3f}, 95% CI [{mean - half:+.3f}, {mean + half:+.3f}], {n} seeds"
        )
    else:
        verdict = "closes" if mean < -tol else "grows" if mean > tol else "holds"
        spread = f"change {mean:+.3f}; one seed, so a change within ±{tol} counts as holding"
    at_lo, at_hi = g[lo].mean(), g[hi].mean()
    sentence = (
        f"{name}'s gap to {ref} {verdict} with budget: {ref} − {name} = {at_lo:+.3f} DSC at "
        f"{lo:,} steps and {at_hi:+.3f} at {hi:,} steps ({spread})."
    )
    if at_lo > 0 >= at_hi:
        sentence += f" {name} reaches or passes {ref} by {hi:,} steps."
    return verdict, sentence


def paired_by_budget(
    sweep: SweepData, runs: pd.DataFrame, method: str = METHOD, reference: str = REFERENCE
) -> pd.DataFrame:
    """``method`` − ``reference`` paired over the test cases at every budget (per-case DSC
    averaged over the seeds first): one row per budget with the mean and median per-case
    difference, its 95% bootstrap CI and the two-sided Wilcoxon signed-rank p. With one seed
    this is the case-to-case spread of that one training run, not the run-to-run spread."""
    rows = []
    for steps, g in runs[runs["method"].isin([method, reference])].groupby("steps"):
        res = paired_comparison(sweep.per_case_frames(g), reference=method)
        if len(res):
            rows.append({"steps": int(steps), **res.iloc[0].to_dict()})
    return pd.DataFrame(rows)


def _paired_lines(paired: pd.DataFrame) -> list[str]:
    """The paired table's markdown, and a sentence on the longest budget."""
    if not len(paired):
        return []
    name, ref = paper.display(METHOD), paper.display(REFERENCE)
    table = pd.DataFrame(
        {
            "steps": [f"{s:,}" for s in paired["steps"]],
            "cases": paired["n_cases"].astype(int),
            "seeds": paired["seeds_reference"].astype(int),
            f"{name} − {ref} (mean)": [f"{v:+.3f}" for v in paired["mean_diff"]],
            "95% bootstrap CI": [
                f"[{lo:+.3f}, {hi:+.3f}]"
                for lo, hi in zip(paired["ci_low"], paired["ci_high"], strict=True)
            ],
            "median": [f"{v:+.3f}" for v in paired["median_diff"]],
            "p Wilcoxon": [fmt_p(p) for p in paired["p_value"]],
        }
    )
    last = paired.sort_values("steps").iloc[-1]
    where = _paired_where(last, ref)
    return [
        "",
        f"Paired over the test cases at each budget ({name} − {ref}, per-case DSC averaged over "
        f"the seeds first; {N_RESAMPLES:,} bootstrap resamples; with one seed the interval is "
        "the case-to-case spread of that one run, not the run-to-run spread). At "
        f"{int(last['steps']):,} steps {name} − {ref} = {last['mean_diff']:+.3f}, bootstrap CI "
        f"[{last['ci_low']:+.3f}, {last['ci_high']:+.3f}], median {last['median_diff']:+.3f}, "
        f"Wilcoxon p = {fmt_p(last['p_value'])}: {where}.",
        "",
        to_markdown(table),
    ]


def _paired_where(row: pd.Series, ref: str, alpha: float = 0.05) -> str:
    """Where the method stands against ``ref`` by both tests: "below" / "above" only when the
    bootstrap CI of the mean difference excludes 0 and the Wilcoxon test (of the per-case
    differences' location) agrees; a split decision is said as such."""
    ci = "below" if row["ci_high"] < 0 else "above" if row["ci_low"] > 0 else None
    side = "below" if row["median_diff"] < 0 else "above"
    wx = side if row["p_value"] < alpha else None
    if ci and ci == wx:
        return f"{ci} {ref} by both tests"
    if ci is None and wx is None:
        return f"not distinguishable from {ref} by either test"
    by, other = (
        ("the Wilcoxon test", "the bootstrap CI of the mean")
        if wx
        else (
            "the bootstrap CI of the mean",
            "the Wilcoxon test",
        )
    )
    return f"borderline: {by} puts it {wx or ci} {ref}, {other} does not (alpha {alpha})"


def budget_figure(long: pd.DataFrame, path: Path, title: str) -> Path:
    """DSC vs optimiser steps (log2-x) and vs training seconds, mean ± 95% CI per method."""
    dsc = long[long["metric"] == "dsc"].set_index(["method", "dataset", "steps"])
    sec = long[long["metric"] == "train_seconds"].set_index(["method", "dataset", "steps"])
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for (m, _ds), g in dsc.groupby(level=["method", "dataset"], sort=False):
        g = g.sort_index(level="steps")
        steps = g.index.get_level_values("steps").to_numpy()
        err = g["ci95"].fillna(0).to_numpy()
        label = paper.display(m)
        axes[0].errorbar(steps, g["mean"], yerr=err, marker="o", capsize=3, label=label)
        x = sec.reindex(g.index)["mean"].to_numpy()
        axes[1].errorbar(x, g["mean"], yerr=err, marker="o", capsize=3, label=label)
    axes[0].set_xscale("log", base=2)
    axes[1].set_xscale("log")
    # Plain numbers on the seconds axis: the default log formatter labels minor ticks as
    # overlapping "2x10^1 3x10^1 ..." when the range spans less than two decades; 1-2-5 ticks.
    axes[1].xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axes[1].xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axes[1].xaxis.set_minor_formatter(NullFormatter())
    ticks = sorted(dsc.index.get_level_values("steps").unique())
    axes[0].set_xticks(ticks, [f"{t:,}" for t in ticks])
    axes[0].minorticks_off()
    axes[0].set_xlabel("optimiser steps (one run per method, snapshots; log scale)")
    axes[1].set_xlabel("training seconds (optimiser steps only, this device; log scale)")
    axes[0].set_ylabel("test DSC")
    for ax in axes:
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _tables(long: pd.DataFrame, runs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(DSC per method x budget, with the U-Net − LDSeg gap row; training seconds)."""
    budgets = sorted(long["steps"].unique())
    rows, secs = [], []
    for m in sorted(long["method"].unique(), key=_order):
        g = long[long["method"] == m]
        d = g[g["metric"] == "dsc"].set_index("steps")
        s = g[g["metric"] == "train_seconds"].set_index("steps")
        rows.append({"method": paper.display(m)} | {f"{b:,} steps": _cell(d, b) for b in budgets})
        secs.append(
            {"method": paper.display(m)} | {f"{b:,} steps": _cell(s, b, 1) for b in budgets}
        )
    gap = gap_by_seed(runs)
    if len(gap):
        row = {"method": f"{paper.display(REFERENCE)} − {paper.display(METHOD)}"}
        for b in budgets:
            vals = gap[gap.index.get_level_values("steps") == b]
            row[f"{b:,} steps"] = _signed(*mean_ci(vals)) if len(vals) else "-"
        rows.append(row)
    return pd.DataFrame(rows), pd.DataFrame(secs)


def _signed(mean: float, half: float, n: int) -> str:
    return f"{mean:+.3f}" + (f" ± {half:.3f}" if n >= 2 else " (n=1)")


def _order(method: str) -> tuple:
    """LDSeg, then the U-Net, then the others by name."""
    return (method != METHOD, method != REFERENCE, method)


def _cell(d: pd.DataFrame, budget: int, digits: int = 3) -> str:
    if budget not in d.index:
        return "-"
    r = d.loc[budget]
    return fmt(r["mean"], r["ci95"], int(r["n"]), digits)


def _schedule_lines(sweep: SweepData, runs: pd.DataFrame) -> list[str]:
    """The LR schedule each method's single run used, from its logged params."""
    lines = []
    for m, g in runs.groupby("method", sort=False):
        p = sweep.params.get(g["run_id"].iloc[0], {})
        lines.append(
            f"- {paper.display(m)}: {p.get('train.optimizer', '?')}, lr {p.get('train.lr', '?')}, "
            f"schedule `{p.get('train.lr_schedule', '?')}` (final fraction "
            f"{p.get('train.lr_final_fraction', '?')}) over {p.get('train.steps', '?')} steps, "
            f"batch {p.get('train.batch_size', '?')}"
        )
    return lines


def _stage_note(runs: pd.DataFrame) -> list[str]:
    if "train_stage" not in runs:
        return []
    early = runs[runs["train_stage"] == 1]
    out = []
    for m, g in early.groupby("method", sort=False):
        steps = ", ".join(f"{s:,}" for s in sorted(g["steps"].unique()))
        out.append(
            f"- {paper.display(m)} is two-stage: its snapshots at {steps} steps precede the "
            f"stage switch (only the label autoencoder trained), so their DSC is not that of "
            f"a model trained for that budget."
        )
    return out


def render_budget(sweep: SweepData, exp, out: Path, tables: list[DisplayTable]):
    """The ``budget`` renderer: markdown lines and the long numbers (budget.csv)."""
    runs = budget_runs(sweep.runs)
    if runs.empty:
        return ["No finished runs."], pd.DataFrame()
    long = summarize(runs, ["dsc", "iou", "train_seconds"], ["method", "dataset", "steps"])
    dsc_table, sec_table = _tables(long, runs)
    tables.append(DisplayTable("Test DSC vs optimiser steps", dsc_table, {}))
    tables.append(DisplayTable("Training seconds vs optimiser steps", sec_table, {}))
    gap = gap_by_seed(runs)
    if len(gap):
        gap.rename("gap").reset_index().to_csv(out / "budget_gap.csv", index=False)
    budget_figure(long, out / "budget.png", f"{exp.name}: DSC vs training budget")
    _, sentence = gap_verdict(runs)
    paired = paired_by_budget(sweep, runs)
    if len(paired):
        paired.to_csv(out / "budget_paired.csv", index=False)
    datasets = ", ".join(paper.label(d) for d in runs["dataset"].unique())
    body = [
        f"**Verdict.** {sentence}",
        "",
        f"Test DSC on {datasets} vs optimiser steps. Each method trains once per seed for the "
        "longest budget; its inference weights (EMA applied) are kept at every listed step and "
        "scored on the test set (no retraining), so the LR schedule is the one of the longest "
        "run. Nothing is chosen from these numbers (the budgets are fixed in advance), so no "
        "validation split is used; the test set only scores. Cells: mean ± 95% CI over seeds "
        "(Student t); `n=1` with one seed.",
        "",
        "LR schedules (one run per method):",
        "",
        *_schedule_lines(sweep, runs),
        *(["", *_stage_note(runs)] if _stage_note(runs) else []),
        "",
        to_markdown(dsc_table),
        *_paired_lines(paired),
        "",
        "Training seconds (optimiser steps only) at each snapshot:",
        "",
        to_markdown(sec_table),
        "",
        "![budget](budget.png)",
    ]
    return body, long.assign(steps=long["steps"].astype(np.int64))
