"""One naming and one default across the CLI: ``--sampling-steps`` (``--steps`` a deprecated
alias with a one-line warning), the ``smoke`` profile as every command's default, device and
sampler as choices."""

from __future__ import annotations

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from benchmarks.cli import app
from benchmarks.errors import ConfigError
from benchmarks.validate_args import DEFAULT_PROFILE, resolve_sampling_steps


def params(command: str) -> dict:
    return {p.name: p for p in get_command(app).commands[command].params}


@pytest.mark.parametrize("command", ["train", "run", "runtime", "robustness", "plan"])
def test_one_default_profile(command):
    assert DEFAULT_PROFILE == "smoke"
    assert params(command)["profile"].default == "smoke"


@pytest.mark.parametrize("command", ["train", "predict", "evaluate", "runtime"])
def test_sampling_steps_is_the_name_and_steps_a_hidden_alias(command):
    p = params(command)
    assert p["sampling_steps"].opts == ["--sampling-steps"]
    assert p["steps"].opts == ["--steps"] and p["steps"].hidden
    text = CliRunner().invoke(app, [command, "--help"], terminal_width=200).output
    assert "--sampling-steps" in text and "--steps " not in text


def test_resolve_sampling_steps():
    warned = []
    assert resolve_sampling_steps(4, None, warn=warned.append) == 4 and not warned
    assert resolve_sampling_steps(None, 3, warn=warned.append) == 3
    assert len(warned) == 1 and "--steps is deprecated" in warned[0]
    assert resolve_sampling_steps(3, 3, warn=warned.append) == 3
    with pytest.raises(ConfigError, match="disagree"):
        resolve_sampling_steps(4, 3, warn=warned.append)


def test_old_flag_warns_on_stderr_and_still_works(tmp_path):
    ckpt = tmp_path / "missing.pt"
    res = CliRunner().invoke(app, ["evaluate", "--checkpoint", str(ckpt), "--steps", "3"])
    assert res.exit_code == 2  # the missing checkpoint, after the warning
    lines = res.stderr.strip().splitlines()
    assert lines[0].startswith("warning: --steps is deprecated") and "--sampling-steps" in lines[0]
    assert lines[-1].startswith("error:") and "missing.pt" in lines[-1]
    res = CliRunner().invoke(
        app, ["evaluate", "--checkpoint", str(ckpt), "--steps", "3", "--sampling-steps", "4"]
    )
    assert res.exit_code == 2 and "disagree" in res.stderr


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["train", "unet", "--device", "tpu"], "--device"),
        (["evaluate", "--checkpoint", "x.pt", "--sampler", "euler"], "--sampler"),
        (["run", "table2", "--device", "gpu"], "--device"),
    ],
)
def test_choices_are_checked_by_the_parser(args, option):
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 2 and f"Invalid value for '{option}'" in res.output + res.stderr


@pytest.mark.parametrize("command", ["run", "runtime", "robustness", "uncertainty"])
def test_every_sweep_command_takes_the_executor_as_a_choice(command):
    p = params(command)
    assert {"executor", "ray_address", "retries"} <= set(p)
    assert [e.value for e in p["executor"].type_descriptor.annotation] == ["local", "ray"]
    res = CliRunner().invoke(
        app, [command, *(["table2"] if command == "run" else []), "--executor", "slurm"]
    )
    assert res.exit_code == 2 and "slurm" in res.output
