"""`bench --help` answers fast: the command modules import nothing heavy (torch, MONAI, MLflow,
the methods) until a command runs, and a fresh `bench --help` costs little CPU."""

from __future__ import annotations

import json
import subprocess
import sys

from benchmarks.cli_startup import bench_cpu, cpu_seconds

HEAVY = ("torch", "monai", "mlflow", "segmentation_models_pytorch", "timm", "pandas", "scipy")
HELP_OF_EVERY_COMMAND = """
import json, sys
from typer.main import get_command
from typer.testing import CliRunner
from benchmarks.cli import app
group = get_command(app)
names = sorted(group.commands)
runner = CliRunner()
codes = {n: runner.invoke(app, [n, "--help"]).exit_code for n in names}
codes["--help"] = runner.invoke(app, ["--help"]).exit_code
heavy = sorted({m.split(".")[0] for m in sys.modules} & set(json.loads(sys.argv[1])))
print(json.dumps({"codes": codes, "heavy": heavy}))
"""


def test_help_of_every_command_imports_nothing_heavy():
    res = subprocess.run(
        [sys.executable, "-c", HELP_OF_EVERY_COMMAND, json.dumps(HEAVY)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert {"train", "run", "ui", "data", "plan", "report", "methods"} <= set(out["codes"])
    assert set(out["codes"].values()) == {0}, out["codes"]
    assert out["heavy"] == [], f"imported by `bench ... --help`: {out['heavy']}"


def test_bench_help_cpu_time():
    # generous for a loaded 2-core machine (about 0.6 s there; importing torch alone is ~3 s)
    base = cpu_seconds([sys.executable, "-c", "pass"])
    for args in (["--help"], ["train", "--help"], ["run", "--help"]):
        cpu = bench_cpu(args)
        assert cpu < 2.5, f"bench {' '.join(args)}: {cpu:.2f} s of CPU (python: {base:.2f} s)"
