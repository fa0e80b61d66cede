"""The experiment commands of ``bench``: run, runtime, robustness, uncertainty, report,
experiments. Thin: parse, call ``benchmarks.runner`` / ``reports.render``, draw Rich bars.

Exit codes: 0 all children finished (or cached); 1 some child failed (the sweep still went on);
2 bad user input (one line on stderr, through the ``cli_errors`` decorator of ``cli.py``, which
``register_harness_commands`` wraps around each command).
"""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from benchmarks.errors import BenchError, ConfigError
from benchmarks.validate_args import (
    DEFAULT_PROFILE,
    PROFILE_HELP,
    Device,
    check_device,
    resolve_sampling_steps,
)

console = Console()
err_console = Console(stderr=True)


def _warn(message: str) -> None:
    err_console.print(message, markup=False, highlight=False, soft_wrap=True)


ProfileOpt = Annotated[str, typer.Option(help=PROFILE_HELP)]
SeedsOpt = Annotated[str | None, typer.Option(help="comma-separated seeds, e.g. 0,1,2")]
MethodsOpt = Annotated[str | None, typer.Option(help="comma-separated subset of the methods")]
DeviceOpt = Annotated[Device, typer.Option(help="cpu | cuda (cuda needs a GPU)")]
ForceOpt = Annotated[bool, typer.Option("--force", help="redo children that are cached")]
UriOpt = Annotated[
    str | None,
    typer.Option(
        help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else sqlite under $LDSEG_OUT)"
    ),
]
DataRootOpt = Annotated[str | None, typer.Option(help="data root (else $LDSEG_DATA)")]
ReportDirOpt = Annotated[
    Path | None, typer.Option(help="report root (default reports/out or $LDSEG_REPORTS)")
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        help="experiment setting KEY=VALUE (repeatable; lists comma-separated), "
        "e.g. --set steps=1,2,5",
    ),
]


def _csv(value: str | None, item: Any = str, option: str = "--values", noun: str = "value"):
    """A comma-separated list option: None when the option is not given, else a tuple with
    every item parsed and checked against the type hint ``item`` (ranges included, e.g. a seed
    in [0, 2**32)); an option given with no items or an empty item is an error."""
    from benchmarks.configs import convert, unwrap

    if value is None:
        return None
    parts = [v.strip() for v in value.split(",")]
    if not any(parts):
        raise ConfigError(f"{option}: no {noun}s given")
    if not all(parts):
        raise ConfigError(f"{option} {value!r}: an empty item; give comma-separated {noun}s")
    base, _ = unwrap(item)
    return tuple(convert(item, _parse_item(base, p, option), option) for p in parts)


def _parse_item(base: Any, text: str, option: str) -> Any:
    """Command-line text -> the Python value a config field of type ``base`` expects."""
    if base is int:
        try:
            return int(text)
        except ValueError:
            raise ConfigError(f"{option}: {text!r} is not an integer") from None
    if base is float:
        try:
            return float(text)
        except ValueError:
            raise ConfigError(f"{option}: {text!r} is not a number") from None
    return text


def _setting_item(key: str) -> Any:
    """The element type (with its range) of the list setting ``key`` of ExperimentSettings."""
    from benchmarks.configs import hints, unwrap
    from benchmarks.experiments import ExperimentSettings

    base, _ = unwrap(hints(ExperimentSettings)[key])
    return typing.get_args(base)[0]


def parse_settings(pairs: list[str] | None) -> dict[str, Any]:
    """``["steps=1,2,5", "timing_repeats=3"]`` -> ExperimentSettings overrides, every value
    checked here against its field (type, choices, range, non-empty list)."""
    from benchmarks.configs import convert, hints, is_optional, unwrap
    from benchmarks.experiments import ExperimentSettings

    types_ = hints(ExperimentSettings)
    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or key not in types_:
            raise ConfigError(
                f"--set {pair!r}: expected KEY=VALUE with KEY one of {', '.join(sorted(types_))}"
            )
        tp, option = types_[key], f"--set {key}"
        if is_optional(unwrap(tp)[0]) and value.strip().lower() == "none":
            out[key] = None
            continue
        base, _ = unwrap(tp)
        if is_optional(base):
            base, _ = unwrap(next(a for a in typing.get_args(base) if a is not type(None)))
        if typing.get_origin(base) is tuple:
            items = _csv(value, typing.get_args(base)[0], option, "value")
            out[key] = convert(tp, items, option)
        else:
            out[key] = convert(tp, _parse_item(base, value.strip(), option), option)
    return out


def sweep(
    name: str,
    *,
    profile: str,
    seeds: str | None,
    methods: str | None,
    device: str,
    force: bool,
    tracking_uri: str | None,
    data_root: str | None,
    report_dir: Path | None,
    settings: dict[str, Any],
) -> None:
    from benchmarks.tracking import check_output_store

    check_output_store(tracking_uri)  # read-only / unusable store: exit 2 in a second
    from benchmarks.runner import RunOptions, prepare, run_experiment

    opts = RunOptions(
        profile=profile,
        seeds=_csv(seeds, _setting_item("seeds"), "--seeds", "seed"),
        methods=_csv(methods, str, "--methods", "method"),
        device=check_device(device),
        force=force,
        tracking_uri=tracking_uri,
        data_root=data_root,
        settings=settings,
    )
    # bad input fails here, before anything is written
    sweep_plan, prof = prepare(name, opts)
    from benchmarks.runtime import check_sizes

    check_sizes(sweep_plan, prof)
    try:
        from benchmarks.cli import _progress

        with _progress() as bar:
            res = run_experiment(name, opts, _hooks(bar))
    except KeyboardInterrupt as err:  # Ctrl+C / SIGTERM: runs are closed as KILLED
        err_console.print(
            f"interrupted ({err or 'SIGINT'}): the sweep's runs are KILLED", markup=False
        )
        raise typer.Exit(getattr(err, "exit_code", 130)) from None
    _summary(res)
    try:
        from reports.render import render_report

        out = render_report(
            name,
            tracking_uri=res.tracking_uri,
            parent_run_id=res.parent_run_id,
            out_dir=report_dir,
        )
        console.print(f"report: {out / 'report.md'}")
    except BenchError as err:
        err_console.print(f"report not rendered: {err}", markup=False)
    if not res.ok:
        raise typer.Exit(1)


def run_cmd(
    name: Annotated[str, typer.Argument(help="experiment (see `bench experiments`)")],
    profile: ProfileOpt = DEFAULT_PROFILE,
    seeds: SeedsOpt = None,
    methods: MethodsOpt = None,
    device: DeviceOpt = Device.cpu,
    force: ForceOpt = False,
    tracking_uri: UriOpt = None,
    data_root: DataRootOpt = None,
    report_dir: ReportDirOpt = None,
    set_: SetOpt = None,
    system_metrics: Annotated[
        bool,
        typer.Option(
            "--system-metrics",
            help="also log MLflow's system metrics (CPU, RAM, disk, GPU) on every child "
            "(needs psutil: the [system-metrics] extra; or set LDSEG_SYSTEM_METRICS=1)",
        ),
    ] = False,
) -> None:
    """Run an experiment sweep (cached by config hash) and render its report."""
    if system_metrics:
        import os

        from benchmarks.train_curves import SYSTEM_METRICS_ENV, check_system_metrics

        check_system_metrics()
        os.environ[SYSTEM_METRICS_ENV] = "1"
    sweep(
        name,
        profile=profile,
        seeds=seeds,
        methods=methods,
        device=device,
        force=force,
        tracking_uri=tracking_uri,
        data_root=data_root,
        report_dir=report_dir,
        settings=parse_settings(set_),
    )


def runtime_cmd(
    sizes: Annotated[str | None, typer.Option(help="image sizes, e.g. 64,128,256,512")] = None,
    sampling_steps: Annotated[
        int | None,
        typer.Option("--sampling-steps", min=1, help="sampling steps K for every method"),
    ] = None,
    steps: Annotated[  # deprecated alias of --sampling-steps (one release)
        int | None, typer.Option("--steps", min=1, hidden=True, help="deprecated")
    ] = None,
    repeats: Annotated[int | None, typer.Option(min=1, help="timed repeats (median)")] = None,
    warmup: Annotated[int | None, typer.Option(min=0, help="untimed warm-up calls")] = None,
    profile: ProfileOpt = DEFAULT_PROFILE,
    methods: MethodsOpt = None,
    device: DeviceOpt = Device.cpu,
    force: ForceOpt = False,
    tracking_uri: UriOpt = None,
    report_dir: ReportDirOpt = None,
) -> None:
    """Fig. 6b: per-image latency and peak memory vs image size (untrained weights)."""
    sweep(
        "runtime",
        profile=profile,
        seeds=None,
        methods=methods,
        device=device,
        force=force,
        tracking_uri=tracking_uri,
        data_root=None,
        report_dir=report_dir,
        settings={
            "runtime_sizes": _csv(sizes, _setting_item("runtime_sizes"), "--sizes", "size"),
            "runtime_steps": resolve_sampling_steps(sampling_steps, steps, warn=_warn),
            "timing_repeats": repeats,
            "timing_warmup": warmup,
        },
    )


def robustness_cmd(
    sigma: Annotated[
        float | None,
        typer.Option(min=0.0, max=1.0, help="one noise SD in [0, 1] (0 is always added)"),
    ] = None,
    sigmas: Annotated[str | None, typer.Option(help="noise SDs, e.g. 0,0.05,0.1")] = None,
    datasets: Annotated[str | None, typer.Option(help="datasets (default: profile's)")] = None,
    profile: ProfileOpt = DEFAULT_PROFILE,
    seeds: SeedsOpt = None,
    methods: MethodsOpt = None,
    device: DeviceOpt = Device.cpu,
    force: ForceOpt = False,
    tracking_uri: UriOpt = None,
    data_root: DataRootOpt = None,
    report_dir: ReportDirOpt = None,
) -> None:
    """Fig. 8a: DSC of LDSeg vs Res-Unet on noisy test images (trained models reused)."""
    values = _csv(sigmas, _setting_item("robustness_sigmas"), "--sigmas", "sigma")
    if values is None and sigma is not None:
        values = (sigma,)
    sweep(
        "robustness",
        profile=profile,
        seeds=seeds,
        methods=methods,
        device=device,
        force=force,
        tracking_uri=tracking_uri,
        data_root=data_root,
        report_dir=report_dir,
        settings={
            "robustness_sigmas": values,
            "robustness_datasets": _csv(datasets, str, "--datasets", "dataset"),
        },
    )


def uncertainty_cmd(
    samples: Annotated[
        int | None, typer.Option(min=2, help="samples N per image (an SD needs 2)")
    ] = None,
    cases: Annotated[int | None, typer.Option(min=1, help="test cases per dataset")] = None,
    profile: ProfileOpt = DEFAULT_PROFILE,
    seeds: SeedsOpt = None,
    device: DeviceOpt = Device.cpu,
    force: ForceOpt = False,
    tracking_uri: UriOpt = None,
    data_root: DataRootOpt = None,
    report_dir: ReportDirOpt = None,
) -> None:
    """Fig. 10: N-sample mean / SD maps and the AUROC of the SD for errors."""
    sweep(
        "uncertainty",
        profile=profile,
        seeds=seeds,
        methods=None,
        device=device,
        force=force,
        tracking_uri=tracking_uri,
        data_root=data_root,
        report_dir=report_dir,
        settings={"uncertainty_samples": samples, "uncertainty_cases": cases},
    )


def report_cmd(
    name: Annotated[str, typer.Argument(help="experiment name")],
    tracking_uri: UriOpt = None,
    profile: Annotated[str | None, typer.Option(help="latest sweep of this profile")] = None,
    run_id: Annotated[str | None, typer.Option(help="a specific sweep (parent run id)")] = None,
    out: ReportDirOpt = None,
    fmt: Annotated[
        str, typer.Option("--format", help="md | csv | latex: the tables' file format")
    ] = "md",
) -> None:
    """Render the report of a finished sweep from MLflow (never trains)."""
    from mlflow.exceptions import MlflowException

    from benchmarks.validate_args import check_output_dir
    from reports.render import render_report

    if out is not None:
        check_output_dir(out, "--out")
    if profile is not None and any(c in profile for c in "'\"\\`"):
        raise ConfigError(f"--profile {profile!r}: a profile name has no quotes")
    try:
        path = render_report(
            name,
            tracking_uri=tracking_uri,
            parent_run_id=run_id,
            profile=profile,
            out_dir=out,
            fmt=fmt,
        )
    except MlflowException as err:
        if run_id is not None and err.error_code == "RESOURCE_DOES_NOT_EXIST":
            raise ConfigError(f"--run-id {run_id}: no such run in the MLflow store") from None
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise ConfigError(f"MLflow could not answer: {first}") from None
    console.print(f"report: {path / 'report.md'}")
    if fmt != "md":
        from reports.export import report_file

        console.print(f"tables: {report_file(path, name, fmt)}")


def experiments_cmd() -> None:
    """List the experiments."""
    from benchmarks.experiments import EXPERIMENTS

    table = Table(title="experiments")
    for col in ("name", "paper", "what"):
        table.add_column(col)
    for e in EXPERIMENTS.values():
        table.add_row(e.name, e.paper, e.title)
    console.print(table)


def register_harness_commands(app: typer.Typer, *, cli_errors) -> None:
    """Mount the experiment commands on ``app`` (called by ``benchmarks/cli.py``), each wrapped
    in its ``cli_errors`` (one line + exit 2 for a user error)."""
    for name, command in (
        ("run", run_cmd),
        ("runtime", runtime_cmd),
        ("robustness", robustness_cmd),
        ("uncertainty", uncertainty_cmd),
        ("report", report_cmd),
        ("experiments", experiments_cmd),
    ):
        app.command(name)(cli_errors(command))


def _hooks(bar):
    from benchmarks.pipeline import Progress as TrainProgress
    from benchmarks.trained import Hooks

    sweep_task = bar.add_task("sweep", total=None, info="")
    train_task = bar.add_task("train", total=None, info="", visible=False)
    work_task = bar.add_task("predict", total=None, info="", visible=False)

    def on_child_start(child, i, total, cached):
        bar.update(sweep_task, completed=i, total=total, info=child.run_name)
        bar.update(train_task, visible=False)
        bar.update(work_task, visible=False)

    def on_child_end(child, status, seconds):
        bar.advance(sweep_task)
        if status != "CACHED":
            style = "green" if status == "FINISHED" else "red"
            bar.console.print(f"[{style}]{status:8}[/] {child.run_name} ({seconds:.1f} s)")

    def on_step(step, total, terms):
        bar.update(
            train_task,
            completed=step,
            total=total,
            visible=True,
            info=f"loss {terms.get('loss', float('nan')):.4f}",
        )

    def on_eval(done, total):
        bar.update(
            work_task, description="evaluate", completed=done, total=total, visible=True, info=""
        )

    def on_work(desc, done, total):
        bar.update(work_task, description=desc, completed=done, total=total, visible=True, info="")

    return Hooks(
        train=TrainProgress(on_step, on_eval),
        on_work=on_work,
        on_child_start=on_child_start,
        on_child_end=on_child_end,
    )


def _summary(res) -> None:
    counts: dict[str, int] = {}
    for r in res.results:
        counts[r.status] = counts.get(r.status, 0) + 1
    parts = ", ".join(f"{v} {k.lower()}" for k, v in sorted(counts.items()))
    console.print(
        f"{res.experiment}: {len(res.results)} children ({parts}); "
        f"{len(res.plan.skipped)} cells skipped; MLflow {res.tracking_uri}"
    )
    for r in res.failed:
        err_console.print(f"FAILED {r.child.run_name}: {r.error}", markup=False)
