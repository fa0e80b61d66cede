"""The runner against a temporary MLflow store: nested runs, logged params/metrics/artifacts/tags,
the config-hash cache, --force, failing children, shared train jobs reused by steps /
robustness / uncertainty, and the timing children. Tiny fake methods on ``synth2d``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from benchmarks import experiments, methods
from benchmarks.experiments import Experiment
from benchmarks.runner import RunOptions, run_experiment
from benchmarks.tracking import ROLE_TAG, Tracker
from ldseg.model import Segmentation


@dataclass(frozen=True)
class TinyConfig:
    spatial_dims: int = 2
    in_channels: int = 1
    num_classes: int = 2


class Tiny(nn.Module):
    """A 1x1 conv; 'sampling' adds noise that shrinks with K so the steps sweep has a trend."""

    samples = True

    def __init__(self, cfg: TinyConfig) -> None:
        super().__init__()
        conv = nn.Conv2d if cfg.spatial_dims == 2 else nn.Conv3d
        self.conv = conv(cfg.in_channels, cfg.num_classes, 1)

    def loss(self, batch, generator=None):
        ce = F.cross_entropy(self.conv(batch["image"]), batch["label"][:, 0])
        return {"loss": ce, "ce": ce.detach()}

    def predict(
        self, images, *, num_inference_steps=None, sampler=None, num_samples=1, generator=None
    ):
        logits = self.conv(images)
        k = num_inference_steps or 1
        reps = []
        for _ in range(num_samples):
            noise = torch.randn(logits.shape, generator=generator).to(logits)
            reps.append(torch.softmax(logits + noise / k, dim=1))
        return Segmentation.from_samples(torch.stack(reps, dim=1))

    def ema_target(self):
        return self


class Broken(Tiny):
    def loss(self, batch, generator=None):
        raise RuntimeError("this method is broken on purpose")


TEST_EXP = Experiment(
    "testacc", "accuracy", "test accuracy table", "none", datasets=("synth2d",), dims=2
)


@pytest.fixture(scope="module")
def fakes():
    """Register the fake methods and a synth2d accuracy experiment for this module only."""
    mp = pytest.MonkeyPatch()
    methods.registry()  # load the real ones first
    for name, cls in (("tiny", Tiny), ("broken", Broken)):
        mp.setitem(
            methods._REGISTRY,
            name,
            methods.MethodSpec(
                name, "test fake", (2, 3), True, TinyConfig, lambda cfg, info, c=cls: c(cfg)
            ),
        )
    mp.setitem(experiments.EXPERIMENTS, "testacc", TEST_EXP)
    yield
    mp.undo()


@pytest.fixture(scope="module")
def store(tmp_path_factory, fakes):
    root = tmp_path_factory.mktemp("runner")
    return {"out_root": str(root), "tracking_uri": f"sqlite:///{root}/mlflow.db"}


def opts(store, **kw) -> RunOptions:
    return RunOptions(
        profile="smoke", out_root=store["out_root"], tracking_uri=store["tracking_uri"], **kw
    )


@pytest.fixture(scope="module")
def first_sweep(store):
    return run_experiment("testacc", opts(store, methods=("tiny", "broken")))


def test_failing_child_is_marked_and_the_sweep_goes_on(first_sweep, store):
    by = {r.child.method: r for r in first_sweep.results}
    assert by["tiny"].status == "FINISHED"
    assert by["broken"].status == "FAILED" and "broken on purpose" in by["broken"].error
    assert not first_sweep.ok
    client = Tracker(store["tracking_uri"], store["out_root"]).client
    run = client.get_run(by["broken"].run_id)
    assert run.info.status == "FAILED"
    assert "broken on purpose" in run.data.tags["error"]
    assert run.data.tags["error_type"] == "RuntimeError"
    assert client.get_run(first_sweep.parent_run_id).info.status == "FAILED"


def test_child_logs_config_metrics_artifacts_and_environment(first_sweep, store):
    tracker = Tracker(store["tracking_uri"], store["out_root"])
    tiny = next(r for r in first_sweep.results if r.child.method == "tiny")
    run = tracker.client.get_run(tiny.run_id)
    tags, params, metrics = run.data.tags, run.data.params, run.data.metrics
    assert tags["mlflow.parentRunId"] == first_sweep.parent_run_id
    assert tags[ROLE_TAG] == "child" and tags["config_hash"] == tiny.config_hash
    for key in ("git_sha", "env.torch", "env.mlflow", "device", "profile", "train_hash"):
        assert tags[key], key
    assert params["method.num_classes"] == "2" and params["train.steps"] == "30"
    assert params["dataset.name"] == "synth2d" and "job.data_root" in params
    assert 0 <= metrics["dsc"] <= 1 and metrics["n_cases"] > 0
    names = {a.path for a in tracker.client.list_artifacts(tiny.run_id)}
    assert {
        "per_case.csv",
        "metrics.json",
        "config.json",
        "qualitative.npz",
        "model",
        "figures",
    } <= names
    sweep = tracker.load_json(first_sweep.parent_run_id, "sweep.json")
    assert {c["method"] for c in sweep["children"]} == {"tiny", "broken"}


def test_rerun_is_cached_and_force_redoes(first_sweep, store):
    client = Tracker(store["tracking_uri"], store["out_root"]).client
    # as if the sweep had first been run at another commit: a rerun re-tags the parent
    client.set_tag(first_sweep.parent_run_id, "git_sha", "0ld5ha")
    again = run_experiment("testacc", opts(store, methods=("tiny", "broken")))
    assert client.get_run(again.parent_run_id).data.tags["git_sha"] != "0ld5ha"
    by = {r.child.method: r for r in again.results}
    assert by["tiny"].status == "CACHED" and by["tiny"].run_id == next(
        r.run_id for r in first_sweep.results if r.child.method == "tiny"
    )
    assert by["broken"].status == "FAILED"  # failures are never cached
    assert again.parent_run_id == first_sweep.parent_run_id  # same sweep, same parent
    forced = run_experiment("testacc", opts(store, methods=("tiny",), force=True))
    assert forced.results[0].status == "FINISHED"
    assert forced.results[0].run_id != by["tiny"].run_id
    assert forced.ok


def test_trained_models_are_shared_by_steps_robustness_and_uncertainty(first_sweep, store):
    jobs = Path(store["out_root"]) / "jobs"
    before = {
        p.name: (p / "checkpoint.pt").stat().st_mtime
        for p in jobs.iterdir()
        if (p / "checkpoint.pt").exists()
    }
    steps = run_experiment(
        "steps",
        opts(
            store,
            methods=("tiny",),
            settings={
                "steps_compare_dataset": "synth2d",
                "steps_compare_methods": ("tiny",),
                "steps": (1, 4),
            },
        ),
    )
    assert steps.ok and len(steps.results) == 2
    rob = run_experiment(
        "robustness",
        opts(
            store,
            methods=("tiny",),
            settings={
                "robustness_datasets": ("synth2d",),
                "robustness_methods": ("tiny",),
                "robustness_sigmas": (0.3,),
            },
        ),
    )
    assert rob.ok and len(rob.results) == 2  # sigma 0 and 0.3
    after = {
        p.name: (p / "checkpoint.pt").stat().st_mtime
        for p in jobs.iterdir()
        if (p / "checkpoint.pt").exists()
    }
    assert after == {k: v for k, v in before.items() if k in after}  # nothing retrained
    assert set(after) == set(before)  # and no new train job
    tracker = Tracker(store["tracking_uri"], store["out_root"])
    hashes = {
        tracker.client.get_run(r.run_id).data.tags["train_hash"]
        for r in steps.results + rob.results
    }
    assert hashes <= set(before) and len(hashes) == 1
    dsc = {
        r.child.settings["sigma"]: tracker.client.get_run(r.run_id).data.metrics["dsc"]
        for r in rob.results
    }
    assert set(dsc) == {0.0, 0.3}


def test_uncertainty_and_timing_children(first_sweep, store):
    unc = run_experiment(
        "uncertainty",
        opts(
            store,
            settings={
                "uncertainty_datasets": ("synth2d",),
                "uncertainty_samples": 3,
                "uncertainty_cases": 2,
            },
        ),
    )
    assert unc.ok, [r.error for r in unc.failed]
    tracker = Tracker(store["tracking_uri"], store["out_root"])
    m = tracker.client.get_run(unc.results[0].run_id).data.metrics
    assert 0 <= m["auroc"] <= 1 or m["auroc"] != m["auroc"]
    assert m["num_samples"] == 3
    names = {a.path for a in tracker.client.list_artifacts(unc.results[0].run_id)}
    assert "uncertainty_maps.npz" in names

    rt = run_experiment(
        "runtime",
        opts(
            store,
            methods=("tiny",),
            settings={
                "runtime_methods": ("tiny",),
                "runtime_dataset": "synth2d",
                "runtime_sizes": (16, 32),
                "runtime_steps": 2,
                "timing_repeats": 2,
                "timing_warmup": 1,
            },
        ),
    )
    assert rt.ok and len(rt.results) == 2
    run = tracker.client.get_run(rt.results[0].run_id)
    assert run.data.tags["weights"] == "untrained"
    assert run.data.metrics["median_s"] > 0 and run.data.metrics["repeats"] == 2
    timing = json.loads(
        (
            tracker.download(rt.results[0].run_id, "timing.json", store["out_root"] + "/dl")
        ).read_text()
    )
    assert len(timing["times_s"]) == 2


def test_torch_threads_are_restored(store):
    n = torch.get_num_threads()
    run_experiment("testacc", opts(store, methods=("tiny",)))
    assert torch.get_num_threads() == n


def test_interrupted_train_job_resumes_from_its_checkpoint(store, caplog):
    """A train job stopped half-way (as by Ctrl+C) is finished, not restarted, by the sweep."""
    import logging

    from benchmarks.pipeline import JobSpec, run_job
    from benchmarks.profiles import load_profile
    from benchmarks.trained import ensure_trained, train_hash

    prof = load_profile("smoke")
    spec = JobSpec("tiny", "synth2d", "smoke", seed=7)
    job_dir = Path(store["out_root"]) / "jobs" / train_hash(spec, prof)
    half = run_job(spec, prof, job_dir, stop_after=10)
    assert half == {"finished": False, "step": 10}
    with caplog.at_level(logging.INFO, logger="benchmarks.train"):
        job = ensure_trained(spec, prof, Path(store["out_root"]))
    assert job.dir == job_dir and job.metrics["finished"]
    assert "resumed from" in caplog.text and "at step 10" in caplog.text


class Interrupted(Tiny):
    def loss(self, batch, generator=None):
        raise KeyboardInterrupt


def test_ctrl_c_marks_the_child_and_the_sweep_killed(store):
    mp = pytest.MonkeyPatch()
    mp.setitem(
        methods._REGISTRY,
        "interrupted",
        methods.MethodSpec(
            "interrupted", "test fake", (2,), True, TinyConfig, lambda cfg, info: Interrupted(cfg)
        ),
    )
    try:
        with pytest.raises(KeyboardInterrupt):
            run_experiment("testacc", opts(store, methods=("interrupted",)))
    finally:
        mp.undo()
    tracker = Tracker(store["tracking_uri"], store["out_root"])
    exp = tracker.experiment_id("testacc")
    killed = tracker.search(exp, "attributes.status = 'KILLED'")
    roles = {r.data.tags[ROLE_TAG] for r in killed}
    assert roles == {"child", "sweep"}


def test_cluster_path_reports_a_missing_child_with_its_config_hash(tmp_path):
    """--cached-only through an executor that ships children elsewhere (Ray): a child not in
    the store is MISSING with the same config hash the local path reports, a stored one is
    CACHED with its run, and without --cached-only an uncached child is sent (None)."""
    import dataclasses
    from types import SimpleNamespace

    from benchmarks.kinds import get_kind, plan
    from benchmarks.profiles import load_profile
    from benchmarks.runner import ChildContext, SweepWork, _before_dispatch, child_hash

    profile = load_profile("smoke")
    settings = experiments.settings_for(profile)
    child = next(c for c in plan("table2", settings, ("unet",), (0,)).children)
    kind = get_kind(child.kind)
    work = SweepWork(
        profile, kind.view(settings), tmp_path, "cpu", None, False, True, "", "", "", {}
    )
    ctx = ChildContext(profile, work.settings, tmp_path, tmp_path, "cpu", None)
    h = child_hash(child, kind.describe(child, ctx), "cpu")
    assert len(h) == 16

    missing = _before_dispatch(work, child, {})
    assert (missing.status, missing.config_hash, missing.run_id) == ("MISSING", h, None)

    stored = {h: SimpleNamespace(info=SimpleNamespace(run_id="r1"))}
    cached = _before_dispatch(work, child, stored)
    assert (cached.status, cached.config_hash, cached.run_id) == ("CACHED", h, "r1")

    work = dataclasses.replace(work, cached_only=False)
    assert _before_dispatch(work, child, {}) is None
    assert _before_dispatch(work, child, {"0" * 16: stored[h]}) is None
