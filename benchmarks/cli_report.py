"""``bench report``: render the report of a finished sweep from MLflow (never trains)."""

from __future__ import annotations

from typing import Annotated

import typer

from benchmarks.cli_common import ReportDirOpt, UriOpt, cli_errors, console
from benchmarks.errors import ConfigError
from benchmarks.validate_args import check_output_dir

app = typer.Typer()


@app.command("report")
@cli_errors
def report_cmd(
    name: Annotated[str, typer.Argument(help="experiment name")],
    tracking_uri: UriOpt = None,
    profile: Annotated[str | None, typer.Option(help="the sweep of this profile run last")] = None,
    run_id: Annotated[str | None, typer.Option(help="a specific sweep (parent run id)")] = None,
    out: ReportDirOpt = None,
    fmt: Annotated[
        str, typer.Option("--format", help="md | csv | latex: the tables' file format")
    ] = "md",
) -> None:
    """Render the report of a finished sweep from MLflow (never trains)."""
    from mlflow.exceptions import MlflowException

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
