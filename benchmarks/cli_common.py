"""What every ``bench`` command group shares: the consoles, the one-line error decorator, the
progress bar and the option types. Light on purpose (Typer and Rich only): every command module
imports it at start-up, and ``bench --help`` must answer at once."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from benchmarks.errors import BenchError
from benchmarks.validate_args import (
    PROFILE_HELP,
    SAMPLING_STEPS_HELP,
    SEED_MAX,
    Device,
    SamplerName,
)

console = Console()
err_console = Console(stderr=True)


def warn(message: str) -> None:
    """One plain line on stderr (a deprecation, a skipped step)."""
    err_console.print(message, markup=False, highlight=False, soft_wrap=True)


def cli_errors(fn):
    """Turn user-facing errors into one line on stderr and exit code 2 (never a traceback)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except BenchError as err:
            warn(f"error: {err}")
            raise typer.Exit(2) from None
        except OSError as err:  # a full or read-only disk under any write: one line, too
            from benchmarks.settings import storage_error

            fault = storage_error(err)
            if fault is None:
                raise
            warn(f"error: {fault}")
            raise typer.Exit(2) from None

    return wrapper


def progress() -> Progress:
    """The Rich progress bar every long command draws (library code never prints)."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


# -- option types shared by several commands ------------------------------------------------
SeedOpt = Annotated[int, typer.Option(min=0, max=SEED_MAX, help="seed (0..2**32-1)")]
DeviceOpt = Annotated[Device, typer.Option(help="cpu | cuda (cuda needs a GPU)")]
StepsOpt = Annotated[int | None, typer.Option("--sampling-steps", min=1, help=SAMPLING_STEPS_HELP)]
OldStepsOpt = Annotated[  # deprecated alias of --sampling-steps (one release)
    int | None, typer.Option("--steps", min=1, hidden=True, help="deprecated: --sampling-steps")
]
ProfileOpt = Annotated[str, typer.Option(help=PROFILE_HELP)]
SamplerOpt = Annotated[SamplerName | None, typer.Option(help="the sampler")]
DataRootOpt = Annotated[str | None, typer.Option(help="data root (else $LDSEG_DATA)")]
SeedsOpt = Annotated[str | None, typer.Option(help="comma-separated seeds, e.g. 0,1,2")]
MethodsOpt = Annotated[str | None, typer.Option(help="comma-separated subset of the methods")]
ForceOpt = Annotated[bool, typer.Option("--force", help="redo children that are cached")]
UriOpt = Annotated[
    str | None,
    typer.Option(
        help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else sqlite under $LDSEG_OUT)"
    ),
]
ReportDirOpt = Annotated[
    Path | None, typer.Option(help="report root (default reports/out or $LDSEG_REPORTS)")
]
