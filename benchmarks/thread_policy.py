"""How many CPU threads torch should use on a small, shared CPU: the measurement behind the
default of ``--threads`` / ``LDSEG_THREADS`` (:func:`benchmarks.settings.torch_threads`).

``python -m benchmarks.thread_policy`` times LDSeg inference (the quick profile's LDSeg config,
untrained weights, 256^2, batch 1, DDIM with K=2; :func:`benchmarks.timing.time_callable`:
warm-up, repeats, median) under each thread configuration, alone and next to one busy
background process (a spinning Python loop, as another job on the machine would be). Every
configuration runs in a fresh subprocess, since OpenMP reads ``OMP_WAIT_POLICY`` (and sizes
its pool) when torch is loaded. Prints one table and writes it as JSON with ``--json PATH``.

It takes the whole CPU for a minute or two: run it on a machine nobody else is timing on.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from typing import Any

CONFIGS: tuple[tuple[str, int, dict[str, str]], ...] = (
    ("1 thread", 1, {}),
    ("2 threads", 2, {}),
    ("2 threads, OMP_WAIT_POLICY=PASSIVE", 2, {"OMP_WAIT_POLICY": "PASSIVE"}),
)
SIZE, STEPS = 256, 2


def _worker(threads: int, warmup: int, repeats: int) -> dict[str, Any]:
    """One configuration, in this (fresh) process: the median seconds per image."""
    import torch

    from benchmarks.methods import build_method
    from benchmarks.profiles import load_profile
    from benchmarks.runtime import _method_config
    from benchmarks.timing import time_callable

    torch.set_num_threads(threads)
    profile = load_profile("quick")
    info, mcfg = _method_config("ldseg", "glas", (SIZE, SIZE), profile)
    ev = profile.eval_config("ldseg", num_inference_steps=STEPS)
    torch.manual_seed(0)
    method = build_method("ldseg", mcfg, info).eval()
    x = torch.rand(1, info.in_channels, SIZE, SIZE, generator=torch.Generator().manual_seed(0))

    def predict():
        return method.predict(
            x,
            num_inference_steps=STEPS,
            sampler=ev.sampler,
            num_samples=1,
            generator=torch.Generator().manual_seed(ev.seed),
        )

    res = time_callable(predict, warmup=warmup, repeats=repeats, measure_memory=False)
    return {
        "threads": torch.get_num_threads(),
        "median_s": res.median_s,
        "min_s": res.min_s,
        "max_s": res.max_s,
        "times_s": res.times_s,
    }


def _spinner() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def measure(warmup: int = 1, repeats: int = 5, timeout: float = 300) -> list[dict[str, Any]]:
    rows = []
    for busy in (False, True):
        for name, threads, extra in CONFIGS:
            env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
            env.update(extra)
            env.pop("OMP_NUM_THREADS", None)
            spinner = _spinner() if busy else None
            try:
                if spinner is not None:
                    time.sleep(1.0)  # let it take its core
                load = os.getloadavg()[0]
                out = subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "benchmarks.thread_policy",
                        "--worker",
                        str(threads),
                        "--warmup",
                        str(warmup),
                        "--repeats",
                        str(repeats),
                    ],
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=timeout,
                    check=True,
                )
            finally:
                if spinner is not None:
                    spinner.kill()
                    spinner.wait()
            row = json.loads(out.stdout.strip().splitlines()[-1])
            rows.append({"config": name, "busy": busy, "load1_before": round(load, 2), **row})
    return rows


def _table(rows: list[dict[str, Any]]) -> str:
    lines = [
        f"LDSeg inference, quick profile, {SIZE}^2, batch 1, DDIM K={STEPS}, untrained "
        f"({os.cpu_count()} CPUs)",
        f"{'configuration':<38} {'background':<12} {'median ms':>10} {'min ms':>8} {'load1':>6}",
    ]
    for r in rows:
        lines.append(
            f"{r['config']:<38} {'1 busy proc' if r['busy'] else 'none':<12} "
            f"{r['median_s'] * 1000:>10.0f} {r['min_s'] * 1000:>8.0f} {r['load1_before']:>6.2f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", help="also write the rows here")
    args = parser.parse_args(argv)
    if args.worker is not None:
        print(json.dumps(_worker(args.worker, args.warmup, args.repeats)))
        return
    rows = measure(args.warmup, args.repeats)
    print(_table(rows))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
