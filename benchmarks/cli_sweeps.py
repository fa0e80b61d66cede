"""``bench run | runtime | robustness | uncertainty``: experiment sweeps. Thin: parse the
options into :class:`SweepOptions` and experiment settings, call ``benchmarks.runner``, draw Rich
bars, render the report with ``reports.render``.

Exit codes: 0 all children finished (or cached); 1 some child failed (the sweep still went on);
2 bad user input (one line on stderr, through :func:`benchmarks.cli_common.cli_errors`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from benchmarks.cli_common import (
    DataRootOpt,
    DeviceOpt,
    ForceOpt,
    MethodsOpt,
    OldStepsOpt,
    ProfileOpt,
    ReportDirOpt,
    SeedsOpt,
    UriOpt,
    cli_errors,
    console,
    err_console,
    progress,
    warn,
)
from benchmarks.errors import BenchError
from benchmarks.validate_args import (
    DEFAULT_PROFILE,
    Device,
    Executor,
    check_device,
    parse_list,
    parse_settings,
    resolve_sampling_steps,
    setting_item,
    value,
)

app = typer.Typer()

SetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        help="experiment setting KEY=VALUE (repeatable; lists comma-separated), "
        "e.g. --set steps=1,2,5",
    ),
]
FoldsOpt = Annotated[
    int | None,
    typer.Option(
        min=0,
        help="accuracy tables: k-fold cross-validation by volume / case group, every one held "
        "out once (0 = the dataset's own split); the same as --set folds=N",
    ),
]
ExecutorOpt = Annotated[
    Executor,
    typer.Option(
        help="where the children run: local (this process, one after another) or ray (Ray "
        "tasks on a Ray cluster; the ray extra)"
    ),
]
RayAddressOpt = Annotated[
    str | None,
    typer.Option(
        help="with --executor ray: auto or HOST:PORT of a running cluster (default: "
        "start a local one on this machine's CPUs)"
    ),
]
RetriesOpt = Annotated[
    int, typer.Option(min=0, help="with --executor ray: reruns of a child whose worker died")
]
CachedOnlyOpt = Annotated[
    bool,
    typer.Option(
        "--cached-only",
        help="assemble the sweep from children already in the store (e.g. computed on a GPU "
        "with the same --device) and render it; nothing is trained or scored, and a child not "
        "in the store is listed as MISSING (exit 1)",
    ),
]
SystemMetricsOpt = Annotated[
    bool,
    typer.Option(
        "--system-metrics",
        help="also log MLflow's system metrics (CPU, RAM, disk, GPU) on every child "
        "(needs psutil: the system-metrics extra; or set LDSEG_SYSTEM_METRICS=1)",
    ),
]


@dataclass(frozen=True)
class SweepOptions:
    """The options every sweep command shares, as given on the command line."""

    profile: str
    seeds: str | None
    methods: str | None
    device: Device | str
    force: bool
    tracking_uri: str | None
    data_root: str | None
    report_dir: Path | None
    executor: str = "local"  # where the children run (benchmarks/executors.py)
    ray_address: str | None = None
    retries: int = 1
    cached_only: bool = False


def sweep(name: str, opts: SweepOptions, settings: dict[str, Any]) -> None:
    """Check everything, run the sweep under progress bars, print its summary, render its
    report; exit 1 when a child failed, 130 (or the signal's code) when interrupted."""
    from benchmarks.tracking import check_output_store

    check_output_store(opts.tracking_uri)  # read-only / unusable store: exit 2 in a second
    from benchmarks.executors import ExecutorOptions, check_executor

    executor = ExecutorOptions(str(opts.executor), opts.ray_address, opts.retries)
    check_executor(executor)  # unknown executor, Ray missing: exit 2 before any work
    from benchmarks.runner import RunOptions, prepare, run_experiment

    run_opts = RunOptions(
        profile=opts.profile,
        seeds=parse_list(opts.seeds, setting_item("seeds"), "--seeds", "seed"),
        methods=parse_list(opts.methods, str, "--methods", "method"),
        device=str(value(opts.device)) if opts.cached_only else check_device(opts.device),
        force=opts.force,
        tracking_uri=opts.tracking_uri,
        data_root=opts.data_root,
        settings=settings,
        executor=executor,
        cached_only=opts.cached_only,
    )
    # bad input (a runtime size no method takes too) fails here, before anything is written
    prepare(name, run_opts)
    try:
        with progress() as bar:
            res = run_experiment(name, run_opts, _hooks(bar))
    except KeyboardInterrupt as err:  # Ctrl+C / SIGTERM: runs are closed as KILLED
        warn(f"interrupted ({err or 'SIGINT'}): the sweep's runs are KILLED")
        raise typer.Exit(getattr(err, "exit_code", 130)) from None
    _summary(res)
    _render(name, res, opts.report_dir)
    if not res.ok:
        raise typer.Exit(1)


def _render(name: str, res, report_dir: Path | None) -> None:
    from reports.render import render_report

    try:
        out = render_report(
            name, tracking_uri=res.tracking_uri, parent_run_id=res.parent_run_id, out_dir=report_dir
        )
        console.print(f"report: {out / 'report.md'}")
    except BenchError as err:
        warn(f"report not rendered: {err}")


@app.command("run")
@cli_errors
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
    folds: FoldsOpt = None,
    system_metrics: SystemMetricsOpt = False,
    executor: ExecutorOpt = Executor.local,
    ray_address: RayAddressOpt = None,
    retries: RetriesOpt = 1,
    cached_only: CachedOnlyOpt = False,
) -> None:
    """Run an experiment sweep (cached by config hash) and render its report."""
    if system_metrics:
        import os

        from benchmarks.train_curves import SYSTEM_METRICS_ENV, check_system_metrics

        check_system_metrics()
        os.environ[SYSTEM_METRICS_ENV] = "1"
    opts = SweepOptions(
        profile,
        seeds,
        methods,
        device,
        force,
        tracking_uri,
        data_root,
        report_dir,
        executor,
        ray_address,
        retries,
        cached_only,
    )
    sweep(name, opts, with_folds(name, parse_settings(set_), folds))


def with_folds(name: str, settings: dict[str, Any], folds: int | None) -> dict[str, Any]:
    """``--folds N`` as the ``folds`` setting, for the experiments whose kind reads it."""
    if folds is None:
        return settings
    from benchmarks.errors import ConfigError
    from benchmarks.experiments import get_experiment
    from benchmarks.kinds import get_kind

    if "folds" not in get_kind(get_experiment(name).kind).settings:
        raise ConfigError(f"--folds: {name} is not an accuracy table (table1, table2, ...)")
    if settings.get("folds", folds) != folds:
        raise ConfigError(f"--folds {folds} and --set folds={settings['folds']} disagree")
    return {**settings, "folds": folds}


@app.command("runtime")
@cli_errors
def runtime_cmd(
    sizes: Annotated[str | None, typer.Option(help="image sizes, e.g. 64,128,256,512")] = None,
    sampling_steps: Annotated[
        int | None,
        typer.Option("--sampling-steps", min=1, help="sampling steps K for every method"),
    ] = None,
    steps: OldStepsOpt = None,
    repeats: Annotated[int | None, typer.Option(min=1, help="timed repeats (median)")] = None,
    warmup: Annotated[int | None, typer.Option(min=0, help="untimed warm-up calls")] = None,
    profile: ProfileOpt = DEFAULT_PROFILE,
    methods: MethodsOpt = None,
    device: DeviceOpt = Device.cpu,
    force: ForceOpt = False,
    tracking_uri: UriOpt = None,
    report_dir: ReportDirOpt = None,
    executor: ExecutorOpt = Executor.local,
    ray_address: RayAddressOpt = None,
    retries: RetriesOpt = 1,
    cached_only: CachedOnlyOpt = False,
) -> None:
    """Fig. 6b: per-image latency and peak memory vs image size (untrained weights)."""
    settings = {
        "runtime_sizes": parse_list(sizes, setting_item("runtime_sizes"), "--sizes", "size"),
        "runtime_steps": resolve_sampling_steps(sampling_steps, steps, warn=warn),
        "timing_repeats": repeats,
        "timing_warmup": warmup,
    }
    opts = SweepOptions(
        profile, None, methods, device, force, tracking_uri, None, report_dir,
        executor, ray_address, retries, cached_only,
    )  # fmt: skip
    sweep("runtime", opts, settings)


@app.command("robustness")
@cli_errors
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
    executor: ExecutorOpt = Executor.local,
    ray_address: RayAddressOpt = None,
    retries: RetriesOpt = 1,
    cached_only: CachedOnlyOpt = False,
) -> None:
    """Fig. 8a: DSC of LDSeg vs Res-Unet on noisy test images (trained models reused)."""
    values = parse_list(sigmas, setting_item("robustness_sigmas"), "--sigmas", "sigma")
    if values is None and sigma is not None:
        values = (sigma,)
    settings = {
        "robustness_sigmas": values,
        "robustness_datasets": parse_list(datasets, str, "--datasets", "dataset"),
    }
    opts = SweepOptions(
        profile, seeds, methods, device, force, tracking_uri, data_root, report_dir,
        executor, ray_address, retries, cached_only,
    )  # fmt: skip
    sweep("robustness", opts, settings)


@app.command("uncertainty")
@cli_errors
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
    executor: ExecutorOpt = Executor.local,
    ray_address: RayAddressOpt = None,
    retries: RetriesOpt = 1,
    cached_only: CachedOnlyOpt = False,
) -> None:
    """Fig. 10: N-sample mean / SD maps and the AUROC of the SD for errors."""
    settings = {"uncertainty_samples": samples, "uncertainty_cases": cases}
    opts = SweepOptions(
        profile, seeds, None, device, force, tracking_uri, data_root, report_dir,
        executor, ray_address, retries, cached_only,
    )  # fmt: skip
    sweep("uncertainty", opts, settings)


def _hooks(bar):
    """The runner's hooks drawing a sweep bar (one tick per child), a train bar and a work bar."""
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
        loss = f"loss {terms.get('loss', float('nan')):.4f}"
        bar.update(train_task, completed=step, total=total, visible=True, info=loss)

    def on_eval(done, total):
        on_work("evaluate", done, total)

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
    if res.disk:  # each training state once: job directories + MLflow artifacts
        console.print(
            f"disk: {res.disk['disk_total_mb']:.1f} MB ({res.disk['disk_jobs_mb']:.1f} MB train "
            f"jobs, {res.disk['disk_artifacts_mb']:.1f} MB MLflow artifacts)"
        )
    for r in res.failed:
        err_console.print(f"FAILED {r.child.run_name}: {r.error}", markup=False)
    for r in res.missing:
        err_console.print(f"MISSING {r.child.run_name}: {r.error}", markup=False)
