"""`bench train` / `bench predict` / `bench evaluate` end to end on the smoke profile."""

import json
import time

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from benchmarks.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    t0 = time.perf_counter()
    res = runner.invoke(
        app, ["train", "ldseg", "--dataset", "synth2d", "--profile", "smoke", "--out", str(out)]
    )
    assert res.exit_code == 0, res.output
    return out, time.perf_counter() - t0


def test_train_writes_metrics_and_checkpoint(trained):
    out, seconds = trained
    metrics = json.loads((out / "metrics.json").read_text())
    for key in ("dsc", "iou", "dsc_shape", "iou_shape", "num_inference_steps", "train_seconds"):
        assert key in metrics
    assert metrics["num_inference_steps"] == 2 and metrics["train_steps"] == 30
    assert 0.0 <= metrics["dsc"] <= 1.0
    assert (out / "checkpoint.pt").is_file() and (out / "per_case.csv").is_file()
    # rerunning the same directory resumes: nothing left to train, same metrics
    res = runner.invoke(
        app, ["train", "ldseg", "--dataset", "synth2d", "--profile", "smoke", "--out", str(out)]
    )
    assert res.exit_code == 0, res.output
    again = json.loads((out / "metrics.json").read_text())
    assert again["dsc"] == metrics["dsc"] and again["train_seconds"] == metrics["train_seconds"]


def test_predict_and_uncertainty(trained, tmp_path):
    out, train_seconds = trained
    img = (np.random.default_rng(0).random((40, 48)) * 255).astype(np.uint8)
    Image.fromarray(img).save(tmp_path / "in.png")
    t0 = time.perf_counter()
    res = runner.invoke(
        app,
        [
            "predict",
            "--checkpoint",
            str(out / "checkpoint.pt"),
            "--input",
            str(tmp_path / "in.png"),
            "--out",
            str(tmp_path / "mask.png"),
            "--steps",
            "3",
            "--samples",
            "4",
            "--uncertainty",
            str(tmp_path / "sd.png"),
        ],
    )
    assert res.exit_code == 0, res.output
    assert train_seconds + time.perf_counter() - t0 < 60  # the smoke profile's promise
    mask = np.asarray(Image.open(tmp_path / "mask.png"))
    assert mask.shape == (40, 48) and set(np.unique(mask)) <= {0, 255}
    assert (tmp_path / "sd.png").is_file()


def test_evaluate_any_steps_without_retraining(trained):
    out, _ = trained
    res = runner.invoke(
        app,
        [
            "evaluate",
            "--checkpoint",
            str(out / "checkpoint.pt"),
            "--steps",
            "5",
            "--sampler",
            "ddpm",
        ],
    )
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output[res.output.index("{") :].replace("\n", ""))
    assert summary["num_inference_steps"] == 5 and summary["sampler"] == "ddpm"


def test_foreign_checkpoint_is_one_line_exit_2(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"\x00" * 64)
    res = runner.invoke(
        app,
        [
            "predict",
            "--checkpoint",
            str(bad),
            "--input",
            str(bad),
            "--out",
            str(tmp_path / "m.png"),
        ],
    )
    assert res.exit_code == 2
    assert "Traceback" not in res.output
    assert "bad.pt" in res.output


def test_unknown_method_lists_valid_names(tmp_path):
    res = runner.invoke(
        app,
        [
            "train",
            "ldsge",
            "--dataset",
            "synth2d",
            "--profile",
            "smoke",
            "--out",
            str(tmp_path / "x"),
        ],
    )
    assert res.exit_code == 2
    assert "unknown method 'ldsge'" in res.output and "resunet" in res.output


def test_methods_lists_every_method():
    res = runner.invoke(app, ["methods"])
    assert res.exit_code == 0
    for name in ("ldseg", "unet", "nnunet", "medsegdiff", "sdfddpm", "ldseg-ld-id"):
        assert name in res.output


def test_train_holds_the_run_directory_lock_while_it_works(tmp_path, monkeypatch):
    """`bench train --out DIR` holds DIR.lock for the whole job, so a second `bench train` into
    DIR (another process) waits for it instead of writing the same checkpoint."""
    from filelock import FileLock, Timeout

    import benchmarks.pipeline as pipeline

    out = tmp_path / "run"
    seen = {}
    real = pipeline.run_job

    def probing_run_job(*args, **kwargs):
        try:  # what a second process would do: its own lock object on the same file
            FileLock(str(tmp_path / "run.lock"), is_singleton=False).acquire(timeout=0)
            seen["held"] = False
        except Timeout:
            seen["held"] = True
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline, "run_job", probing_run_job)
    args = ["train", "unet", "--dataset", "synth2d", "--profile", "smoke", "--out", str(out)]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert seen == {"held": True}
    FileLock(str(tmp_path / "run.lock"), is_singleton=False).acquire(timeout=0)  # released
