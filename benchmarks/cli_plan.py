"""``bench plan EXPERIMENT --profile P``: every train job of a sweep with what it will cost."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from benchmarks.cli_common import MethodsOpt, ProfileOpt, SeedsOpt, cli_errors
from benchmarks.validate_args import DEFAULT_PROFILE, parse_list, setting_item

app = typer.Typer()
console = Console()
COLUMNS = (
    "method",
    "dataset",
    "seed",
    "hash",
    "size",
    "batch",
    "sampler / K",
    "params",
    "fwd FLOPs/batch",
    "FLOPs/image (infer)",
    "steps",
    "step memory",
    "est. h",
)


def _si(n: float, unit: str = "") -> str:
    for div, prefix in ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= div:
            return f"{n / div:.2f} {prefix}{unit}"
    return f"{n:.0f} {unit}".strip()


@app.command("plan")
@cli_errors
def plan_cmd(
    experiment: Annotated[str, typer.Argument(help="experiment name (see `bench experiments`)")],
    profile: ProfileOpt = DEFAULT_PROFILE,
    methods: MethodsOpt = None,
    seeds: SeedsOpt = None,
    tflops: Annotated[
        float,
        typer.Option(
            min=1e-6,
            help="sustained accelerator throughput for est_hours (default 50 TFLOP/s: ~16 % of "
            "an A100's dense bf16 peak)",
        ),
    ] = 50.0,
    as_json: Annotated[bool, typer.Option("--json", help="print the rows as a JSON list")] = False,
) -> None:
    """Every train job of EXPERIMENT under PROFILE: config hash, sampler/K, params, FLOPs,
    optimiser steps, memory of one training step (measured on this CPU) and estimated
    accelerator hours. Nothing is trained."""
    from benchmarks.plan_costs import plan_costs
    from benchmarks.profiles import load_profile

    prof = load_profile(profile)
    s = parse_list(seeds, setting_item("seeds"), "--seeds", "seed")
    m = parse_list(methods, str, "--methods", "method")
    rows = plan_costs(experiment, prof, methods=m, seeds=s, tflops=tflops)
    if as_json:
        typer.echo(json.dumps([r.row() for r in rows], indent=1))
        return
    console.print(
        _table(rows, f"bench plan {experiment} --profile {prof.name} ({tflops:g} TFLOP/s)")
    )
    console.print(f"total estimated accelerator hours: {sum(r.est_hours for r in rows):.1f}")


def _table(rows, title: str) -> Table:
    table = Table(title=title)
    for c in COLUMNS:
        table.add_column(c, justify="left" if c in ("method", "dataset", "hash") else "right")
    for r in rows:
        k = f"{r.sampler} {r.num_inference_steps}" if r.sampler != "none" else "–"
        if r.num_samples > 1:
            k += f" x{r.num_samples}"
        table.add_row(
            r.method,
            r.dataset,
            str(r.seed),
            r.config_hash[:10],
            r.size,
            str(r.batch_size),
            k,
            _si(r.params),
            _si(r.flops),
            _si(r.infer_flops),
            str(r.train_steps),
            _si(r.peak_memory_bytes, "B"),
            f"{r.est_hours:.2f}",
        )
    return table
