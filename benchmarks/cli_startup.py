"""How long ``bench`` takes to answer: CPU seconds (user + system) of a fresh process for ``--help`` of every command and for the cheap listing commands, next to a bare
``python -c pass``. Run it: ``python -m benchmarks.cli_startup [--repeats 3]``.

CPU time, not wall time, so the numbers mean something on a loaded machine; the median of
``--repeats`` runs is printed. ``bench --help`` must not import torch, MONAI, MLflow or the
methods (tests/test_cli_startup.py holds it to that).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys

LAUNCH = "import sys; from benchmarks.cli import main; sys.argv = ['bench', *sys.argv[1:]]; main()"
COMMANDS = [
    ["--help"],
    *[
        [c, "--help"]
        for c in (
            "train",
            "predict",
            "evaluate",
            "run",
            "runtime",
            "report",
            "plan",
            "ui",
            "data",
        )
    ],
    ["experiments"],
    ["methods"],
    ["data", "list"],
]


def cpu_seconds(argv: list[str]) -> float:
    """CPU seconds of one child process running ``argv``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu


def bench_cpu(args: list[str]) -> float:
    return cpu_seconds([sys.executable, "-c", LAUNCH, *args])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    opts = parser.parse_args()
    base = statistics.median(
        cpu_seconds([sys.executable, "-c", "pass"]) for _ in range(opts.repeats)
    )
    print(f"{'command':28} {'CPU s':>7} {'x python':>9}")
    print(f"{'python -c pass':28} {base:7.2f} {1.0:9.1f}")
    for args in COMMANDS:
        cpu = statistics.median(bench_cpu(args) for _ in range(opts.repeats))
        print(f"{'bench ' + ' '.join(args):28} {cpu:7.2f} {cpu / max(base, 1e-3):9.1f}")


if __name__ == "__main__":
    main()
