"""``bench train | predict | evaluate``: one model at a time — train one job, segment one image
with its checkpoint, re-score it on its test split. Thin: parse, check, call the library."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from benchmarks.cli_common import (
    DataRootOpt,
    DeviceOpt,
    OldStepsOpt,
    ProfileOpt,
    SamplerOpt,
    SeedOpt,
    StepsOpt,
    UriOpt,
    cli_errors,
    console,
    progress,
    warn,
)
from benchmarks.errors import ConfigError
from benchmarks.validate_args import (
    DEFAULT_PROFILE,
    LABEL_SUFFIXES_2D,
    SD_SUFFIXES_2D,
    SEED_MAX,
    Device,
    check_device,
    check_output_dir,
    check_output_file,
    resolve_sampling_steps,
    same_file,
    value,
)

app = typer.Typer()

OutDirOpt = Annotated[
    Path | None,
    typer.Option(help="run directory (rerun = resume; refused if it holds another config)"),
]
SizeOpt = Annotated[
    str | None, typer.Option(help="H,W or D,H,W: override the profile's image size")
]
CheckpointOpt = Annotated[Path, typer.Option(help="checkpoint.pt of a trained run")]
TrainSystemMetricsOpt = Annotated[
    bool,
    typer.Option(
        "--system-metrics",
        help="also log MLflow's system metrics (CPU, RAM, disk, GPU) on the run "
        "(needs psutil: the system-metrics extra; or set LDSEG_SYSTEM_METRICS=1)",
    ),
]


@app.command("train")
@cli_errors
def train_cmd(
    method: Annotated[str, typer.Argument(help="method name (see `bench methods`)")],
    dataset: Annotated[str, typer.Option("--dataset", "-d", help="dataset name")] = "glas",
    profile: ProfileOpt = DEFAULT_PROFILE,
    seed: SeedOpt = 0,
    out: OutDirOpt = None,
    data_root: DataRootOpt = None,
    path: Annotated[str | None, typer.Option(help="folder dataset directory")] = None,
    size: SizeOpt = None,
    device: DeviceOpt = Device.cpu,
    sampling_steps: StepsOpt = None,
    steps: OldStepsOpt = None,
    tracking_uri: UriOpt = None,
    system_metrics: TrainSystemMetricsOpt = False,
) -> None:
    """Train METHOD on a dataset under a profile, then report test metrics.

    The default run directory is named by the hash of the training identity (method, dataset,
    profile values, seed, folder path), so a changed profile trains afresh. Every step (loss,
    loss terms, LR, gradient norm, images/s, the DSC curve) and the test metrics are logged to
    one MLflow run in the experiment `train` of the store `bench run` uses (`bench ui` shows it);
    a rerun of the run directory continues that run.
    """
    from benchmarks.methods import check_name

    check_name(method)  # an unknown name is refused before anything loads or is created
    steps = resolve_sampling_steps(sampling_steps, steps, warn=warn)
    device = check_device(device)
    if out is not None:
        check_output_dir(out, "--out")
    if system_metrics:
        _enable_system_metrics()
    from benchmarks.pipeline import JobSpec

    spec = JobSpec(method, dataset, profile, seed, device, data_root=data_root, data_path=path)
    try:
        metrics, out, run = _train(spec, size, out, steps, tracking_uri)
    except KeyboardInterrupt as err:  # Ctrl+C / SIGTERM: the MLflow run is ended KILLED
        warn(f"interrupted ({err or 'SIGINT'}): the MLflow run is KILLED; rerun to resume")
        raise typer.Exit(getattr(err, "exit_code", 130)) from None
    _print_metrics(metrics)
    console.print(f"run directory: {out}")
    _print_run(run, tracking_uri)


def _print_run(run, tracking_uri: str | None) -> None:
    """The run id, its store and where `bench ui` shows it (its default address)."""
    ui = "bench ui" + (f" --tracking-uri {tracking_uri}" if tracking_uri else "")
    url = f"http://127.0.0.1:5000/#/experiments/{run.experiment_id}/runs/{run.run_id}"
    console.print(
        f"MLflow run {run.run_id} (experiment 'train', {run.tracker.uri}); "
        f"see its curves with `{ui}` at {url}",
        markup=False,
        soft_wrap=True,
    )


def _enable_system_metrics() -> None:
    import os

    from benchmarks.train_curves import SYSTEM_METRICS_ENV, check_system_metrics

    check_system_metrics()
    os.environ[SYSTEM_METRICS_ENV] = "1"


def _train(spec, size: str | None, out: Path | None, steps: int | None, uri: str | None):
    """Check the job, name its run directory, train and score it under a progress bar, logged
    to its MLflow run; returns ``(metrics, run directory, TrainRun)``."""
    import dataclasses

    from benchmarks.data import get_info
    from benchmarks.paths import under
    from benchmarks.pipeline import check_job, check_resume, run_job
    from benchmarks.profiles import load_profile, parse_size
    from benchmarks.settings import out_root
    from benchmarks.tracking import Tracker, check_output_store
    from benchmarks.train_run import train_run
    from benchmarks.trained import job_lock, train_hash

    # the dataset's settings for its dims (folder: [datasets."folder@3d"] for 3D files), --size
    info = get_info(spec.dataset, path=spec.data_path)
    prof = load_profile(spec.profile).for_dataset(spec.dataset, info.spatial_dims, parse_size(size))
    spec = dataclasses.replace(spec, profile=prof.name)
    # names and sampler settings are checked before anything (even the output root) is created
    cfgs, _, _, eval_cfg = check_job(spec, prof, {"num_inference_steps": steps})
    check_output_store(uri)  # a read-only / unusable store: one line before any work
    h = train_hash(spec, prof)
    name = f"{spec.method}-{spec.dataset}-{prof.name}-s{spec.seed}-{h}"
    out = Path(out) if out is not None else under(out_root(), "train", name)
    # two `bench train` into one run directory: the second waits, then resumes or re-scores
    with job_lock(out):
        check_resume(out, cfgs)  # a directory of another config is refused before MLflow
        tracker = Tracker(uri)
        params = _params(cfgs, eval_cfg)
        tags = _tags(spec, prof.name, h, out)
        with train_run(tracker, out, out.name, tags, params) as run, progress() as bar:
            hooks = _train_bar(bar, spec.method, run.on_metrics)
            metrics = run_job(
                spec, prof, out, progress=hooks, eval_overrides={"num_inference_steps": steps}
            )
            run.log_result(metrics, out)
    return metrics, out, run


def _params(cfgs: dict, eval_cfg) -> dict:
    """The run's params: the resolved config flattened (``train.steps``, ``method.lr``, ...),
    with the eval section as this run scores (``--sampling-steps`` included)."""
    from dataclasses import asdict

    from benchmarks.configs import flatten

    return flatten({**cfgs, "eval": asdict(eval_cfg)})


def _tags(spec, profile: str, train_hash: str, out: Path) -> dict:
    from benchmarks.tracking import ROLE_TAG

    return {
        ROLE_TAG: "train",
        "kind": "train",
        "method": spec.method,
        "dataset": spec.dataset,
        "seed": spec.seed,
        "profile": profile,
        "train_hash": train_hash,
        "run_dir": str(out.resolve()),
        "device": spec.device,
    }


def _train_bar(bar, method: str, on_metrics=None):
    """The trainer's progress hooks drawing a train bar and an evaluate bar (and feeding
    ``on_metrics``, the MLflow step logger)."""
    from benchmarks.pipeline import Progress

    task = bar.add_task(f"train {method}", total=None, info="")
    ev = bar.add_task("evaluate", total=None, info="", visible=False)

    def on_step(step, total, terms):
        bar.update(task, completed=step, total=total, info=f"loss {terms['loss']:.4f}")

    def on_eval(done, total):
        bar.update(ev, completed=done, total=total, visible=True)

    return Progress(on_step, on_eval, on_metrics)


def _print_metrics(metrics: dict) -> None:
    table = Table(title=f"{metrics['method']} on {metrics['dataset']} (test)")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for k in sorted(metrics):
        v = metrics[k]
        if isinstance(v, float):
            table.add_row(k, f"{v:.4f}")
        elif k in ("num_inference_steps", "sampler", "n_cases", "train_steps"):
            table.add_row(k, str(v))
    console.print(table)


@app.command("predict")
@cli_errors
def predict_cmd(
    checkpoint: CheckpointOpt,
    input: Annotated[Path, typer.Option("--input", help="image file (PNG/BMP/TIFF/NIfTI)")],
    out: Annotated[
        Path, typer.Option(help="output label map (.png/.bmp/.tif, or .nii.gz; 3D: .nii.gz)")
    ],
    sampling_steps: StepsOpt = None,
    steps: OldStepsOpt = None,
    samples: Annotated[int, typer.Option(min=1, help="samples per image (N > 1: mean + SD)")] = 1,
    sampler: SamplerOpt = None,
    uncertainty: Annotated[
        Path | None, typer.Option(help="write the SD map here (.png/.tif, or .nii.gz)")
    ] = None,
    seed: SeedOpt = 0,
    device: DeviceOpt = Device.cpu,
) -> None:
    """Segment one image with a trained checkpoint."""
    from benchmarks.predict import predict_file

    steps = resolve_sampling_steps(sampling_steps, steps, warn=warn)
    device = check_device(device)
    check_output_file(out, "--out", LABEL_SUFFIXES_2D)
    if uncertainty is not None:
        check_output_file(uncertainty, "--uncertainty", SD_SUFFIXES_2D)
        if same_file(out, uncertainty):
            raise ConfigError(f"--uncertainty {uncertainty}: the same file as --out")
    info = predict_file(
        checkpoint,
        input,
        out,
        steps=steps,
        samples=samples,
        sampler=value(sampler),
        uncertainty=uncertainty,
        seed=seed,
        device=device,
    )
    console.print(json.dumps(info))


@app.command("evaluate")
@cli_errors
def evaluate_cmd(
    checkpoint: CheckpointOpt,
    sampling_steps: StepsOpt = None,
    steps: OldStepsOpt = None,
    sampler: SamplerOpt = None,
    samples: Annotated[
        int | None, typer.Option(min=1, help="samples per image (mean fused)")
    ] = None,
    seed: Annotated[
        int | None, typer.Option(min=0, max=SEED_MAX, help="sampling seed (0..2**32-1)")
    ] = None,
    data_root: DataRootOpt = None,
    csv: Annotated[Path | None, typer.Option(help="write the per-case table here (.csv)")] = None,
    device: DeviceOpt = Device.cpu,
) -> None:
    """Re-score a trained checkpoint on its own test split with any sampler settings."""
    from benchmarks.pipeline import evaluate_checkpoint

    steps = resolve_sampling_steps(sampling_steps, steps, warn=warn)
    device = check_device(device)
    if csv is not None:
        check_output_file(csv, "--csv", (".csv",))
    with progress() as bar:
        task = bar.add_task("evaluate", total=None, info="")
        df, summary = evaluate_checkpoint(
            checkpoint,
            data_root=data_root,
            device=device,
            on_batch=lambda n: bar.advance(task, n),
            num_inference_steps=steps,
            sampler=value(sampler),
            num_samples=samples,
            seed=seed,
        )
    if csv is not None:
        _write_csv(df, csv)
    console.print(json.dumps(dict(summary), default=str))


def _write_csv(df, csv: Path) -> None:
    try:
        csv.parent.mkdir(parents=True, exist_ok=True)
        df.to_csv(csv, index=False)
    except OSError as err:
        raise ConfigError(f"--csv {csv}: cannot write ({err.strerror or err})") from None
