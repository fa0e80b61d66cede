"""Rerunning ``bench train`` with changed settings never reports the old weights' numbers
(issue 16): the default run directory is named by the hash of the training identity, so a
changed profile trains afresh; an explicit ``--out`` holding another training config is refused
(exit 2, one line naming its config.json and the differing keys) before anything is written;
an evaluation-only change just re-evaluates the same weights.

Reproduces the bug first: a copy of smoke.toml that keeps ``name = "smoke"`` but changes
``train.lr`` (and a ``folder`` dataset at another ``--path``)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from benchmarks.cli import app
from benchmarks.profiles import PROFILE_DIR

runner = CliRunner()
SMOKE = (PROFILE_DIR / "smoke.toml").read_text()


def bench(env, *args):
    return runner.invoke(app, [str(a) for a in args], env=env)


def smoke_variant(path: Path, old: str, new: str, extra: str = "") -> Path:
    """smoke.toml with one value changed; the profile is still named "smoke"."""
    assert old in SMOKE, old
    path.write_text(SMOKE.replace(old, new) + extra)
    return path


def files_of(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def weights(checkpoint: Path) -> dict[str, torch.Tensor]:
    return torch.load(checkpoint, weights_only=True)["model"]


def same_weights(a: Path, b: Path) -> bool:
    wa, wb = weights(a), weights(b)
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def run_dirs(env) -> set[Path]:
    # run directories only (bench train also keeps a <dir>.lock file beside each)
    return {p for p in (Path(env["LDSEG_OUT"]) / "train").iterdir() if p.is_dir()}


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("stale")
    return {"LDSEG_OUT": str(root / "out"), "MLFLOW_TRACKING_URI": None, "LDSEG_THREADS": None}


@pytest.fixture(scope="module")
def first(env) -> Path:
    """LDSeg trained on synth2d under the smoke profile into the default run directory."""
    res = bench(env, "train", "ldseg", "-d", "synth2d", "--profile", "smoke")
    assert res.exit_code == 0, res.output
    (run,) = run_dirs(env)
    assert run.name.startswith("ldseg-synth2d-smoke-s0-")
    return run


def test_same_settings_resume_the_same_directory(env, first):
    before = files_of(first)
    res = bench(env, "train", "ldseg", "-d", "synth2d", "--profile", "smoke")
    assert res.exit_code == 0, res.output
    assert run_dirs(env) == {first}
    again = json.loads((first / "metrics.json").read_text())
    old = json.loads(before["metrics.json"])
    assert again["dsc"] == old["dsc"] and again["train_seconds"] == old["train_seconds"]


def test_changed_lr_trains_afresh_in_the_default_directory(env, first, tmp_path):
    before = files_of(first)
    profile = smoke_variant(tmp_path / "smoke.toml", "lr = 2e-3", "lr = 1e-3")
    res = bench(env, "train", "ldseg", "-d", "synth2d", "--profile", profile)
    assert res.exit_code == 0, res.output
    (fresh,) = run_dirs(env) - {first}
    assert fresh.name.startswith("ldseg-synth2d-smoke-s0-")
    assert json.loads((fresh / "config.json").read_text())["train"]["lr"] == 1e-3
    assert not same_weights(fresh / "checkpoint.pt", first / "checkpoint.pt")
    assert files_of(first) == before  # the old run and its record are untouched


def test_changed_lr_into_the_old_directory_is_refused(env, first, tmp_path):
    before = files_of(first)
    profile = smoke_variant(tmp_path / "smoke.toml", "lr = 2e-3", "lr = 1e-3")
    res = bench(env, "train", "ldseg", "-d", "synth2d", "--profile", profile, "--out", first)
    assert res.exit_code == 2, res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)
    assert "Traceback" not in res.output
    (line,) = [ln for ln in res.output.splitlines() if ln.startswith("error:")]
    assert f"{first / 'config.json'}: " in line and "train.lr" in line
    assert "dsc" not in res.output  # no numbers reported
    assert files_of(first) == before  # nothing written, config.json not overwritten


def test_eval_only_change_reevaluates_the_same_weights(env, first, tmp_path):
    run = tmp_path / "copy"
    shutil.copytree(first, run)
    old = json.loads((run / "metrics.json").read_text())
    ckpt = (run / "checkpoint.pt").read_bytes()
    profile = smoke_variant(
        tmp_path / "smoke.toml",
        "[eval]\nnum_inference_steps = 2",
        "[eval]\nnum_inference_steps = 3",
    )
    res = bench(env, "train", "ldseg", "-d", "synth2d", "--profile", profile, "--out", run)
    assert res.exit_code == 0, res.output
    new = json.loads((run / "metrics.json").read_text())
    assert new["num_inference_steps"] == 3 and old["num_inference_steps"] == 2
    assert new["train_seconds"] == old["train_seconds"]  # not retrained
    assert (run / "checkpoint.pt").read_bytes() == ckpt


@pytest.mark.parametrize(
    "damage,phrase",
    [
        (lambda d: (d / "config.json").unlink(), "config.json: missing"),
        (lambda d: (d / "config.json").write_text("{not json"), "config.json: unreadable"),
        (lambda d: (d / "config.json").write_text("[]"), "config.json: unreadable"),
    ],
    ids=["no-config", "bad-json", "not-a-dict"],
)
def test_unverifiable_directory_is_refused(env, first, tmp_path, damage, phrase):
    run = tmp_path / "copy"
    shutil.copytree(first, run)
    damage(run)
    before = files_of(run)
    res = bench(env, "train", "ldseg", "-d", "synth2d", "--profile", "smoke", "--out", run)
    assert res.exit_code == 2, res.output
    assert f"{run}/{phrase}" in res.output
    assert files_of(run) == before


# -- the folder dataset at another --path ------------------------------------------------------
def make_folder(root: Path, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    for sub in ("images", "masks"):
        (root / sub).mkdir(parents=True)
    yy, xx = np.mgrid[:32, :32]
    for i in range(6):
        cy, cx = rng.integers(10, 22, 2)
        mask = ((yy - cy) ** 2 + (xx - cx) ** 2 <= 36).astype(np.uint8)
        image = (mask * 150 + rng.integers(0, 100, (32, 32))).astype(np.uint8)
        Image.fromarray(image).save(root / "images" / f"c{i}.png")
        Image.fromarray(mask * 255).save(root / "masks" / f"c{i}.png")
    return root


@pytest.fixture(scope="module")
def folder_profile(tmp_path_factory) -> Path:
    """smoke (which has a [datasets.folder] table) with a 6-step budget (seconds)."""
    path = tmp_path_factory.mktemp("folder_profile") / "smoke.toml"
    return smoke_variant(path, "steps = 30", "steps = 6")  # smoke has [datasets.folder] (32^2)


def test_folder_at_another_path(env, folder_profile, tmp_path):
    a, b = make_folder(tmp_path / "a", 0), make_folder(tmp_path / "b", 1)
    train = ["train", "ldseg", "-d", "folder", "--profile", folder_profile]
    out = tmp_path / "run"
    res = bench(env, *train, "--path", a, "--out", out)
    assert res.exit_code == 0, res.output
    before = files_of(out)
    res = bench(env, *train, "--path", b, "--out", out)
    assert res.exit_code == 2, res.output
    assert f"{out}/config.json" in res.output and "job.data_path" in res.output
    assert files_of(out) == before
    # default run directories: one per folder
    seen = run_dirs(env)
    for path in (a, b):
        res = bench(env, *train, "--path", path)
        assert res.exit_code == 0, res.output
    fresh = run_dirs(env) - seen
    assert len(fresh) == 2
    paths = {json.loads((d / "config.json").read_text())["job"]["data_path"] for d in fresh}
    assert paths == {str(a), str(b)}
