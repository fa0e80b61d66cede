"""The ``bench`` command line (Typer + Rich). Thin: parse, build a spec, call the library.

One module per command group, each a plain Typer app merged here:

* ``cli_list``    — ``methods``, ``experiments``
* ``cli_jobs``    — ``train``, ``predict``, ``evaluate`` (one model)
* ``cli_sweeps``  — ``run``, ``runtime``, ``robustness``, ``uncertainty`` (experiment sweeps)
* ``cli_report``  — ``report``;  ``cli_plan`` — ``plan``;  ``cli_ui`` — ``ui``
* ``cli_data``    — the ``data`` sub-command group

Every module imports only Typer, Rich and the light argument checks at start-up; torch, MONAI,
MLflow and the methods are imported inside the commands that use them, so ``bench --help``
answers at once (``python -m benchmarks.cli_startup`` measures it).
"""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from benchmarks import cli_jobs, cli_list, cli_plan, cli_report, cli_sweeps, cli_ui
from benchmarks.cli_common import cli_errors
from benchmarks.cli_data import data_app
from benchmarks.cli_server import server_cmd

app = typer.Typer(
    name="bench",
    help="Benchmark and reproducibility harness for LDSeg (latent diffusion segmentation).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
for group in (cli_list, cli_jobs, cli_sweeps, cli_report, cli_plan, cli_ui):
    app.add_typer(group.app)
app.add_typer(data_app, name="data")
app.command("server")(cli_errors(server_cmd))  # bench server (benchmarks/cli_server.py)

ThreadsOpt = Annotated[
    int | None,
    typer.Option(
        envvar="LDSEG_THREADS",
        help="CPU threads for torch. Default: 1 on a machine with 2 CPUs or fewer, else one "
        "per CPU the 1-minute load average leaves idle (at most torch's default): a thread "
        "sharing its core with another busy process makes every step wait for it (measured "
        "7-26x slower; python -m benchmarks.thread_policy). OMP_NUM_THREADS, when set, is "
        "kept; a profile's experiments.torch_threads still sets a sweep's count.",
    ),
]


@app.callback()
def _main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="debug logging")] = False,
    threads: ThreadsOpt = None,
):
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    from benchmarks.settings import apply_torch_threads

    apply_torch_threads(threads)


def main() -> None:
    app()
