"""How long ``bench`` takes to answer: CPU seconds (user + system, ``getrusage`` of the child) of
a fresh process for ``--help`` of every command and for the listing commands, next to a bare
``python -c pass``, against the budgets of issue 14: every ``--help`` under 1 s of CPU,
``bench methods`` and ``bench data list`` under 3 s.

Run it: ``python -m benchmarks.cli_startup [--repeats 3]``. CPU time, not wall time, so the
numbers mean something on a loaded machine; the median of ``--repeats`` runs is printed, with
its ratio to ``python -c pass``. Exit code 1 when a median is over its budget.
``tests/test_cli_startup.py`` holds the same budgets.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys

LAUNCH = "import sys; from benchmarks.cli import main; sys.argv = ['bench', *sys.argv[1:]]; main()"
HELP_BUDGET_S = 1.0  # `bench --help`, `bench COMMAND --help`
LIST_BUDGET_S = 3.0  # `bench methods`, `bench data list`
GROUPS = (
    "methods",
    "experiments",
    "train",
    "predict",
    "evaluate",
    "run",
    "runtime",
    "robustness",
    "uncertainty",
    "report",
    "plan",
    "ui",
    "server",
    "data",
)
COMMANDS: tuple[tuple[tuple[str, ...], float], ...] = (
    (("--help",), HELP_BUDGET_S),
    *(((c, "--help"), HELP_BUDGET_S) for c in GROUPS),
    (("methods",), LIST_BUDGET_S),
    (("data", "list"), LIST_BUDGET_S),
)


def cpu_seconds(argv: list[str]) -> float:
    """CPU seconds (user + system) of one child process running ``argv``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def bench_cpu(args: list[str] | tuple[str, ...]) -> float:
    """CPU seconds of a fresh ``bench ARGS`` (the console script's own entry point)."""
    return cpu_seconds([sys.executable, "-c", LAUNCH, *args])


def python_cpu() -> float:
    """CPU seconds of a bare ``python -c pass``: the floor every command stands on."""
    return cpu_seconds([sys.executable, "-c", "pass"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    opts = parser.parse_args()
    base = statistics.median(python_cpu() for _ in range(opts.repeats))
    print(f"{'command':28} {'CPU s':>7} {'x python':>9} {'budget s':>9}")
    print(f"{'python -c pass':28} {base:7.2f} {1.0:9.1f}")
    over = 0
    for args, budget in COMMANDS:
        cpu = statistics.median(bench_cpu(args) for _ in range(opts.repeats))
        flag = "" if cpu < budget else "  OVER"
        over += bool(flag)
        ratio = cpu / max(base, 1e-3)
        print(f"{'bench ' + ' '.join(args):28} {cpu:7.2f} {ratio:9.1f} {budget:9.1f}{flag}")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
