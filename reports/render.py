"""``bench report NAME``: a finished sweep -> ``<root>/NAME/`` with ``report.md`` (measured
numbers beside the paper's), ``NAME.csv`` (the long numbers), PNG figures and, for ``--format
csv|latex``, the display tables as ``NAME_tables.csv`` / ``NAME.tex`` (``reports.export``).
Accuracy reports also write ``NAME_paired.csv``: LDSeg vs every other row over test cases.

Which renderer draws a report is the experiment kind's choice (``benchmarks.kinds``: its
``renderer`` names a :data:`RENDERERS` entry). Reads MLflow only (``reports.load``); never
trains or predicts. The default root is ``reports/out`` (``$LDSEG_REPORTS`` or the ``out_dir``
argument override it).
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.errors import ConfigError
from benchmarks.experiments import get_experiment
from benchmarks.kinds import get_kind
from reports import export, figures, folds
from reports import paper_numbers as paper
from reports.budget import render_budget
from reports.deviations import deviations_section
from reports.export import DisplayTable
from reports.load import SweepData, load_sweep
from reports.stats import N_RESAMPLES, paired_comparison
from reports.tables import (
    accuracy_table,
    best_directions,
    fmt,
    fmt_p,
    native_change,
    summarize,
    switches,
    to_markdown,
)

log = logging.getLogger(__name__)
REPORTS_ENV = "LDSEG_REPORTS"

# renderer(sweep, experiment, report folder, display tables to fill) -> (markdown lines, long
# DataFrame); RENDERERS maps an experiment kind's ``renderer`` name to one (bottom of the file)
Renderer = Callable[[SweepData, Any, Path, list[DisplayTable]], tuple[list[str], pd.DataFrame]]


def get_renderer(name: str) -> Renderer:
    """The renderer ``name`` (an experiment kind's ``renderer``); unknown -> ConfigError."""
    if name not in RENDERERS:
        raise ConfigError(f"unknown renderer {name!r}; valid: {', '.join(sorted(RENDERERS))}")
    return RENDERERS[name]


def report_root(out_dir: str | Path | None = None) -> Path:
    return Path(out_dir or os.environ.get(REPORTS_ENV) or "reports/out")


def render_report(
    experiment: str,
    *,
    tracking_uri: str | None = None,
    parent_run_id: str | None = None,
    profile: str | None = None,
    out_dir: str | Path | None = None,
    out_root: str | Path | None = None,
    fmt: str = "md",
) -> Path:
    """Render the latest (or the given) sweep of ``experiment``; returns the report folder.

    ``report.md`` and the long CSV are always written; ``fmt`` "csv" or "latex" adds the
    display tables in that format (``reports.export.report_file`` names the file)."""
    export.check_format(fmt)
    exp = get_experiment(experiment)
    sweep = load_sweep(
        experiment,
        tracking_uri=tracking_uri,
        parent_run_id=parent_run_id,
        profile=profile,
        out_root=out_root,
    )
    out = report_root(out_dir) / experiment
    out.mkdir(parents=True, exist_ok=True)
    tables: list[DisplayTable] = []
    body, long = get_renderer(get_kind(exp.kind).renderer)(sweep, exp, out, tables)
    deviations = _deviations(sweep, exp)
    md = [f"# {exp.name}: {exp.title}", "", *_header(sweep, exp), ""]
    if deviations:
        md.insert(-1, f"- configs: {deviations[0]} (see *Where each row differs*, below)")
    md += [*body, "", *deviations[1:], *_footer(sweep)]
    (out / "report.md").write_text("\n".join(md) + "\n")
    long.to_csv(out / f"{experiment}.csv", index=False)
    if fmt != "md":
        export.write(tables, fmt, out, experiment, footnote(sweep))
    return out


def footnote(sweep: SweepData) -> str:
    """Where the numbers come from: profile, device and git commit of the sweep."""
    t = sweep.tags
    return (
        f"Profile {sweep.profile}; device {t.get('device', '?')} "
        f"({_measured_on(sweep.runs, t)}); git {_commits(sweep.runs, t)}; "
        f"MLflow sweep {sweep.parent_run_id}."
    )


def _samples(method: str) -> bool:
    """Does the method run a sampler (else K means nothing for it)?"""
    try:
        from benchmarks.methods import get_spec

        return get_spec(method).samples
    except Exception:  # noqa: BLE001 - an unregistered method: show K
        return True


def exp_settings_order(datasets) -> list[str]:
    """Datasets in the paper's order (echo, GlaS, knee), others after."""
    known = ["echo-synth", "knee2d", "glas", "knee3d"]
    return [d for d in known if d in set(datasets)] + sorted(set(datasets) - set(known))


def _settings(runs: pd.DataFrame, **names: str) -> pd.DataFrame:
    """Rename ``setting.X`` tag columns to short names (dropping same-named metric columns)."""
    mapping = {f"setting.{v}": k for k, v in names.items()}
    runs = runs.drop(columns=[k for k in names if k in runs.columns])
    return runs.rename(columns=mapping)


def _measured_on(runs: pd.DataFrame, tags: dict) -> str:
    """Where the children ran (their own environment tags; a ``--cached-only`` sweep's parent
    ran elsewhere), else the parent's."""
    pairs = []
    if len(runs) and "env.device" in runs:
        pairs = sorted(
            {(d, c) for d, c in zip(runs["env.device"], runs["env.cpu"], strict=True) if d}
        )
    if not pairs:
        pairs = [(tags.get("env.device", "?"), tags.get("env.cpu", ""))]
    return "; ".join(f"{d}, {c}" if c else d for d, c in pairs)


def _commits(runs: pd.DataFrame, tags: dict) -> str:
    shas = (
        sorted({s for s in runs.get("env.git_sha", pd.Series(dtype=str)) if s}) if len(runs) else []
    )
    return ", ".join(s[:10] for s in shas) or tags.get("git_sha", "?")[:10]


def _header(sweep: SweepData, exp) -> list[str]:
    t = sweep.tags
    lines = [
        f"- paper: {exp.paper}",
        f"- profile: `{sweep.profile}`; device: {t.get('device', '?')} "
        f"({_measured_on(sweep.runs, t)}); git {_commits(sweep.runs, t)}",
        f"- MLflow sweep run: `{sweep.parent_run_id}` ({len(sweep.runs)} finished children)",
    ]
    if t.get("cached_only") == "true":
        lines.append(
            f"- assembled with `--cached-only` on {t.get('env.device', '?')} "
            f"({t.get('env.cpu', '')}) from children computed where the line above says"
        )
    if get_kind(exp.kind).trained:  # children per seed
        lines.append(
            "- numbers: mean ± 95% CI over seeds (Student t); with one seed the mean "
            "and `n=1`. Paper numbers: as published (paper's data, A100)."
        )
    if sweep.disk:  # each training state stored once (benchmarks.storage)
        d = sweep.disk
        lines.append(
            f"- disk: {d['disk_total_mb']:.1f} MB ({d['disk_jobs_mb']:.1f} MB train jobs in "
            f"LDSEG_OUT, {d['disk_artifacts_mb']:.1f} MB MLflow artifacts)"
        )
    return lines


def _deviations(sweep: SweepData, exp) -> list[str]:
    """[summary line, *section]: per row, the resolved keys where it differs from the paper
    profile (``reports.deviations``), for kinds whose children train models."""
    if not (len(sweep.runs) and get_kind(exp.kind).trained) or "run_id" not in sweep.runs:
        return []
    rows = list(sweep.runs[["method", "dataset", "run_id"]].itertuples(index=False, name=None))
    section = deviations_section(sweep.params, rows, label=paper.display)
    counts = [line for line in section if line.startswith("- **")]
    same = sum("none — the row ran" in line for line in counts)
    summary = (
        f"{len(counts) - same} of {len(counts)} rows differ from the `paper` profile's "
        "configuration, generated per row from the resolved configs"
    )
    return [summary, *section]


def _footer(sweep: SweepData) -> list[str]:
    lines = []
    if len(sweep.runs):
        ld = sweep.runs[sweep.runs["method"] == "ldseg"]["run_id"].tolist()
        sw = switches(sweep.params, ld)
        if sw:
            lines += [
                "## Settings that produced LDSeg's numbers",
                "",
                *[f"- `{k}` = {v}" for k, v in sw.items()],
                "",
            ]
    if sweep.failed:
        lines += ["## Failed or missing children (not in the tables)", ""]
        lines += [
            f"- {c['status'].lower()}: {c['method']} on {c['dataset']} (seed {c['seed']}"
            f"{_fold(c)}): {c['error']}"
            for c in sweep.failed
        ]
    return lines


def _fold(child: dict) -> str:
    fold = dict(map(tuple, child.get("setting") or [])).get("fold")
    return f", fold {fold}" if fold is not None else ""


# -- accuracy tables ---------------------------------------------------------------------------
def _accuracy(sweep: SweepData, exp, out: Path, tables: list[DisplayTable]):
    runs, body, longs, paired = sweep.runs, [_ACCURACY_LEGEND, ""], [], []
    for ds in exp.datasets:
        comparison = _paired(sweep, ds)
        table, long = accuracy_table(
            runs, ds, exp.name, sweep.skipped, sweep.failed, comparison=comparison
        )
        tables.append(DisplayTable(f"{exp.name}: {paper.label(ds)}", table, best_directions(table)))
        body += [f"## {paper.label(ds)}", "", to_markdown(table), ""]
        if not len(long):
            continue
        body += _native_lines(
            long, "dsc_combined" if "dsc_combined" in set(long["metric"]) else "dsc"
        )
        longs.append(long)
        metric = "dsc_combined" if "dsc_combined" in set(long["metric"]) else "dsc"
        figures.accuracy_bars(
            long, out / f"{ds}_dsc.png", f"{exp.name}: {paper.label(ds)}", metric=metric
        )
        body.append(f"![DSC]({ds}_dsc.png)")
        body += _paired_text(comparison)
        if len(comparison):
            paired.append(comparison.assign(dataset=ds))
            tables.append(
                DisplayTable(
                    f"{exp.name}: {paper.label(ds)}, paired vs LDSeg", _paired_table(comparison)
                )
            )
        if folds.has_folds(sweep.runs):
            body += folds.fold_section(sweep, ds, exp.name, out, tables)
        q = _qualitative(sweep, ds, out / f"{ds}_qualitative.jpg", f"{exp.name}: {paper.label(ds)}")
        if q:
            body += ["", f"![qualitative]({q.name})", ""]
    if paired:
        pd.concat(paired).to_csv(out / f"{exp.name}_paired.csv", index=False)
    return body, pd.concat(longs) if longs else pd.DataFrame()


def _native_lines(long: pd.DataFrame, metric: str) -> list[str]:
    """One line per method: how the DSC moves from the training resolution to native."""
    change = native_change(long, metric)
    if not len(change):
        return []
    parts = [
        f"{paper.display(r.method)} {r.train_res:.3f} → {r.native:.3f} ({r.change:+.4f})"
        for r in change.itertuples()
    ]
    return [
        f"Native vs training resolution ({metric}, mean over seeds): " + "; ".join(parts) + ".",
        "",
    ]


_ACCURACY_LEGEND = (
    'Columns: K = sampling steps behind the row ("-": one forward pass); DSC / IoU at the '
    "training resolution; *native*: the same predictions scored at each case's file size "
    "(class probabilities resampled bilinear/trilinear, then argmax; `benchmarks/native.py`), "
    "HD95 of both in the CSV; seeds and test "
    "cases per row; p = two-sided paired Wilcoxon signed-rank test of LDSeg vs that row over "
    "the test cases (each case's DSC averaged over the seeds first; one seed is still a "
    "paired test), Holm-corrected across the rows. Cost (mean over seeds, this sweep's "
    "device): parameters; FLOPs of one test image through `predict` at the row's K "
    "(`torch.utils.flop_counter`, a multiply-add = 2 FLOPs); where logged, the ATen "
    "operators that call dispatched (views included: what a GPU at batch 1 pays per "
    "operator); median latency of that image "
    "(batch 1, after warm-up); optimiser seconds per 100 training steps; peak memory during "
    "the timed calls (CUDA: allocated and reserved; CPU: the process's peak RSS, an upper "
    "bound)."
)


def _paired(sweep: SweepData, dataset: str) -> pd.DataFrame:
    """LDSeg vs every other method of ``dataset`` over the test cases of every seed."""
    runs = sweep.runs[sweep.runs["dataset"] == dataset] if len(sweep.runs) else sweep.runs
    return paired_comparison(sweep.per_case_frames(runs))


def _paired_text(res: pd.DataFrame) -> list[str]:
    if not len(res):
        return ["", "Paired tests: LDSeg or every other method is missing (no per-case tables)."]
    best = res[res["best"]].iloc[0]
    ref, other = paper.display(best["reference"]), paper.display(best["method"])
    return [
        "",
        f"Paired over {int(best['n_cases'])} test cases (per-case DSC averaged over the runs "
        f"that scored it: {int(best['seeds_reference'])} / {int(best['seeds_method'])} runs, "
        f"seeds or folds): {ref} − best "
        f"other method ({other}) = {best['mean_diff']:+.3f} mean per-case DSC, 95% bootstrap "
        f"CI [{best['ci_low']:+.3f}, {best['ci_high']:+.3f}] ({N_RESAMPLES:,} resamples, "
        f"percentile), median {best['median_diff']:+.3f}; Wilcoxon W = "
        f"{best['statistic']:.1f}, p = {fmt_p(best['p_value'])}, Holm-corrected over "
        f"{len(res)} comparison(s) p = {fmt_p(best['p_holm'])}.",
        "",
        to_markdown(_paired_table(res)),
    ]


def _paired_table(res: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "vs": [paper.display(m) for m in res["method"]],
            "cases": res["n_cases"].astype(int),
            "LDSeg − row (mean)": [f"{v:+.3f}" for v in res["mean_diff"]],
            "95% bootstrap CI": [
                f"[{lo:+.3f}, {hi:+.3f}]"
                for lo, hi in zip(res["ci_low"], res["ci_high"], strict=True)
            ],
            "median": [f"{v:+.3f}" for v in res["median_diff"]],
            "W": [f"{v:.1f}" for v in res["statistic"]],
            "p": [fmt_p(v) for v in res["p_value"]],
            "p Holm": [fmt_p(v) for v in res["p_holm"]],
        }
    )


def _qualitative(sweep: SweepData, dataset: str, path: Path, title: str) -> Path | None:
    runs = sweep.runs[sweep.runs["dataset"] == dataset].sort_values("seed")
    cases = {}
    with tempfile.TemporaryDirectory() as tmp:
        for method, g in runs.groupby("method", sort=False):
            r = g.iloc[0]
            p = sweep.artifact(r["run_id"], "qualitative.npz", Path(tmp) / r["run_id"])
            if p is not None:
                cases[method] = dict(np.load(p, allow_pickle=False))
    if not cases:
        return None
    order = sorted(cases, key=lambda m: (m == "ldseg", m))
    return figures.qualitative_grid({m: cases[m] for m in order}, path, title)


# -- steps -------------------------------------------------------------------------------------
def _steps(sweep: SweepData, exp, out: Path, tables: list[DisplayTable]):
    runs = _settings(sweep.runs, K="num_inference_steps")
    if runs.empty:
        return ["No finished runs."], pd.DataFrame()
    long = summarize(runs, ["dsc", "iou"], ["method", "dataset", "K"])
    dsc = long[long["metric"] == "dsc"].sort_values("K")
    rows = []
    for (m, ds), g in dsc.groupby(["method", "dataset"], sort=False):
        row = {"method": paper.display(m), "dataset": ds}
        row.update({f"K={int(r.K)}": fmt(r.mean, r.ci95, int(r.n)) for r in g.itertuples()})
        best = g.loc[g["mean"].idxmax()]
        row["K at max DSC"] = int(best["K"])
        within = g[g["mean"] >= best["mean"] - 0.01]
        row["min K within 0.01 of max"] = int(within["K"].min())
        row["paper (GlaS)"] = paper.STEPS_FOR_MAX_DSC.get(m, "-") if ds == "glas" else "-"
        rows.append(row)
    frame = pd.DataFrame(rows)
    tables.append(
        DisplayTable(
            "DSC vs sampling steps K",
            frame,
            {c: "max" for c in frame.columns if c.startswith("K=")},
        )
    )
    figures.steps_curve(dsc, out / "steps.png", "DSC vs sampling steps (trained models reused)")
    body = [
        "Paper: with DDIM, K = 2 gives LDSeg's maximum DSC on every dataset (Fig. 5); on "
        "GlaS LSegDiff needs 10 and MedSegDiff 700 (Fig. 6a). The step lists here are the "
        "profile's (capped for small profiles).",
        "",
        to_markdown(pd.DataFrame(rows)),
        "",
        "![steps](steps.png)",
    ]
    return body, long


# -- Table IV ----------------------------------------------------------------------------------
def _table4(sweep: SweepData, exp, out: Path, tables: list[DisplayTable]):
    runs = _settings(sweep.runs, K="num_inference_steps")
    if runs.empty:
        return ["No finished runs."], pd.DataFrame()
    rows = []
    order = {d: i for i, d in enumerate(exp_settings_order(runs["dataset"]))}
    runs = runs.sort_values("dataset", key=lambda c: c.map(order))
    for ds, g in runs.groupby("dataset", sort=False):
        t = {int(r.K): r.median_s for r in g.itertuples()}
        ref = paper.TABLE4_RUNTIME.get(paper.PAPER_DATASET.get(ds, ""), {})
        ks = sorted(t, reverse=True)
        row = {"dataset": paper.label(ds)}
        row.update({f"K={k} (s)": f"{t[k]:.4f}" for k in ks})
        if len(ks) >= 2:
            row[f"ratio K={ks[0]}/K={ks[-1]}"] = f"{t[ks[0]] / t[ks[-1]]:.1f}"
        row.update({f"paper K={k} (s)": ref.get(k, "-") for k in (1000, 2)})
        if ref:
            row["paper ratio"] = f"{ref[1000] / ref[2]:.0f}"
        rows.append(row)
    tables.append(DisplayTable("LDSeg seconds per image", pd.DataFrame(rows)))
    figures.table4_bars(runs, out / "table4.png", "LDSeg seconds per image")
    device = sweep.tags.get("env.device", "?")
    body = [
        f"Per-image LDSeg latency (batch 1, median of the timed repeats after warm-up) on "
        f"**{device}** with **untrained weights** (the cost does not depend on the weight "
        f"values). Paper: {paper.TABLE4_DEVICE}, ~{paper.SPEEDUP_CLAIM}x reduction.",
        "",
        to_markdown(pd.DataFrame(rows)),
        "",
        "![table4](table4.png)",
    ]
    cols = ["method", "dataset", "K", "median_s", "p90_s", "peak_memory_mb"]
    return body, runs[[c for c in cols if c in runs]]


# -- runtime (Fig. 6b) -------------------------------------------------------------------------
def _runtime(sweep: SweepData, exp, out: Path, tables: list[DisplayTable]):
    runs = _settings(sweep.runs, size="size", K="num_inference_steps")
    if runs.empty:
        return ["No finished runs."], pd.DataFrame()
    runs = runs.sort_values(["size", "method"])
    ref = runs[runs["method"] == "ldseg"].set_index("size")["median_s"]
    runs["ratio_vs_ldseg"] = [
        r.median_s / ref[r.size] if r.size in ref else np.nan for r in runs.itertuples()
    ]
    has_ops = "aten_ops_per_image" in runs and runs["aten_ops_per_image"].notna().any()
    rows = [
        {
            "size": int(r.size),
            "method": paper.display(r.method),
            "K": int(r.K) if _samples(r.method) else "-",
            "median s/image": f"{r.median_s:.4f}",
            **(_per_op(r) if has_ops else {}),
            "peak memory (MiB)": f"{getattr(r, 'peak_memory_mb', np.nan):.0f}",
            "x LDSeg": f"{r.ratio_vs_ldseg:.2f}" if np.isfinite(r.ratio_vs_ldseg) else "-",
        }
        for r in runs.itertuples()
    ]
    tables.append(DisplayTable("Per-image latency and peak memory vs size", pd.DataFrame(rows)))
    figures.runtime_curves(runs, out / "runtime.png", "Per-image latency and peak memory vs size")
    device = sweep.tags.get("env.device", "?")
    body = [
        f"Per-image latency (batch 1, median after warm-up) and peak memory vs image size, "
        f"all methods in the same process on **{device}**, **untrained weights**, the same "
        f"K for every diffusion method (Res-Unet: one deterministic forward pass). CPU "
        f"peak memory is the process's peak RSS (an upper bound). Paper (Fig. 6b): LDSeg "
        f"and LSegDiff stay nearly flat, SDF-DDPM and MedSegDiff grow steeply.",
        "",
        to_markdown(pd.DataFrame(rows)),
        "",
        "![runtime](runtime.png)",
    ]
    return body, runs


def _per_op(r) -> dict[str, str]:
    """The ATen operators one image dispatched and the median time per operator ("-" for a
    run logged before the count existed). A time per operator that stays put as the size grows
    is launch-bound, one that grows is compute-bound."""
    ops = getattr(r, "aten_ops_per_image", np.nan)
    if not np.isfinite(ops) or ops <= 0:
        return {"ATen ops/image": "-", "µs/op": "-"}
    return {"ATen ops/image": f"{ops:.0f}", "µs/op": f"{r.median_s / ops * 1e6:.1f}"}


# -- robustness (Fig. 8a) ----------------------------------------------------------------------
def _robustness(sweep: SweepData, exp, out: Path, tables: list[DisplayTable]):
    runs = _settings(sweep.runs, sigma="sigma")
    if runs.empty:
        return ["No finished runs."], pd.DataFrame()
    long = summarize(runs, ["dsc", "iou"], ["method", "dataset", "sigma"])
    dsc = long[long["metric"] == "dsc"].sort_values("sigma")
    rows = []
    for (m, ds), g in dsc.groupby(["method", "dataset"], sort=False):
        row = {"method": paper.display(m), "dataset": ds}
        row.update({f"sigma={r.sigma:g}": fmt(r.mean, r.ci95, int(r.n)) for r in g.itertuples()})
        rows.append(row)
    frame = pd.DataFrame(rows)
    tables.append(
        DisplayTable(
            "DSC vs added Gaussian noise",
            frame,
            {c: "max" for c in frame.columns if c.startswith("sigma=")},
        )
    )
    figures.robustness_curve(dsc, out / "robustness.png", "DSC vs added Gaussian noise")
    body = [
        "Test images perturbed as I + N(0, sigma) with sigma the noise **standard "
        "deviation**, then clipped to [0, 1]; the noise of each test case is seeded, so "
        "every method sees the same noisy images. Trained models reused (no retraining). "
        "Paper (Fig. 8a): LDSeg keeps its DSC up to sigma = 0.2, Res-Unet drops sharply.",
        "",
        to_markdown(pd.DataFrame(rows)),
        "",
        "![robustness](robustness.png)",
    ]
    return body, long


# -- uncertainty (Fig. 10) ---------------------------------------------------------------------
def _uncertainty(sweep: SweepData, exp, out: Path, tables: list[DisplayTable]):
    runs = sweep.runs
    if runs.empty:
        return ["No finished runs."], pd.DataFrame()
    metrics = ["auroc", "auroc_case_mean", "error_rate", "sd_mean"]
    long = summarize(runs, metrics, ["method", "dataset"])
    rows = []
    for (m, ds), g in long.groupby(["method", "dataset"], sort=False):
        row = {"method": paper.display(m), "dataset": paper.label(ds)}
        row.update({r.metric: fmt(r.mean, r.ci95, int(r.n)) for r in g.itertuples()})
        row["N samples"] = int(runs[runs["dataset"] == ds]["setting.num_samples"].iloc[0])
        rows.append(row)
    tables.append(
        DisplayTable(
            "Uncertainty: AUROC of the SD for errors", pd.DataFrame(rows), {"auroc": "max"}
        )
    )
    body = [
        "AUROC of the per-pixel SD over N samples as a detector of misclassified pixels "
        "(pixels where the mean segmentation's label is wrong), pooled over the evaluated "
        "test cases (`auroc`) and averaged per case (`auroc_case_mean`). The paper shows "
        "the maps (Fig. 10) but reports no AUROC.",
        "",
        to_markdown(pd.DataFrame(rows)),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        for ds, g in runs.sort_values("seed").groupby("dataset", sort=False):
            r = g.iloc[0]
            p = sweep.artifact(r["run_id"], "uncertainty_maps.npz", Path(tmp) / r["run_id"])
            if p is not None:
                name = f"{ds}_uncertainty.png"
                figures.uncertainty_figure(p, out / name, f"{paper.label(ds)}")
                body += ["", f"![uncertainty]({name})"]
    return body, long


RENDERERS: dict[str, Renderer] = {
    "accuracy": _accuracy,
    "steps": _steps,
    "table4": _table4,
    "runtime": _runtime,
    "robustness": _robustness,
    "uncertainty": _uncertainty,
    "budget": render_budget,
}
