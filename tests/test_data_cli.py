"""`bench data list / check / show` through typer's CliRunner (mounted as the main app does)."""

from __future__ import annotations

import pytest
import typer
from PIL import Image
from typer.testing import CliRunner

from benchmarks.cli_data import data_app

app = typer.Typer()
app.add_typer(data_app, name="data")
runner = CliRunner()


def test_list_shows_every_dataset():
    result = runner.invoke(app, ["data", "list"], terminal_width=200)
    assert result.exit_code == 0, result.output
    for name in ("glas", "knee3d", "knee2d", "echo-synth", "synth2d", "synth3d", "folder"):
        assert name in result.stdout
    assert "SYNTHETIC" in result.stdout and "LV+LA" in result.stdout


@pytest.mark.realdata
def test_check_glas_reports_official_split(data_root, glas_dir, monkeypatch):
    monkeypatch.setenv("LDSEG_DATA", str(data_root))
    result = runner.invoke(app, ["data", "check", "glas"], terminal_width=200)
    assert result.exit_code == 0, result.output
    rows = {line.split("│")[1].strip(): line.split("│")[2].strip() for line in _table_rows(result)}
    assert rows["train"] == "85" and rows["test"] == "80"
    assert "522x775" in result.stdout and "gland" in result.stdout


@pytest.mark.realdata
def test_check_knee3d_five_volumes_three_classes(data_root, knee_dir):
    result = runner.invoke(
        app, ["data", "check", "knee3d", "--data-root", str(data_root)], terminal_width=200
    )
    assert result.exit_code == 0, result.output
    assert "3D, 3 classes, 5 cases" in result.stdout
    assert "240x104x160" in result.stdout
    for cls in ("background", "FC", "TC"):
        assert cls in result.stdout


def test_check_synthetic_needs_no_root(monkeypatch, tmp_path):
    monkeypatch.setenv("LDSEG_DATA", str(tmp_path / "absent"))
    result = runner.invoke(app, ["data", "check", "synth2d"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "SYNTHETIC" in result.stdout


@pytest.mark.realdata
def test_show_glas_and_knee_cases(tmp_path, data_root, glas_dir, knee_dir):
    for name, case, shape in (("glas", "testB_3", (400, 800)), ("knee3d", "case2", (1200, 800))):
        out = tmp_path / f"{name}.png"
        args = ["data", "show", name, "--case", case, "--out", str(out)]
        result = runner.invoke(app, [*args, "--data-root", str(data_root)])
        assert result.exit_code == 0, result.output
        with Image.open(out) as img:
            assert img.size == shape[::-1]


def test_show_synthetic_and_unknown_case(tmp_path):
    out = tmp_path / "sub" / "echo.png"
    result = runner.invoke(
        app, ["data", "show", "echo-synth", "--case", "test_000", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert out.is_file()
    result = runner.invoke(app, ["data", "show", "echo-synth", "--case", "nope", "--out", str(out)])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: echo-synth: no case 'nope'")


def _table_rows(result):
    return [line for line in result.stdout.splitlines() if line.count("│") >= 3]
