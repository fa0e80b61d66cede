"""Reports: formatting, the paper's numbers, the accuracy table's p-value and cost columns, the
LaTeX / CSV exports, the cost measurement of an accuracy child, and a rendered report (Markdown +
CSV + LaTeX + PNG) from a small two-seed sweep in a temporary MLflow store. The statistics
themselves are tested against scipy in ``test_stats.py``."""

from __future__ import annotations

import math
import re

import pandas as pd
import pytest
import torch
from test_runner import Tiny, TinyConfig  # the fake method of the runner tests

from benchmarks import experiments, methods
from benchmarks.errors import ConfigError
from benchmarks.experiments import Experiment
from benchmarks.runner import RunOptions, run_experiment
from reports import export
from reports import paper_numbers as paper
from reports.export import DisplayTable
from reports.render import render_report
from reports.tables import accuracy_table, best_directions, fmt, fmt_num, fmt_p, mean_ci, summarize


def test_mean_ci_uses_the_t_distribution():
    mean, half, n = mean_ci([1.0, 2.0, 3.0])
    assert (mean, n) == (2.0, 3)
    assert half == pytest.approx(4.302652729911275 * 1.0 / math.sqrt(3))  # t_.975,2 * sd/sqrt(n)
    m1, h1, n1 = mean_ci([0.5])
    assert (m1, n1) == (0.5, 1) and math.isnan(h1)
    assert mean_ci([])[2] == 0
    assert mean_ci([0.2, float("nan"), 0.4])[2] == 2


def test_formatting():
    assert fmt(0.81234, 0.0123, 3) == "0.812 ± 0.012"
    assert fmt(0.8, float("nan"), 1) == "0.800 (n=1)"
    assert fmt(float("nan"), float("nan"), 0) == "-"


def test_paper_numbers_are_transcribed():
    assert paper.TABLE2_GLAS["ldseg"] == (0.91, 0.84)
    assert paper.TABLE2_GLAS["resunet"] == (0.86, 0.76)
    assert paper.TABLE1_ECHO["dsc"]["ldseg"] == (0.93, 0.87, 0.92)
    assert paper.TABLE3_KNEE["iou"]["nnunet"] == (0.93, 0.94, 0.93)
    assert paper.TABLE5_ABLATION["ldseg-ld-id"] == (0.47, 0.33)
    glas = paper.TABLE4_RUNTIME["glas"]
    assert glas[1000] / glas[2] == pytest.approx(paper.SPEEDUP_CLAIM, rel=0.01)
    assert paper.STEPS_FOR_MAX_DSC == {"ldseg": 2, "lsegdiff": 10, "medsegdiff": 700}
    assert "not the paper's echo data" in paper.label("echo-synth")


def test_accuracy_table_marks_skips_and_missing_rows():
    runs = pd.DataFrame(
        {
            "method": ["ldseg", "ldseg", "unet"],
            "dataset": ["glas"] * 3,
            "seed": [0, 1, 0],
            "dsc": [0.8, 0.9, 0.7],
            "iou": [0.7, 0.8, 0.6],
        }
    )
    table, long = accuracy_table(
        runs, "glas", "table2", [{"method": "sdfddpm", "dataset": "glas", "reason": "n/a"}]
    )
    rows = table.set_index("method")
    assert rows.loc["LDSeg", "DSC"].startswith("0.850 ± ")
    assert rows.loc["LDSeg", "DSC (paper)"] == "0.91"
    assert rows.loc["U-net", "DSC"] == "0.700 (n=1)"
    assert rows.loc["SDF-DDPM-style", "DSC"] == "n/a"
    assert rows.loc["MedT", "DSC"] == "not run"  # a paper row we do not implement
    assert table["method"].iloc[-1] == "LDSeg"
    assert set(long["metric"]) == {"dsc", "iou"}
    s = summarize(runs, ["dsc"], ["method"])
    assert s.set_index("method").loc["ldseg", "n"] == 2


def test_accuracy_table_p_values_and_cost_columns():
    runs = pd.DataFrame(
        {
            "method": ["ldseg", "ldseg", "unet", "vnet"],
            "dataset": ["glas"] * 4,
            "seed": [0, 1, 0, 0],
            "dsc": [0.8, 0.9, 0.7, 0.6],
            "iou": [0.7, 0.8, 0.6, 0.5],
            "n_cases": [80, 80, 80, 80],
            "num_inference_steps": [2, 2, 0, 0],
            "num_parameters": [2e6, 2e6, 31e6, None],  # vnet: logged before cost columns
            "flops_per_image": [4e9, 4e9, 2e9, None],
            "latency_median_s": [0.010, 0.030, 0.005, None],
            "train_s_per_100_steps": [50.0, 70.0, 20.0, None],
            "train_seconds": [500.0, 700.0, 200.0, 90.0],  # vnet: only these (older run)
            "train_steps": [1000, 1000, 1000, 300],
            "peak_rss_mb": [900.0, 1100.0, 800.0, None],
        }
    )
    comparison = pd.DataFrame(
        {
            "reference": ["ldseg", "ldseg"],
            "method": ["unet", "vnet"],
            "p_value": [0.0004, 0.03],
            "p_holm": [0.0008, 0.03],
        }
    )
    table, long = accuracy_table(runs, "glas", "table2", [], comparison=comparison)
    rows = table.set_index("method")
    assert rows.loc["U-net", "p Wilcoxon"] == "4.0e-04" and rows.loc["U-net", "p Holm"] == "8.0e-04"
    assert rows.loc["V-net", "p Wilcoxon"] == "0.030" and rows.loc["LDSeg", "p Holm"] == "ref."
    assert rows.loc["MedT", "p Wilcoxon"] == "-"
    assert rows.loc["LDSeg", "K"] == "2" and rows.loc["U-net", "K"] == "-"
    assert rows.loc["LDSeg", "cases"] == 80 and rows.loc["LDSeg", "seeds"] == 2
    assert rows.loc["LDSeg", "params (M)"] == "2.00"
    assert rows.loc["U-net", "GFLOPs/image"] == "2.00"
    assert rows.loc["LDSeg", "latency (ms/image)"] == "20.00"  # mean of the seeds' medians
    assert rows.loc["LDSeg", "train s/100 steps"] == "60.00"
    assert rows.loc["LDSeg", "peak RSS (MiB, upper bound)"] == "1000"
    assert rows.loc["V-net", "params (M)"] == "-"
    assert rows.loc["V-net", "train s/100 steps"] == "30.00"  # 90 s / 300 steps
    old = runs.drop(columns=["train_s_per_100_steps"])  # a store from before the cost columns
    rows = accuracy_table(old, "glas", "table2", [])[0].set_index("method")
    assert rows.loc["LDSeg", "train s/100 steps"] == "60.00" and rows.loc["U-net", "K"] == "-"
    cost = long[long["metric"] == "latency_median_s"].set_index("method")
    assert cost.loc["ldseg", "n"] == 2 and cost["paper"].isna().all()
    best = best_directions(table)
    assert best["DSC"] == "max" and best["latency (ms/image)"] == "min" and "p Holm" not in best
    assert "peak RSS (MiB, upper bound)" not in best  # a process-wide bound, not comparable
    assert "ATen ops/image" not in table.columns  # no run logged the count: no column
    counted = runs.assign(aten_ops_per_image=[1255.0, 1255.0, 92.0, None])
    rows = accuracy_table(counted, "glas", "table2", [])[0].set_index("method")
    assert (
        rows.loc["LDSeg", "ATen ops/image"] == "1255"
        and rows.loc["U-net", "ATen ops/image"] == "92"
    )
    assert rows.loc["V-net", "ATen ops/image"] == "-"
    cuda = runs.assign(peak_allocated_mb=[10.0, 12.0, 5.0, None], peak_reserved_mb=20.0)
    cols = accuracy_table(cuda.drop(columns="peak_rss_mb"), "glas", "table2", [])[0].columns
    assert {"peak allocated (MiB)", "peak reserved (MiB)"} <= set(cols)
    assert "peak RSS (MiB, upper bound)" not in cols


def test_number_formats():
    assert fmt_p(0.0004) == "4.0e-04" and fmt_p(0.5) == "0.500" and fmt_p(float("nan")) == "-"
    assert [fmt_num(v) for v in (1234.4, 12.345, 0.01234, 0.0)] == ["1234", "12.35", "0.0123", "0"]


# -- exports -----------------------------------------------------------------------------------
def _latex_body(tex: str) -> str:
    """``tex`` without its comment lines and end-of-line ``%`` (LaTeX comments)."""
    lines = [line.removesuffix("%") for line in tex.splitlines() if not line.startswith("%")]
    return "\n".join(lines)


def assert_valid_latex(tex: str) -> None:
    body = _latex_body(tex)
    begins = re.findall(r"\\begin\{(\w+)\}", body)
    ends = re.findall(r"\\end\{(\w+)\}", body)
    assert begins and sorted(begins) == sorted(ends)
    stack = []  # properly nested, not only balanced
    for kind, env in re.findall(r"\\(begin|end)\{(\w+)\}", body):
        if kind == "begin":
            stack.append(env)
        else:
            assert stack.pop() == env
    assert not stack
    assert body.count("{") == body.count("}")
    for rule in ("\\toprule", "\\midrule", "\\bottomrule"):
        assert body.count(rule) == body.count("\\begin{tabular}")
    assert not re.search(r"(?<!\\)[_%&#]", body.replace(" & ", " ")), "unescaped special char"
    assert "±" not in body


def test_latex_escapes_and_bolds_the_best_of_each_column():
    frame = pd.DataFrame(
        {
            "method": ["ldseg_ld", "U-net & co", "50% model"],
            "DSC": ["0.812 ± 0.012", "0.870 (n=1)", "not run"],
            "latency (ms)": ["20.5", "3.10", "-"],
            "p": ["ref.", "0.030", "0.001"],
        }
    )
    table = DisplayTable("table5: GlaS_val", frame, {"DSC": "max", "latency (ms)": "min"})
    tex = export.to_latex([table], "Profile my_quick; device cpu; git abc123", "table5")
    assert_valid_latex(tex)
    assert "ldseg\\_ld" in tex and "U-net \\& co" in tex and "50\\% model" in tex
    assert "GlaS\\_val" in tex and "my\\_quick" in tex and "git abc123" in tex
    assert "\\textbf{0.870 (n=1)}" in tex and "\\textbf{0.812" not in tex  # max of DSC
    assert "\\textbf{3.10}" in tex and "\\textbf{20.5}" not in tex  # min of latency
    assert "\\textbf" not in tex.split("0.030")[1].split("\\\\")[0]  # p is never bold
    assert "0.812 $\\pm$ 0.012" in tex
    ties = export.best_rows(pd.Series(["0.9", "0.90 ± 0.1", "0.8"]), "max")
    assert ties == {0, 1}
    assert export.leading_number("n/a (3D only)") is None
    assert export.leading_number("-") is None and export.leading_number("1.2e-05") == 1.2e-05


def test_csv_export_stacks_tables_and_unknown_formats_are_config_errors(tmp_path):
    a = DisplayTable("first", pd.DataFrame({"method": ["x"], "seeds": [3]}))
    b = DisplayTable("second", pd.DataFrame({"vs": ["y"], "p": ["0.5"]}))
    path = export.write([a, b], "csv", tmp_path, "table2", "")
    assert path == tmp_path / "table2_tables.csv"
    df = pd.read_csv(path, dtype=str)
    assert list(df["table"]) == ["first", "second"] and df.loc[0, "seeds"] == "3"
    with pytest.raises(ConfigError, match="unknown report format 'pdf'"):
        export.check_format("pdf")


# -- the cost of an accuracy child -------------------------------------------------------------
def test_predict_cost_counts_flops_that_grow_with_k():
    from benchmarks.accuracy import predict_cost
    from benchmarks.data import get_info
    from benchmarks.methods import build_method, method_config
    from benchmarks.profiles import load_profile

    profile, info = load_profile("smoke"), get_info("synth2d")
    mcfg = method_config("ldseg", profile.method_overrides("ldseg", 2), info)
    torch.manual_seed(0)
    method = build_method("ldseg", mcfg, info).eval()
    x = torch.rand(1, info.in_channels, 32, 32)
    calls = []
    flops, ops = {}, {}
    for k in (1, 2, 3):
        cfg = profile.eval_config("ldseg", num_inference_steps=k)
        cost, source = predict_cost(
            method, x, cfg, warmup=1, repeats=2, device="cpu", on_call=lambda: calls.append(1)
        )
        flops[k], ops[k] = cost["flops_per_image"], cost["aten_ops_per_image"]
    assert len(calls) == 3 * (1 + 2)  # warm-up + repeats, not the FLOP-counting call
    assert cost["num_parameters"] == sum(p.numel() for p in method.parameters())
    assert cost["latency_median_s"] > 0 and cost["peak_rss_mb"] > 0
    assert source in {"cpu_peak_rss", "cpu_peak_rss_lifetime"}
    # encoders and decoder once, the denoiser K times: linear in K with a positive slope
    assert flops[1] > 0 and flops[2] - flops[1] > 0
    assert flops[3] - flops[2] == pytest.approx(flops[2] - flops[1], rel=1e-9)
    # the same for the dispatched operators: one denoiser call's worth per extra step
    assert ops[1] > 0 and ops[3] - ops[2] == ops[2] - ops[1] > 0


# -- a rendered report -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    methods.registry()
    mp.setitem(
        methods._REGISTRY,
        "tiny",
        methods.MethodSpec(
            "tiny", "test fake", (2, 3), True, TinyConfig, lambda cfg, info: Tiny(cfg)
        ),
    )
    mp.setitem(
        experiments.EXPERIMENTS,
        "table2",
        Experiment(
            "table2",
            "accuracy",
            "DSC/IoU (test on synth2d)",
            "Table II",
            datasets=("synth2d",),
            dims=2,
        ),
    )
    root = tmp_path_factory.mktemp("reports")
    opts = RunOptions(
        profile="smoke",
        seeds=(0, 1),
        methods=("ldseg", "tiny"),
        out_root=str(root),
        tracking_uri=f"sqlite:///{root}/mlflow.db",
    )
    res = run_experiment("table2", opts)
    yield res, root, opts
    mp.undo()


def test_rendered_report(sweep):
    res, root, opts = sweep
    assert res.ok, [r.error for r in res.failed]
    out = render_report(
        "table2", tracking_uri=opts.tracking_uri, out_dir=root / "rep", out_root=root
    )
    assert out == root / "rep" / "table2"
    md = (out / "report.md").read_text()
    assert "| LDSeg |" in md and " ± " in md and "0.91" in md
    assert (
        "Paired over 8 test cases (per-case DSC averaged over the runs that scored it: 2 / 2 runs"
        in md
    )
    assert "95% bootstrap CI [" in md and "| p Wilcoxon | p Holm |" in md
    assert "| ref. | ref. |" in md  # LDSeg's own row
    assert "`method.loss.denoised` = eq12" in md  # the switches behind LDSeg's numbers
    assert "`eval.num_inference_steps` = 2" in md
    # per row, generated from the configs: the keys where it differs from the paper profile
    assert "rows differ from the `paper` profile" in md
    section = md.split("## Where each row differs from the `paper` profile")[1]
    ldseg_row = next(line for line in section.splitlines() if line.startswith("- **LDSeg**"))
    assert "`train.steps` = " in ldseg_row and "→ 53000" in ldseg_row
    csv = pd.read_csv(out / "table2.csv")
    assert {"method", "metric", "mean", "ci95", "n", "paper"} <= set(csv.columns)
    assert set(csv["n"]) == {2}
    for name in ("synth2d_dsc.png", "synth2d_qualitative.jpg"):
        assert (out / name).stat().st_size > 1000
    assert (out / "synth2d_qualitative.jpg").read_bytes()[:2] == b"\xff\xd8"  # a JPEG
    paired = pd.read_csv(out / "table2_paired.csv")
    assert list(paired["method"]) == ["tiny"] and paired.loc[0, "n_cases"] == 8


def test_accuracy_children_log_the_cost_columns(sweep):
    from benchmarks.tracking import Tracker

    res, root, opts = sweep
    tracker = Tracker(opts.tracking_uri, root)
    for r in res.results:
        m = tracker.client.get_run(r.run_id).data.metrics
        assert m["train_s_per_100_steps"] == pytest.approx(
            m["train_seconds"] / m["train_steps"] * 100
        )
        assert m["latency_median_s"] > 0 and m["peak_rss_mb"] > 0
        if r.child.method == "tiny":  # a 1x1 conv, 1 -> 2 channels, on one 32x32 image
            assert m["num_parameters"] == 1 * 2 + 2
            assert m["flops_per_image"] == 2 * 1 * 2 * 32 * 32


def test_latex_and_csv_report_of_the_sweep(sweep):
    res, root, opts = sweep
    out = render_report(
        "table2", tracking_uri=opts.tracking_uri, out_dir=root / "tex", out_root=root, fmt="latex"
    )
    tex = (out / "table2.tex").read_text()
    assert_valid_latex(tex)
    assert tex.count("\\begin{table}") == 2  # the accuracy table and the paired tests
    assert "Profile smoke; device cpu" in tex and f"git {res_sha(root, opts)}" in tex
    row = next(line for line in tex.splitlines() if line.startswith("LDSeg &"))
    assert "\\textbf{0.91}" in row  # the paper's best DSC is LDSeg's
    out = render_report(
        "table2", tracking_uri=opts.tracking_uri, out_dir=root / "csv", out_root=root, fmt="csv"
    )
    df = pd.read_csv(out / "table2_tables.csv", dtype=str)
    assert "LDSeg" in set(df["method"]) and "p Wilcoxon" in df.columns
    with pytest.raises(ConfigError, match="unknown report format"):
        render_report("table2", tracking_uri=opts.tracking_uri, out_root=root, fmt="docx")


def res_sha(root, opts) -> str:
    from reports.load import load_sweep

    return load_sweep("table2", tracking_uri=opts.tracking_uri, out_root=root).tags["git_sha"][:10]


def test_report_of_an_unknown_sweep_is_a_config_error(sweep):
    from benchmarks.errors import ConfigError

    res, root, opts = sweep
    with pytest.raises(ConfigError, match="run `bench run table5` first"):
        render_report("table5", tracking_uri=opts.tracking_uri, out_dir=root / "rep", out_root=root)


def test_report_command_writes_the_chosen_format(sweep, tmp_path):
    from typer.testing import CliRunner

    from benchmarks.cli import app

    res, root, opts = sweep
    env = {"LDSEG_OUT": str(root), "MLFLOW_TRACKING_URI": opts.tracking_uri}
    args = ["report", "table2", "--out", str(tmp_path), "--format"]
    out = CliRunner().invoke(app, [*args, "latex"], env=env)
    assert out.exit_code == 0, out.output
    assert "table2.tex" in out.output
    assert_valid_latex((tmp_path / "table2" / "table2.tex").read_text())
    bad = CliRunner().invoke(app, [*args, "pdf"], env=env)
    assert bad.exit_code == 2 and "unknown report format 'pdf'" in bad.output


def test_native_twins_go_to_the_csv_and_the_change_is_per_method():
    import pandas as pd

    from reports.tables import accuracy_table, native_change

    runs = pd.DataFrame(
        {
            "method": ["ldseg", "ldseg", "unet", "unet"],
            "dataset": ["glas"] * 4,
            "seed": [0, 1, 0, 1],
            "dsc": [0.80, 0.84, 0.90, 0.86],
            "dsc_native": [0.81, 0.85, 0.89, 0.85],
            "iou": [0.7, 0.7, 0.8, 0.8],
            "hd95_gland_native_px": [90.0, 80.0, 70.0, 60.0],
        }
    )
    table, long = accuracy_table(runs, "glas", "table2", [])
    assert "DSC native" in table.columns and "IoU native" not in table.columns
    assert {"dsc_native", "hd95_gland_native_px"} <= set(long["metric"])
    assert long.loc[long["metric"] == "dsc_native", "paper"].isna().all()
    change = native_change(long).set_index("method")["change"]
    assert change["ldseg"] == pytest.approx(0.01) and change["unet"] == pytest.approx(-0.01)


def test_knee2d_is_never_beside_the_papers_echo_numbers():
    import pandas as pd

    from reports.tables import accuracy_table

    runs = pd.DataFrame(
        {
            "method": ["ldseg", "unet"],
            "dataset": ["knee2d", "knee2d"],
            "seed": [0, 0],
            "dsc_femur": [0.9, 0.8],
            "dsc_tibia": [0.7, 0.6],
            "dsc_combined": [0.85, 0.75],
            "iou_femur": [0.8, 0.7],
            "iou_tibia": [0.6, 0.5],
            "iou_combined": [0.7, 0.6],
        }
    )
    table, long = accuracy_table(runs, "knee2d", "table1", [])
    assert not [c for c in table.columns if "paper" in c]  # per-class columns, no Echo LV/LA
    assert [c for c in table.columns if c.startswith("DSC ")][:1] != []
    assert long["paper"].isna().all()
    echo, _ = accuracy_table(runs.assign(dataset="echo-synth"), "echo-synth", "table1", [])
    assert [c for c in echo.columns if "(paper LV)" in c]  # the stand-in keeps its paper table


def test_latest_parent_is_the_sweep_run_last_not_the_one_started_last():
    """A full sweep re-assembled at 10:00 reopens its parent first started at 08:00; a one-method
    lane started and ended at 09:00 is older work. The report takes the full sweep."""
    from types import SimpleNamespace

    from reports.load import latest_parent

    def run(name, start, end):
        return SimpleNamespace(name=name, info=SimpleNamespace(start_time=start, end_time=end))

    full, lane = run("full", 800, 1000), run("lane", 900, 905)
    parents = [lane, full]  # the store's order: start time, newest first
    assert latest_parent(parents).name == "full"
    assert latest_parent([run("running", 950, None), lane]).name == "running"  # not ended yet
    assert latest_parent([run("b", 900, 905), run("a", 900, 905)]).name == "b"  # tie: first
