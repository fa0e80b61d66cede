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

from benchmarks.errors import BenchError

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
            help="CPU threads for torch (default: torch's choice; use 1 when several runs share "
            "a small CPU: thread hand-offs then cost more than they save)",
        ),
    ] = None,
):
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if threads:
        import torch

        torch.set_num_threads(threads)


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


@app.command("train")
@cli_errors
def train_cmd(
    method: Annotated[str, typer.Argument(help="method name (see `bench methods`)")],
    dataset: Annotated[str, typer.Option("--dataset", "-d", help="dataset name")] = "glas",
    profile: Annotated[str, typer.Option(help="smoke | quick | paper | path.toml")] = "quick",
    seed: Annotated[int, typer.Option(help="training seed")] = 0,
    out: Annotated[Path | None, typer.Option(help="run directory (rerun = resume)")] = None,
    data_root: Annotated[str | None, typer.Option(help="data root (else $LDSEG_DATA)")] = None,
    path: Annotated[str | None, typer.Option(help="folder dataset directory")] = None,
    device: Annotated[str, typer.Option(help="cpu | cuda")] = "cpu",
    steps: Annotated[int | None, typer.Option(help="override the sampler's K at test")] = None,
) -> None:
    """Train METHOD on a dataset under a profile, then report test metrics."""
    from benchmarks.pipeline import JobSpec, run_job
    from benchmarks.pipeline import Progress as Hooks
    from benchmarks.profiles import load_profile
    from benchmarks.settings import out_root

    prof = load_profile(profile)
    spec = JobSpec(
        method=method,
        dataset=dataset,
        profile=prof.name,
        seed=seed,
        device=device,
        data_root=data_root,
        data_path=path,
    )
    out = out or out_root() / "train" / f"{method}-{dataset}-{prof.name}-s{seed}"
    with _progress() as bar:
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
    out: Annotated[Path, typer.Option(help="output label map (PNG, or .nii.gz for 3D)")],
    steps: Annotated[int | None, typer.Option(help="sampling steps K")] = None,
    samples: Annotated[int, typer.Option(help="samples per image (N > 1: mean + SD)")] = 1,
    sampler: Annotated[str | None, typer.Option(help="ddim | ddpm")] = None,
    uncertainty: Annotated[Path | None, typer.Option(help="write the SD map here (PNG)")] = None,
    seed: Annotated[int, typer.Option(help="sampling seed")] = 0,
    device: Annotated[str, typer.Option(help="cpu | cuda")] = "cpu",
) -> None:
    """Segment one image with a trained checkpoint."""
    from benchmarks.predict import predict_file

    info = predict_file(
        checkpoint,
        input,
        out,
        steps=steps,
        samples=samples,
        sampler=sampler,
        uncertainty=uncertainty,
        seed=seed,
        device=device,
    )
    console.print(json.dumps(info))


@app.command("evaluate")
@cli_errors
def evaluate_cmd(
    checkpoint: Annotated[Path, typer.Option(help="checkpoint.pt of a trained run")],
    steps: Annotated[int | None, typer.Option(help="sampling steps K")] = None,
    sampler: Annotated[str | None, typer.Option(help="ddim | ddpm")] = None,
    samples: Annotated[int | None, typer.Option(help="samples per image (mean fused)")] = None,
    seed: Annotated[int | None, typer.Option(help="sampling seed")] = None,
    data_root: Annotated[str | None, typer.Option(help="data root (else $LDSEG_DATA)")] = None,
    csv: Annotated[Path | None, typer.Option(help="write the per-case table here")] = None,
    device: Annotated[str, typer.Option(help="cpu | cuda")] = "cpu",
) -> None:
    """Re-score a trained checkpoint on its test split with any sampler settings."""
    from benchmarks.pipeline import evaluate_checkpoint

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
            sampler=sampler,
            num_samples=samples,
            seed=seed,
        )
    if csv is not None:
        df.to_csv(csv, index=False)
    console.print(json.dumps({k: v for k, v in summary.items()}, default=str))


def _mount_subapps() -> None:
    from benchmarks.cli_data import data_app

    app.add_typer(data_app, name="data")
    try:
        from benchmarks.cli_harness import register_harness_commands
    except ModuleNotFoundError:
        return
    register_harness_commands(app, cli_errors=cli_errors, progress=_progress)


_mount_subapps()


def main() -> None:
    app()
