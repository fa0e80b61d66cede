"""Paper-profile smoke at the paper's real sizes on the CPU (issue 10, item 5).

``python -m benchmarks.paper_smoke`` runs every Table II method (the methods ``bench run table2
--profile paper`` plans, on GlaS at 512^2) and LDSeg's Table III config (knee3d at the paper
size) for a few optimiser steps and segments one test case, each in a fresh subprocess with one
thread, and writes a table of peak RSS and CPU seconds (``--out FILE.md``).

Everything is resolved as the paper profile resolves it — the method config from
:func:`benchmarks.pipeline.job_configs`, the training config from ``Profile.train_config`` (the
real optimiser, LR schedule, EMA; only the batch size may be reduced, and the table says so) and
the row's sampler / K / number of samples from ``Profile.eval_config`` — and trained with the
project's :class:`~benchmarks.train.Trainer`. Inputs are synthetic tensors of the real shapes
(random image in [0, 1], a blob label with every class), so no data is read.

Sampling: the real ``predict`` runs with the row's sampler, K and N; K up to ``--max-steps``
(10: LDSeg's 2, LSegDiff's 10) runs in full. A larger K (DDPM with K = 1000 x 5 samples at
512^2 would take hours on a CPU) builds the full K-point grid (its length is reported and
checked) but runs only its first :data:`TRUNCATED_STEPS` (2) network evaluations: the sampler
visits the grid's first 2 timesteps, and the second steps straight to t = 0, so the decode sees
a z_0 of the right shape. The table's
"K run / K" column says which rows were truncated.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import resource
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any
from unittest import mock

log = logging.getLogger(__name__)

PROFILE = "paper"
TABLE3_CASE = ("ldseg", "knee3d")
TRUNCATED_STEPS = 2  # network evaluations run of a K above max_steps


@dataclass(frozen=True)
class SmokeRow:
    method: str
    dataset: str
    size: str
    batch_size: int  # the batch this run trained with
    profile_batch_size: int  # the profile's batch
    steps: int
    losses: list[float]
    sampler: str  # "none" for a plain network
    k_run: int  # network evaluations of the sampler actually run
    k_configured: int  # the row's K (the grid built has this many points)
    grid_len: int  # length of the timestep grid the sampler built (0 for a plain network)
    num_samples: int
    probs_shape: list[int]
    peak_rss_mib: float
    train_cpu_s: float
    predict_cpu_s: float
    device: str = "cpu"
    # CUDA: torch.cuda.max_memory_allocated / reserved of the whole case (0 on the CPU)
    peak_cuda_allocated_mib: float = 0.0
    peak_cuda_reserved_mib: float = 0.0


def cases(profile: str = PROFILE) -> list[tuple[str, str]]:
    """(method, dataset) of every Table II train job, then LDSeg's Table III 3D job."""
    from benchmarks.experiments import get_experiment, settings_for
    from benchmarks.kinds import plan

    sweep = plan(get_experiment("table2"), settings_for(profile), seeds=(0,))
    table2 = sorted({(c.method, c.dataset) for c in sweep.children if c.trained})
    return [*table2, TABLE3_CASE]


class SyntheticSplit:
    """``len`` + ``batch(idx, aug_seed)`` as a SegDataset, of the real shape: a random image in
    [0, 1] and a label of nested boxes around a random centre (every class present)."""

    def __init__(self, info, size: tuple[int, ...], n: int = 4, seed: int = 0) -> None:
        import torch

        g = torch.Generator().manual_seed(seed)
        self.images = torch.rand((n, info.in_channels, *size), generator=g)
        grids = torch.meshgrid(*[torch.linspace(0, 1, s) for s in size], indexing="ij")
        labels = []
        for _ in range(n):
            centre = 0.3 + 0.4 * torch.rand(len(size), generator=g)
            dist = torch.stack([(x - c).abs() for x, c in zip(grids, centre, strict=True)]).amax(0)
            rings = (0.45 - dist).clamp(min=0) / 0.45 * info.num_classes
            labels.append(rings.floor().clamp(max=info.num_classes - 1).long())
        self.labels = torch.stack(labels)[:, None]

    def __len__(self) -> int:
        return len(self.images)

    def batch(self, indices, aug_seed: int | None = None) -> dict:
        return {
            "image": self.images[list(indices)],
            "label": self.labels[list(indices)],
            "case_id": [f"synthetic-{i}" for i in indices],
        }


def _predict(method, image, ev, max_steps: int) -> tuple[Any, int, int]:
    """The row's predict on one image; returns (Segmentation, K run, grid length)."""
    import torch

    import ldseg.samplers as samplers

    full = samplers.timesteps
    built: list[int] = []

    def first_steps(num_inference_steps, T, grid="rounded"):
        ts = full(num_inference_steps, T, grid)
        built.append(len(ts))
        return ts if len(ts) <= max_steps else ts[:TRUNCATED_STEPS]

    g = torch.Generator().manual_seed(0)
    kwargs = dict(sampler=ev.sampler, num_inference_steps=ev.num_inference_steps)
    with torch.inference_mode(), mock.patch.object(samplers, "timesteps", first_steps):
        seg = method.predict(image, num_samples=ev.num_samples, generator=g, **kwargs)
    return seg, built[0] if built[0] <= max_steps else TRUNCATED_STEPS, built[0]


def run_case(
    method_name: str,
    dataset: str,
    *,
    profile: str = PROFILE,
    batch_size: int | None = None,
    steps: int = 2,
    max_steps: int = 10,
    device: str = "cpu",
) -> SmokeRow:
    """Build, train ``steps`` optimiser steps and segment one case, as the profile resolves it
    (on ``device``: a GPU measures the cases this CPU cannot hold, e.g. MedT at 512^2)."""
    import torch

    from benchmarks.methods import build_method, get_spec
    from benchmarks.pipeline import JobSpec, check_job
    from benchmarks.profiles import load_profile
    from benchmarks.train import Trainer

    prof = load_profile(profile)
    # the job's resolved configs, checked as bench train checks them (K within 1..T)
    _, info, mcfg, ev = check_job(JobSpec(method_name, dataset, prof.name, 0), prof)
    train_cfg = prof.train_config(method_name, seed=0, dataset=dataset)
    size = tuple(prof.dataset(dataset).size)
    cfg = replace(train_cfg, batch_size=batch_size or train_cfg.batch_size)
    torch.manual_seed(0)
    method = build_method(method_name, mcfg, info)
    split = SyntheticSplit(info, size, n=max(cfg.batch_size, 1) + 1)
    trainer = Trainer(method, split, cfg, device=device)
    losses: list[float] = []
    t0 = time.process_time()
    if steps > 0:  # steps = 0: build and segment only (a case whose training does not fit)
        trainer.fit(on_step=lambda s, terms: losses.append(terms["loss"]), stop_after=steps)
    train_s = time.process_time() - t0
    image = split.images[-1:].to(device)
    t0 = time.process_time()
    with trainer.swapped_ema():
        method.eval()
        if get_spec(method_name).samples:
            seg, k_run, grid_len = _predict(method, image, ev, max_steps)
            sampler, k, n = ev.sampler, ev.num_inference_steps, ev.num_samples
        else:
            with torch.inference_mode():
                seg = method.predict(image)
            sampler, k_run, grid_len, k, n = "none", 0, 0, 0, 1
    predict_s = time.process_time() - t0
    return SmokeRow(
        method=method_name,
        dataset=dataset,
        size="x".join(map(str, size)),
        batch_size=cfg.batch_size,
        profile_batch_size=train_cfg.batch_size,
        steps=len(losses),
        losses=losses,
        sampler=sampler,
        k_run=k_run,
        k_configured=k,
        grid_len=grid_len,
        num_samples=n,
        probs_shape=list(seg.probs.shape),
        peak_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        train_cpu_s=round(train_s, 1),
        predict_cpu_s=round(predict_s, 1),
        device=device,
        **_cuda_peaks(device),
    )


def _cuda_peaks(device: str) -> dict[str, float]:
    import torch

    if device != "cuda":
        return {}
    return {
        "peak_cuda_allocated_mib": round(torch.cuda.max_memory_allocated() / 2**20, 1),
        "peak_cuda_reserved_mib": round(torch.cuda.max_memory_reserved() / 2**20, 1),
    }


def run_isolated(
    method: str,
    dataset: str,
    *,
    batch_size: int | None = None,
    steps: int = 2,
    max_steps: int = 10,
    memory_limit_gib: float | None = None,
    timeout: float | None = None,
    device: str = "cpu",
) -> tuple[SmokeRow | None, str]:
    """:func:`run_case` in a fresh one-thread Python process (its own peak RSS); returns
    (row, "") or (None, the child's last stderr lines). ``memory_limit_gib`` caps the child's
    address space, so a case that does not fit fails alone instead of starving the machine."""
    cmd = [sys.executable, "-m", "benchmarks.paper_smoke", "--one", method, dataset]
    cmd += ["--steps", str(steps), "--max-steps", str(max_steps)]
    if batch_size:
        cmd += ["--batch-size", str(batch_size)]
    if memory_limit_gib:
        cmd += ["--memory-limit-gib", str(memory_limit_gib)]
    if device != "cpu":
        cmd += ["--device", device]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    if proc.returncode != 0:
        return None, "\n".join(proc.stderr.strip().splitlines()[-5:])
    return SmokeRow(**json.loads(proc.stdout.strip().splitlines()[-1])), ""


_CPU_COLUMNS = (
    ("peak RSS MiB", lambda r: f"{r.peak_rss_mib:.0f}"),
    ("train CPU s", lambda r: str(r.train_cpu_s)),
    ("predict CPU s", lambda r: str(r.predict_cpu_s)),
)
_CUDA_COLUMNS = (
    ("peak CUDA allocated MiB", lambda r: f"{r.peak_cuda_allocated_mib:.0f}"),
    ("peak CUDA reserved MiB", lambda r: f"{r.peak_cuda_reserved_mib:.0f}"),
    ("peak RSS MiB", lambda r: f"{r.peak_rss_mib:.0f}"),
)


def markdown(rows: list[SmokeRow], failed: dict[str, str]) -> str:
    """The rows as a markdown table: CPU time columns, or CUDA memory ones when a row ran on a
    GPU (its CPU seconds mean little there)."""
    extra = _CUDA_COLUMNS if any(r.device == "cuda" for r in rows) else _CPU_COLUMNS
    titles = ["method", "dataset", "size", "batch (profile)", "steps", "sampler", "K run / K"]
    titles += ["N", *(t for t, _ in extra)]
    head = "| " + " | ".join(titles) + " |\n|" + "---|" * len(titles) + "\n"
    lines = [
        f"| {r.method} | {r.dataset} | {r.size} | {r.batch_size} ({r.profile_batch_size}) "
        f"| {r.steps} | {r.sampler} | {r.k_run} / {r.k_configured} | {r.num_samples} | "
        + " | ".join(cell(r) for _, cell in extra)
        + " |"
        for r in rows
    ]
    lines += [
        f"| {name} | failed: {why.splitlines()[-1] if why else '?'} |"
        for name, why in failed.items()
    ]
    return head + "\n".join(lines) + "\n"


def _child(args: argparse.Namespace) -> None:
    import torch

    torch.set_num_threads(1)
    if args.memory_limit_gib and args.device == "cpu":  # CUDA maps far more address space
        cap = int(args.memory_limit_gib * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    row = run_case(
        args.one[0],
        args.one[1],
        batch_size=args.batch_size,
        steps=args.steps,
        max_steps=args.max_steps,
        device=args.device,
    )
    if not all(math.isfinite(v) for v in row.losses):
        raise SystemExit(f"{row.method}: non-finite loss {row.losses}")
    print(json.dumps(asdict(row)))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.paper_smoke", description=__doc__)
    p.add_argument("--one", nargs=2, metavar=("METHOD", "DATASET"), help="run one case here")
    p.add_argument("--methods", nargs="*", help="only these methods (default: every case)")
    p.add_argument("--batch-size", type=int, default=None, help="default: the profile's")
    p.add_argument("--steps", type=int, default=2)
    p.add_argument(
        "--max-steps", type=int, default=10, help="a larger K runs its first 2 evaluations only"
    )
    p.add_argument("--memory-limit-gib", type=float, default=None)
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="cuda: on a GPU")
    p.add_argument("--out", type=Path, default=None, help="write the markdown table here")
    args = p.parse_args(argv)
    if args.one:
        return _child(args)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    rows, failed = [], {}
    for method, dataset in cases():
        if args.methods and method not in args.methods:
            continue
        row, err = run_isolated(
            method,
            dataset,
            batch_size=args.batch_size,
            steps=args.steps,
            max_steps=args.max_steps,
            memory_limit_gib=args.memory_limit_gib,
            device=args.device,
        )
        if row is None:
            failed[f"{method} ({dataset})"] = err
            log.info("%s on %s failed: %s", method, dataset, err)
            continue
        log.info("%s", asdict(row))
        rows.append(row)
    table = markdown(rows, failed)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(table)
    sys.stdout.write(table)


if __name__ == "__main__":
    main()
