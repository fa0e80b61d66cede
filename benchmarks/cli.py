"""The ``bench`` command line (Typer + Rich). Thin: parse, build a spec, call the library."""

from __future__ import annotations

import functools
import json
import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from benchmarks.errors import BenchError, ConfigError
from benchmarks.validate_args import (
    DEFAULT_PROFILE,
    LABEL_SUFFIXES_2D,
    PROFILE_HELP,
    SAMPLING_STEPS_HELP,
    SD_SUFFIXES_2D,
    SEED_MAX,
    Device,
    SamplerName,
    check_device,
    check_output_dir,
    check_output_file,
    resolve_sampling_steps,
    same_file,
    value,
)

app = typer.Typer(
    name="bench",
    help="Benchmark and reproducibility harness for LDSeg (latent diffusion segmentation).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)
log = logging.getLogger("benchmarks")


def cli_errors(fn):
    """Turn user-facing errors into one line on stderr and exit code 2 (never a traceback)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except BenchError as err:
            err_console.print(f"error: {err}", markup=False, highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except OSError as err:  # a full or read-only disk under any write: one line, too
            from benchmarks.settings import storage_error

            fault = storage_error(err)
            if fault is None:
                raise
            err_console.print(f"error: {fault}", markup=False, highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None

    return wrapper


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


@app.callback()
def _main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="debug logging")] = False,
    threads: Annotated[
        int | None,
        typer.Option(
            envvar="LDSEG_THREADS",
            help="CPU threads for torch. Default: 1 on a machine with 2 CPUs or fewer, else one "
            "per CPU the 1-minute load average leaves idle (at most torch's default): a thread "
            "sharing its core with another busy process makes every step wait for it (measured "
            "7-26x slower; python -m benchmarks.thread_policy). OMP_NUM_THREADS, when set, is "
            "kept; a profile's experiments.torch_threads still sets a sweep's count.",
        ),
    ] = None,
):
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    from benchmarks.settings import apply_torch_threads

    apply_torch_threads(threads)


@app.command("methods")
@cli_errors
def methods_cmd() -> None:
    """List the registered methods."""
    from benchmarks.methods import registry

    table = Table(title="methods")
    for col in ("name", "dims", "samples", "description"):
        table.add_column(col)
    for name, spec in sorted(registry().items()):
        dims = "/".join(f"{d}D" for d in spec.dims)
        table.add_row(name, dims, "yes" if spec.samples else "no", spec.description)
    console.print(table)


SeedOpt = Annotated[int, typer.Option(min=0, max=SEED_MAX, help="seed (0..2**32-1)")]
DeviceOpt = Annotated[Device, typer.Option(help="cpu | cuda")]
StepsOpt = Annotated[int | None, typer.Option("--sampling-steps", min=1, help=SAMPLING_STEPS_HELP)]
OldStepsOpt = Annotated[  # deprecated alias of --sampling-steps (one release)
    int | None, typer.Option("--steps", min=1, hidden=True, help="deprecated: --sampling-steps")
]
ProfileOpt = Annotated[str, typer.Option(help=PROFILE_HELP)]
SamplerOpt = Annotated[SamplerName | None, typer.Option(help="the sampler")]


def _warn(message: str) -> None:
    err_console.print(message, markup=False, highlight=False, soft_wrap=True)


@app.command("train")
@cli_errors
def train_cmd(
    method: Annotated[str, typer.Argument(help="method name (see `bench methods`)")],
    dataset: Annotated[str, typer.Option("--dataset", "-d", help="dataset name")] = "glas",
    profile: ProfileOpt = DEFAULT_PROFILE,
    seed: SeedOpt = 0,
    out: Annotated[
        Path | None,
        typer.Option(help="run directory (rerun = resume; refused if it holds another config)"),
    ] = None,
    data_root: Annotated[str | None, typer.Option(help="data root (else $LDSEG_DATA)")] = None,
    path: Annotated[str | None, typer.Option(help="folder dataset directory")] = None,
    size: Annotated[
        str | None, typer.Option(help="H,W or D,H,W: override the profile's image size")
    ] = None,
    device: DeviceOpt = Device.cpu,
    sampling_steps: StepsOpt = None,
    steps: OldStepsOpt = None,
) -> None:
    """Train METHOD on a dataset under a profile, then report test metrics.

    The default run directory is named by the hash of the training identity (method, dataset,
    profile values, seed, folder path), so a changed profile trains afresh.
    """
    from benchmarks.data import get_info
    from benchmarks.paths import under
    from benchmarks.pipeline import JobSpec, check_job, run_job
    from benchmarks.pipeline import Progress as Hooks
    from benchmarks.profiles import load_profile, parse_size
    from benchmarks.settings import out_root
    from benchmarks.trained import job_lock, train_hash

    steps = resolve_sampling_steps(sampling_steps, steps, warn=_warn)
    device = check_device(device)
    if out is not None:
        check_output_dir(out, "--out")
    prof = load_profile(profile)
    # the dataset's settings for its dims (folder: [datasets."folder@3d"] for 3D files), --size
    prof = prof.for_dataset(dataset, get_info(dataset, path=path).spatial_dims, parse_size(size))
    spec = JobSpec(
        method=method,
        dataset=dataset,
        profile=prof.name,
        seed=seed,
        device=device,
        data_root=data_root,
        data_path=path,
    )
    # names and sampler settings are checked before anything (even the output root) is created
    check_job(spec, prof, {"num_inference_steps": steps})
    if out is None:
        h = train_hash(spec, prof)
        out = under(out_root(), "train", f"{method}-{dataset}-{prof.name}-s{seed}-{h}")
    # two `bench train` into one run directory: the second waits, then resumes or re-scores
    with job_lock(Path(out)), _progress() as bar:
        task = bar.add_task(f"train {method}", total=None, info="")
        ev = bar.add_task("evaluate", total=None, info="", visible=False)

        def on_step(step, total, terms):
            bar.update(task, completed=step, total=total, info=f"loss {terms['loss']:.4f}")

        def on_eval(done, total):
            bar.update(ev, completed=done, total=total, visible=True)

        metrics = run_job(
            spec,
            prof,
            out,
            progress=Hooks(on_step, on_eval),
            eval_overrides={"num_inference_steps": steps},
        )
    _print_metrics(metrics)
    console.print(f"run directory: {out}")


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
    checkpoint: Annotated[Path, typer.Option(help="checkpoint.pt of a trained run")],
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

    steps = resolve_sampling_steps(sampling_steps, steps, warn=_warn)
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
    checkpoint: Annotated[Path, typer.Option(help="checkpoint.pt of a trained run")],
    sampling_steps: StepsOpt = None,
    steps: OldStepsOpt = None,
    sampler: SamplerOpt = None,
    samples: Annotated[
        int | None, typer.Option(min=1, help="samples per image (mean fused)")
    ] = None,
    seed: Annotated[
        int | None, typer.Option(min=0, max=SEED_MAX, help="sampling seed (0..2**32-1)")
    ] = None,
    data_root: Annotated[str | None, typer.Option(help="data root (else $LDSEG_DATA)")] = None,
    csv: Annotated[Path | None, typer.Option(help="write the per-case table here (.csv)")] = None,
    device: DeviceOpt = Device.cpu,
) -> None:
    """Re-score a trained checkpoint on its own test split with any sampler settings."""
    from benchmarks.pipeline import evaluate_checkpoint

    steps = resolve_sampling_steps(sampling_steps, steps, warn=_warn)
    device = check_device(device)
    if csv is not None:
        check_output_file(csv, "--csv", (".csv",))
    with _progress() as bar:
        task = bar.add_task("evaluate", total=None, info="")
        done = [0]

        def on_batch(n):
            done[0] += n
            bar.update(task, completed=done[0])

        df, summary = evaluate_checkpoint(
            checkpoint,
            data_root=data_root,
            device=device,
            on_batch=on_batch,
            num_inference_steps=steps,
            sampler=value(sampler),
            num_samples=samples,
            seed=seed,
        )
    if csv is not None:
        try:
            csv.parent.mkdir(parents=True, exist_ok=True)
            df.to_csv(csv, index=False)
        except OSError as err:
            raise ConfigError(f"--csv {csv}: cannot write ({err.strerror or err})") from None
    console.print(json.dumps({k: v for k, v in summary.items()}, default=str))


def _mount_subapps() -> None:
    from benchmarks.cli_data import data_app

    app.add_typer(data_app, name="data")
    from benchmarks.cli_plan import plan_cmd

    app.command("plan")(cli_errors(plan_cmd))
    from benchmarks.cli_harness import register_harness_commands
    from benchmarks.cli_ui import ui_cmd

    register_harness_commands(app, cli_errors=cli_errors)
    app.command("ui")(cli_errors(ui_cmd))


_mount_subapps()


def main() -> None:
    app()
