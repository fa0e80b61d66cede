"""Code versions are part of a training job's identity: a code change that alters what a config
trains (and bumps its version) never reuses weights trained before it."""

import json

import pytest

from benchmarks import versions
from benchmarks.errors import ConfigError
from benchmarks.pipeline import JobSpec, check_resume, job_configs
from benchmarks.profiles import load_profile
from benchmarks.trained import resolved_config, train_hash, train_identity

SPEC = JobSpec("unet", "synth2d", "smoke")


def test_identity_records_the_code_versions():
    prof = load_profile("smoke")
    ident = train_identity(resolved_config(SPEC, prof))
    assert ident["code"] == {**versions.CODE_VERSIONS, "method": 1}


def test_bumping_a_version_changes_the_hash(monkeypatch):
    prof = load_profile("smoke")
    before = train_hash(SPEC, prof)
    monkeypatch.setattr(versions, "CODE_VERSIONS", {"data": versions.CODE_VERSIONS["data"] + 1})
    assert train_hash(SPEC, prof) != before


def test_a_config_from_before_versions_reads_as_legacy():
    cfg = resolved_config(SPEC, load_profile("smoke"))
    cfg.pop("code")
    assert train_identity(cfg)["code"] == versions.LEGACY


def test_a_run_directory_trained_by_older_code_is_not_resumed(tmp_path):
    prof = load_profile("smoke")
    cfgs = job_configs(SPEC, prof)
    old = dict(cfgs)
    old.pop("code")  # written by code before the labels were resized at pixel centres
    (tmp_path / "config.json").write_text(json.dumps(old, default=str))
    with pytest.raises(ConfigError, match="code.data"):
        check_resume(tmp_path, cfgs)
    (tmp_path / "config.json").write_text(json.dumps(cfgs, default=str))
    check_resume(tmp_path, cfgs)  # the same code and config: resumed


def test_a_method_version_enters_only_its_own_jobs():
    prof = load_profile("smoke")
    ablation = resolved_config(JobSpec("ldseg-ld", "synth2d", "smoke"), prof)
    assert train_identity(ablation)["code"]["method"] == 2  # the ablation fixes of issue 10
    assert train_identity(resolved_config(SPEC, prof))["code"]["method"] == 1


def test_sampler_settings_do_not_enter_the_training_identity():
    prof = load_profile("smoke")
    spec = JobSpec("ldseg", "synth2d", "smoke")
    cfg = resolved_config(spec, prof)
    other = json.loads(json.dumps(cfg))
    other["method"]["sampler"]["num_inference_steps"] = 7
    other["method"]["sampler"]["renormalize"] = "batch"
    assert train_identity(other) == train_identity(cfg)
    other["method"]["latent_channels"] += 1
    assert train_identity(other) != train_identity(cfg)


def test_a_new_key_at_its_neutral_value_keeps_the_identity(monkeypatch):
    prof = load_profile("smoke")
    cfg = resolved_config(JobSpec("ldseg", "synth2d", "smoke"), prof)
    before = train_identity(cfg)
    neutral = {**versions.NEUTRAL_ADDED, ("method", "label_encoder", "pool"): "conv"}
    monkeypatch.setattr(versions, "NEUTRAL_ADDED", neutral)
    added = json.loads(json.dumps(cfg))
    added["method"]["label_encoder"]["pool"] = "conv"
    assert train_identity(added) == before  # the cached job is still found
    added["method"]["label_encoder"]["pool"] = "max"
    assert train_identity(added) != before  # the switch set: retrained
