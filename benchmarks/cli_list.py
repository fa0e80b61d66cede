"""``bench methods | experiments``: what the harness can run. Answers in a moment: the method
catalog and the experiment table are read without importing torch or a single method."""

from __future__ import annotations

import typer
from rich.table import Table

from benchmarks.cli_common import cli_errors, console

app = typer.Typer()


@app.command("methods")
@cli_errors
def methods_cmd() -> None:
    """List the registered methods (family: the baselines/ module that builds it)."""
    from benchmarks.method_catalog import CATALOG

    table = Table(title="methods")
    for col in ("name", "family", "dims", "samples", "description"):
        table.add_column(col)
    for m in sorted(CATALOG, key=lambda m: m.name):
        dims = "/".join(f"{d}D" for d in m.dims)
        table.add_row(m.name, m.family, dims, "yes" if m.samples else "no", m.description)
    console.print(table)


@app.command("experiments")
@cli_errors
def experiments_cmd() -> None:
    """List the experiments."""
    from benchmarks.experiments import EXPERIMENTS

    table = Table(title="experiments")
    for col in ("name", "paper", "what"):
        table.add_column(col)
    for e in EXPERIMENTS.values():
        table.add_row(e.name, e.paper, e.title)
    console.print(table)
