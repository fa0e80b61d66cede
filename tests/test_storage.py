"""Each training state stored once (issue 13): the job directory keeps the training state, MLflow
gets the inference weights only (EMA applied, no optimiser state), and the sweep states its disk
footprint, bounded here for a smoke sweep."""

from __future__ import annotations

import pytest
import torch

from benchmarks import experiments
from benchmarks.checkpoint import load_checkpoint, save_checkpoint
from benchmarks.experiments import Experiment
from benchmarks.pipeline import JobSpec, load_trained, run_job
from benchmarks.profiles import load_profile
from benchmarks.storage import (
    TRAIN_DIR_TAG,
    TRAINING_ONLY,
    dir_bytes,
    inference_weights,
)

STORE_EXP = Experiment(
    "teststore", "accuracy", "storage test", "none", datasets=("synth2d",), dims=2
)


def test_inference_weights_hold_the_ema_and_no_training_state(tmp_path):
    """The weights file holds what predict uses: with an EMA in the checkpoint, the EMA'd
    denoiser (hand-set: the trained weights + 1), nothing only resuming needs."""
    spec = JobSpec("ldseg", "synth2d", "smoke", seed=0)
    run_job(spec, load_profile("smoke"), tmp_path / "job")
    path = tmp_path / "job" / "checkpoint.pt"
    ckpt = load_checkpoint(path)
    trained, _ = load_trained(path)
    target = trained.ema_target().state_dict()  # LDSeg's EMA target is its denoiser
    ema = {f"module.{k}": v + 1 if v.is_floating_point() else v for k, v in target.items()}
    save_checkpoint(path, {**ckpt, "ema": {**ema, "n_averaged": torch.tensor(30)}})

    method, ckpt = load_trained(path)
    out = inference_weights(method, ckpt, tmp_path / "weights.pt")
    weights = load_checkpoint(out)
    assert not set(TRAINING_ONLY) & set(weights) and weights["ema"] is None
    for k, v in target.items():
        want = v + 1 if v.is_floating_point() else v
        assert torch.equal(weights["model"][f"denoiser.{k}"], want)
    for k, v in trained.state_dict().items():  # the rest of the model as trained
        if not k.startswith("denoiser."):
            assert torch.equal(weights["model"][k], v)
    again, _ = load_trained(out)  # bench predict / evaluate read it like a checkpoint
    assert all(
        torch.equal(a, b)
        for a, b in zip(again.state_dict().values(), weights["model"].values(), strict=True)
    )
    assert out.stat().st_size < 0.5 * path.stat().st_size  # no optimiser state, no 2nd copy


@pytest.fixture
def store_experiment():
    mp = pytest.MonkeyPatch()
    mp.setitem(experiments.EXPERIMENTS, STORE_EXP.name, STORE_EXP)
    yield STORE_EXP.name
    mp.undo()


def test_smoke_sweep_stores_each_training_state_once(tmp_path, store_experiment):
    from benchmarks.runner import RunOptions, run_experiment
    from benchmarks.tracking import Tracker

    opts = RunOptions(
        profile="smoke",
        methods=("resunet",),
        seeds=(0,),
        out_root=str(tmp_path),
        tracking_uri=f"sqlite:///{tmp_path}/mlflow.db",
        settings={"timing_warmup": 0, "timing_repeats": 1, "qualitative_cases": 1},
    )
    res = run_experiment(store_experiment, opts)
    assert res.ok
    client = Tracker(opts.tracking_uri, tmp_path).client
    jobs = 0
    for r in res.results:
        run = client.get_run(r.run_id)
        job = tmp_path / "jobs" / run.data.tags["train_hash"]
        assert run.data.tags[TRAIN_DIR_TAG] == str(job)
        models = {a.path: a.file_size for a in client.list_artifacts(r.run_id, "model")}
        assert list(models) == ["model/weights.pt"]  # never the training checkpoint
        assert models["model/weights.pt"] < 0.5 * (job / "checkpoint.pt").stat().st_size
        jobs += dir_bytes(job)
    disk = client.get_run(res.parent_run_id).data.metrics
    assert set(res.disk) == {"disk_jobs_mb", "disk_artifacts_mb", "disk_total_mb"}
    assert res.disk == pytest.approx({k: disk[k] for k in res.disk})  # what the CLI prints
    mb = 2**20
    assert disk["disk_jobs_mb"] == pytest.approx(jobs / mb)
    # before: the checkpoint in MLflow too (artifacts >= jobs); now the weights (Adam: <= 1/3)
    assert disk["disk_artifacts_mb"] < 0.5 * disk["disk_jobs_mb"]
    assert disk["disk_total_mb"] == pytest.approx(disk["disk_jobs_mb"] + disk["disk_artifacts_mb"])
    assert disk["disk_total_mb"] < 1.5 * disk["disk_jobs_mb"]
    from reports.render import render_report

    out = render_report(
        store_experiment,
        tracking_uri=opts.tracking_uri,
        parent_run_id=res.parent_run_id,
        out_dir=tmp_path / "report",
    )
    assert f"- disk: {res.disk['disk_total_mb']:.1f} MB" in (out / "report.md").read_text()
