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
def store(tmp_path_factory):
    """A temporary MLflow store (and $LDSEG_OUT) for every `bench train` of this module, created
    here: a fresh sqlite store's migrations are a one-time cost outside the smoke promise."""
    from benchmarks.tracking import Tracker

    root = tmp_path_factory.mktemp("store")
    uri = f"sqlite:///{root}/mlflow.db"
    Tracker(uri, root / "out").experiment_id("train")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LDSEG_OUT", str(root / "out"))
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        yield uri


@pytest.fixture(scope="module")
def trained(tmp_path_factory, store):
    out = tmp_path_factory.mktemp("run")
    args = ["train", "ldseg", "--dataset", "synth2d", "--profile", "smoke", "--out", str(out)]
    t0 = time.perf_counter()
    res = runner.invoke(app, [*args, "--tracking-uri", store])
    assert res.exit_code == 0, res.output
    return out, time.perf_counter() - t0, res.output


def test_train_writes_metrics_and_checkpoint(trained, store):
    out, seconds, _ = trained
    metrics = json.loads((out / "metrics.json").read_text())
    for key in ("dsc", "iou", "dsc_shape", "iou_shape", "num_inference_steps", "train_seconds"):
        assert key in metrics
    assert metrics["num_inference_steps"] == 2 and metrics["train_steps"] == 30
    assert 0.0 <= metrics["dsc"] <= 1.0
    assert (out / "checkpoint.pt").is_file() and (out / "per_case.csv").is_file()
    # rerunning the same directory resumes: nothing left to train, same metrics
    res = runner.invoke(
        app,
        ["train", "ldseg", "-d", "synth2d", "--profile", "smoke", "--out", str(out)]
        + ["--tracking-uri", store],
    )
    assert res.exit_code == 0, res.output
    again = json.loads((out / "metrics.json").read_text())
    assert again["dsc"] == metrics["dsc"] and again["train_seconds"] == metrics["train_seconds"]


def test_predict_and_uncertainty(trained, tmp_path):
    out, train_seconds, _ = trained
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
    out, _, _ = trained
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


def test_train_holds_the_run_directory_lock_while_it_works(tmp_path, monkeypatch, store):
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
    res = runner.invoke(app, [*args, "--tracking-uri", store])
    assert res.exit_code == 0, res.output
    assert seen == {"held": True}
    FileLock(str(tmp_path / "run.lock"), is_singleton=False).acquire(timeout=0)  # released


def test_train_logs_one_mlflow_run_with_step_curves(trained, store):
    """`bench train` logs one FINISHED run in the experiment `train` (model-training view): the
    flattened config as params, one train/loss (and LR, gradient norm) point per step, the test
    metrics of metrics.json, the job's tags; the run id is printed and kept in the run
    directory, and the rerun of test_train_writes_metrics_and_checkpoint continued that run."""
    from mlflow import MlflowClient

    from benchmarks.tracking import EXPERIMENT_KIND, EXPERIMENT_KIND_TAG

    out, _, output = trained
    run_id = json.loads((out / "mlflow_run.json").read_text())["run_id"]
    assert run_id in output and "bench ui" in output
    client = MlflowClient(store)
    run = client.get_run(run_id)
    exp = client.get_experiment(run.info.experiment_id)
    assert exp.name == "train" and exp.tags[EXPERIMENT_KIND_TAG] == EXPERIMENT_KIND
    assert run.info.status == "FINISHED"
    mine = client.search_runs([exp.experiment_id], f"tags.run_dir = '{out.resolve()}'")
    assert [r.info.run_id for r in mine] == [run_id]  # the rerun continued it
    for key in ("train/loss", "train/lr", "train/grad_norm", "train/images_per_s"):
        steps = sorted(m.step for m in client.get_metric_history(run_id, key))
        assert steps == list(range(1, 31)), key  # smoke: 30 steps, one point each, step=
    params, tags = run.data.params, run.data.tags
    assert params["train.steps"] == "30" and params["job.method"] == "ldseg"
    assert params["eval.num_inference_steps"] == "2"
    metrics = json.loads((out / "metrics.json").read_text())
    assert run.data.metrics["dsc"] == pytest.approx(metrics["dsc"])
    assert (tags["method"], tags["dataset"], tags["seed"], tags["profile"]) == (
        "ldseg", "synth2d", "0", "smoke"
    )  # fmt: skip
    assert tags["run_dir"] == str(out.resolve()) and len(tags["train_hash"]) > 8
    assert {a.path for a in client.list_artifacts(run_id)} >= {"metrics.json", "per_case.csv"}


def _sigterm(message):
    """What `timeout` or a closed terminal does to a running `bench train`."""
    import os
    import signal

    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(10)  # delivered at the next bytecode; never reached
    return AssertionError("SIGTERM was not delivered")


@pytest.mark.parametrize(
    "raised,status,code,error",
    [
        (KeyboardInterrupt, "KILLED", 130, "boom"),  # Ctrl+C
        (_sigterm, "KILLED", 143, "SIGTERM"),
        (RuntimeError, "FAILED", 1, "boom"),
    ],
)
def test_train_run_ends_killed_or_failed(raised, status, code, error, tmp_path, monkeypatch, store):
    """An interrupted `bench train` (Ctrl+C, SIGTERM) ends its run KILLED (exit 130 / 143), a
    crash FAILED with the error (the exception propagates as before)."""
    from mlflow import MlflowClient

    import benchmarks.pipeline as pipeline

    def broken(*args, **kwargs):
        raise raised("boom")

    monkeypatch.setattr(pipeline, "run_job", broken)
    out = tmp_path / "run"
    out.mkdir()
    args = ["train", "unet", "-d", "synth2d", "--profile", "smoke", "--out", str(out)]
    res = runner.invoke(app, [*args, "--tracking-uri", store])
    assert res.exit_code == code, res.output
    client = MlflowClient(store)
    exp = client.get_experiment_by_name("train")
    (run,) = client.search_runs([exp.experiment_id], f"tags.run_dir = '{out.resolve()}'")
    assert run.info.status == status
    assert error in run.data.tags["error"]
