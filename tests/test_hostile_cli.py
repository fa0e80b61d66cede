"""Hostile and careless command-line input (issue 16): every case ends in exit code 2 with one
message naming the option or file, no traceback, no sampling/evaluation started, and nothing
written anywhere (the sandbox's file tree is compared before and after).

Crafted files (a trained smoke checkpoint, damaged copies of it, images, a folder, a path under
a regular file) are built by module fixtures inside one sandbox folder, which is also the
working directory and ``$LDSEG_OUT``'s parent.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch
from PIL import Image
from typer.testing import CliRunner

from benchmarks.cli import app
from benchmarks.profiles import PROFILE_DIR

runner = CliRunner()
BIG_SEED = str(2**64 + 1)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("hostile")


@pytest.fixture(scope="module")
def env(sandbox) -> dict:
    return {
        "LDSEG_OUT": str(sandbox / "out"),
        "LDSEG_REPORTS": str(sandbox / "reports"),
        "MLFLOW_TRACKING_URI": None,
        "LDSEG_THREADS": None,
    }


def bench(env, *args):
    return runner.invoke(app, [str(a) for a in args], env=env)


@pytest.fixture(scope="module")
def checkpoint(sandbox, env) -> Path:
    """LDSeg trained once on synth2d under the smoke profile (a few seconds)."""
    run = sandbox / "run"
    res = bench(env, "train", "ldseg", "-d", "synth2d", "--profile", "smoke", "--out", run)
    assert res.exit_code == 0, res.output
    return run / "checkpoint.pt"


def _crafted(src: Path, dst: Path, edit) -> Path:
    ckpt = torch.load(src, weights_only=True)
    edit(ckpt)
    torch.save(ckpt, dst)
    return dst


@pytest.fixture(scope="module")
def files(sandbox, checkpoint) -> dict[str, str]:
    """Every crafted path the cases refer to, by name."""
    d = sandbox / "files"
    d.mkdir()
    grey = (np.random.default_rng(0).random((40, 48)) * 255).astype(np.uint8)
    Image.fromarray(grey).save(d / "in.png")
    tifffile.imwrite(d / "five.tif", np.zeros((5, 32, 32), np.uint8))  # a 3D volume
    (d / "folder").mkdir()
    (d / "plain.txt").write_text("a regular file\n")

    def edit_info(**kv):
        return lambda c: c["dataset_info"].update(kv)

    def edit_eval(**kv):
        return lambda c: c["eval_config"].update(kv)

    crafted = {
        "ck_channels": edit_info(in_channels=3),
        "ck_dims": edit_info(spatial_dims=7),
        "ck_huge": lambda c: c.update(job_size=[100000, 100000]),
        "ck_odd": lambda c: c.update(job_size=[33, 33]),
        "ck_neg_k": edit_eval(num_inference_steps=-3),
        "ck_sampler": edit_eval(sampler="bogus"),
        "ck_batch": edit_eval(batch_size=0),
        "ck_method_cfg": lambda c: c["method_config"].update(latent_channels="two"),
        "ck_no_method": lambda c: c.pop("method_name"),
    }
    out = {
        "ckpt": str(checkpoint),
        "image": str(d / "in.png"),
        "five": str(d / "five.tif"),
        "dir": str(d / "folder"),
        "file": str(d / "plain.txt"),
        "under_file": str(d / "plain.txt" / "mask.png"),
        "under_file_dir": str(d / "plain.txt" / "sub"),
        "missing": str(d / "missing.png"),
        "new": str(d / "new" / "mask.png"),
    }
    for name, edit in crafted.items():
        out[name] = str(_crafted(checkpoint, d / f"{name}.pt", edit))
    return out


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def _text(output: str) -> str:
    """Output with Rich's box drawing removed and whitespace collapsed (for phrase matching)."""
    return re.sub(r"\s+", " ", re.sub(r"[│╭╮╰╯─]", " ", output))


def assert_refused(res, phrases: str | tuple[str, ...]) -> None:
    assert res.exit_code == 2, res.output
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    assert "Traceback" not in res.output
    text = _text(res.output).lower()
    for phrase in (phrases,) if isinstance(phrases, str) else phrases:
        assert phrase.lower() in text, res.output


@pytest.fixture
def no_work(monkeypatch):
    """Fail loudly if a refused command starts sampling or evaluating."""

    def boom(*a, **k):
        raise AssertionError("work started before the arguments were checked")

    monkeypatch.setattr("ldseg.model.LDSeg.segment", boom)
    monkeypatch.setattr("benchmarks.pipeline.evaluate", boom)
    monkeypatch.setattr("benchmarks.train.Trainer.fit", boom)


def predict(ckpt="{ckpt}", image="{image}", out="{new}") -> list[str]:
    return ["predict", "--checkpoint", ckpt, "--input", image, "--out", out]


P = predict()[:5]  # without --out
PO = predict()
E = ["evaluate", "--checkpoint", "{ckpt}"]
T = ["train", "ldseg", "-d", "synth2d", "--profile", "smoke"]

# (id, command, phrase expected in the output)
CASES = [
    # bench predict: output files
    ("predict-out-folder", [*P, "--out", "{dir}"], "is a folder"),
    ("predict-out-no-ext", [*P, "--out", "{dir}/mask"], "unsupported file type"),
    ("predict-out-txt", [*P, "--out", "{dir}/mask.txt"], "unsupported file type"),
    ("predict-out-jpeg", [*P, "--out", "{dir}/mask.jpg"], "unsupported file type"),
    ("predict-out-under-file", [*P, "--out", "{under_file}"], "is a file, not a folder"),
    ("predict-out-proc", [*P, "--out", "/proc/ldseg-hostile-mask.png"], "cannot write in /proc"),
    ("predict-sd-folder", [*PO, "--samples", "2", "--uncertainty", "{dir}"], "is a folder"),
    ("predict-sd-one-sample", [*PO, "--uncertainty", "{dir}/sd.png"], "needs --samples > 1"),
    ("predict-sd-same-file", [*PO, "--samples", "2", "--uncertainty", "{new}"], "same file"),
    ("predict-sd-under-file", [*PO, "--samples", "2", "--uncertainty", "{under_file}"], "a file"),
    # bench predict: sampler settings and device
    ("predict-steps-neg", [*PO, "--steps", "-1"], "Invalid value for '--steps'"),
    ("predict-steps-zero", [*PO, "--steps", "0"], "Invalid value for '--steps'"),
    ("predict-steps-huge", [*PO, "--steps", "100000"], "K must be 1..1000"),
    ("predict-samples-zero", [*PO, "--samples", "0"], "Invalid value for '--samples'"),
    ("predict-samples-neg", [*PO, "--samples", "-1"], "Invalid value for '--samples'"),
    ("predict-sampler-bogus", [*PO, "--sampler", "bogus"], "is not one of 'ddim', 'ddpm'"),
    ("predict-device-bogus", [*PO, "--device", "bogus"], "Invalid value for '--device'"),
    ("predict-seed-neg", [*PO, "--seed", "-1"], "Invalid value for '--seed'"),
    ("predict-seed-big", [*PO, "--seed", BIG_SEED], "Invalid value for '--seed'"),
    # bench predict: inputs and inconsistent checkpoints (named in the message)
    ("predict-input-3d", predict(image="{five}"), "3D image, but the checkpoint's model is 2D"),
    ("predict-input-folder", predict(image="{dir}"), "folder"),
    ("predict-input-missing", predict(image="{missing}"), "missing.png"),
    ("ck-channels", predict("{ck_channels}"), ("ck_channels.pt", "in_channels")),
    ("ck-dims", predict("{ck_dims}"), ("ck_dims.pt", "spatial_dims")),
    ("ck-huge-size", predict("{ck_huge}"), "ck_huge.pt: stored image size"),
    ("ck-odd-size", predict("{ck_odd}"), ("ck_odd.pt", "not divisible")),
    ("ck-negative-k", predict("{ck_neg_k}"), ("ck_neg_k.pt", "num_inference_steps")),
    ("ck-sampler", predict("{ck_sampler}"), ("ck_sampler.pt", "bogus")),
    ("ck-method-config", predict("{ck_method_cfg}"), "ck_method"),
    ("ck-no-method", predict("{ck_no_method}"), "ck_no_method.pt"),
    ("ck-is-folder", predict("{dir}"), "no such checkpoint"),
    # bench evaluate
    ("eval-csv-folder", [*E, "--csv", "{dir}"], "is a folder"),
    ("eval-csv-txt", [*E, "--csv", "{dir}/cases.txt"], "unsupported file type"),
    ("eval-csv-under-file", [*E, "--csv", "{file}/cases.csv"], "is a file, not a folder"),
    ("eval-steps-zero", [*E, "--steps", "0"], "Invalid value for '--steps'"),
    ("eval-steps-neg", [*E, "--steps", "-1"], "Invalid value for '--steps'"),
    ("eval-steps-huge", [*E, "--steps", "100000"], "K must be 1..1000"),
    ("eval-samples-zero", [*E, "--samples", "0"], "Invalid value for '--samples'"),
    ("eval-seed-neg", [*E, "--seed", "-1"], "Invalid value for '--seed'"),
    ("eval-seed-big", [*E, "--seed", BIG_SEED], "Invalid value for '--seed'"),
    ("eval-sampler-bogus", [*E, "--sampler", "bogus"], "Invalid value for '--sampler'"),
    ("eval-device-bogus", [*E, "--device", "bogus"], "Invalid value for '--device'"),
    ("eval-ck-batch", ["evaluate", "--checkpoint", "{ck_batch}"], ("ck_batch.pt", "batch_size")),
    # bench train (nothing may be created, not even $LDSEG_OUT)
    ("train-seed-neg", [*T, "--seed", "-1"], "Invalid value for '--seed'"),
    ("train-seed-2**32", [*T, "--seed", str(2**32)], "Invalid value for '--seed'"),
    ("train-seed-big", [*T, "--seed", BIG_SEED], "Invalid value for '--seed'"),
    ("train-device-bogus", [*T, "--device", "bogus"], "Invalid value for '--device'"),
    ("train-steps-neg", [*T, "--steps", "-1"], "Invalid value for '--steps'"),
    ("train-steps-zero", [*T, "--steps", "0"], "Invalid value for '--steps'"),
    ("train-steps-huge", [*T, "--steps", "5000"], "K must be 1..1000"),
    ("train-out-file", [*T, "--out", "{file}"], "is a file, not a folder"),
    ("train-out-under-file", [*T, "--out", "{under_file_dir}"], "is a file, not a folder"),
    ("train-unknown-method", ["train", "foo", "-d", "synth2d", "--profile", "smoke"], "'foo'"),
    ("train-unknown-dataset", ["train", "ldseg", "-d", "nosuch", "--profile", "smoke"], "nosuch"),
    # bench report / ui
    ("report-out-file", ["report", "table2", "--out", "{file}"], "is a file, not a folder"),
    ("report-profile-quote", ["report", "table2", "--profile", "a'b"], "has no quotes"),
    ("ui-port-big", ["ui", "--port", "99999"], "Invalid value for '--port'"),
    ("ui-port-zero", ["ui", "--port", "0"], "Invalid value for '--port'"),
]


@pytest.mark.parametrize("case_id,command,phrase", CASES, ids=[c[0] for c in CASES])
def test_refused(case_id, command, phrase, files, sandbox, env, no_work, monkeypatch):
    monkeypatch.chdir(sandbox)
    before = _tree(sandbox)
    res = bench(env, *[a.format(**files) for a in command])
    assert_refused(res, phrase)
    assert _tree(sandbox) == before, "a refused command wrote files"


@pytest.mark.parametrize("command", ["predict", "evaluate", "train"])
def test_cuda_without_gpu(command, files, sandbox, env, no_work, monkeypatch):
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    args = {"predict": PO, "evaluate": E, "train": T}[command]
    before = _tree(sandbox)
    res = bench(env, *[a.format(**files) for a in args], "--device", "cuda")
    assert_refused(res, "CUDA is not available on this machine")
    assert _tree(sandbox) == before


def test_unwritable_folder(files, sandbox, env, no_work, tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root writes through chmod 0o500; /proc and under-a-file cases cover it")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        res = bench(env, *[a.format(**files) for a in P], "--out", locked / "mask.png")
        assert_refused(res, "cannot write in")
        assert not any(locked.iterdir())
    finally:
        locked.chmod(0o700)


def test_report_unknown_run_id(sandbox, env, monkeypatch):
    """``--run-id`` of a run that does not exist. Creating a real sqlite store costs ~10 s, so
    the store is a stand-in raising what MLflow's sqlite store raises for an unknown id
    (``RESOURCE_DOES_NOT_EXIST``, "Run with id=deadbeef not found"; checked by hand)."""
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import RESOURCE_DOES_NOT_EXIST

    class Store:
        uri = "sqlite:///stand-in.db"

        def __init__(self, *args, **kwargs):
            self.client = self

        def experiment_id(self, name, create=True):
            return "1"

        def get_run(self, run_id):
            raise MlflowException(
                f"Run with id={run_id} not found", error_code=RESOURCE_DOES_NOT_EXIST
            )

    monkeypatch.setattr("reports.load.Tracker", Store)
    before = _tree(sandbox)
    res = bench(env, "report", "table2", "--run-id", "deadbeef")
    assert_refused(res, "--run-id deadbeef: no such run")
    assert _tree(sandbox) == before


def test_valid_outputs_still_work(files, sandbox, env):
    """The checks do not refuse what is fine: a new folder, NIfTI, TIFF, an SD map."""
    out = sandbox / "ok" / "sub" / "mask.nii.gz"
    sd = sandbox / "ok" / "sd.tif"
    res = bench(env, *[a.format(**files) for a in P], "--out", out, "--samples", "2",
                "--uncertainty", sd, "--sampler", "ddpm", "--steps", "3")  # fmt: skip
    assert res.exit_code == 0, res.output
    info = json.loads(res.output[res.output.index("{") :].replace("\n", ""))
    assert info["sampler"] == "ddpm" and info["steps"] == 3 and info["samples"] == 2
    assert out.is_file() and sd.is_file()


def test_evaluate_reproduces_run_metrics(tmp_path):
    """``bench evaluate`` scores the run's own test split (the profile's ``limit`` and
    ``val_fraction`` are stored in the checkpoint), so it reproduces metrics.json exactly."""
    from benchmarks.data import open_source

    env = {"LDSEG_OUT": str(tmp_path / "out"), "MLFLOW_TRACKING_URI": None}
    smoke = (PROFILE_DIR / "smoke.toml").read_text()
    assert "steps = 30" in smoke and "limit = 16" in smoke
    profile = tmp_path / "smoke.toml"  # smoke (echo-synth limit = 16) with 6 training steps
    profile.write_text(smoke.replace("steps = 30", "steps = 6"))
    run = tmp_path / "run"
    res = bench(env, "train", "ldseg", "-d", "echo-synth", "--profile", profile, "--out", run)
    assert res.exit_code == 0, res.output
    metrics = json.loads((run / "metrics.json").read_text())
    n_test = sum(c.split == "test" for c in open_source("echo-synth").cases())
    assert metrics["n_cases"] < n_test  # smoke's limit matters: the test can fail
    res = bench(env, "evaluate", "--checkpoint", run / "checkpoint.pt", "--csv", run / "e.csv")
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output[res.output.index("{") :].replace("\n", ""))
    assert summary["n_cases"] == metrics["n_cases"]
    assert summary["dsc"] == metrics["dsc"]
