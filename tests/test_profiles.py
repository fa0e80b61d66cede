"""Profiles are data: every shipped profile loads, every key is checked, layering is right."""

import pytest

from benchmarks.errors import ConfigError
from benchmarks.methods import registry
from benchmarks.pipeline import JobSpec, job_configs
from benchmarks.profiles import available, load_profile


@pytest.mark.parametrize("name", ["smoke", "quick", "paper", "reference"])
def test_shipped_profiles_resolve_for_every_method(name):
    prof = load_profile(name)
    assert name in available()
    for method, spec in registry().items():
        dataset = "glas" if 2 in spec.dims else "knee3d"
        cfgs = job_configs(JobSpec(method, dataset, name), prof)
        assert cfgs["train"]["steps"] > 0
        assert cfgs["method"]["spatial_dims"] == 2


def test_layering_dataset_then_method(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text(
        'name = "mine"\n[datasets.synth2d]\nsize = [32, 32]\n'
        "train = { steps = 7, batch_size = 3 }\n"
        "[train]\nsteps = 100\n[method_train.unet]\nsteps = 9\n"
    )
    prof = load_profile(str(path))
    assert prof.train_config("resunet").steps == 100
    assert prof.train_config("resunet", dataset="synth2d").steps == 7
    assert prof.train_config("resunet", dataset="synth2d").batch_size == 3
    assert prof.train_config("unet", dataset="synth2d").steps == 9  # method wins
    assert prof.train_config("nnunet").optimizer == "sgd"  # the method family's default


@pytest.mark.parametrize(
    "text, match",
    [
        ("[trian]\nsteps = 1\n", "unknown table"),
        ("[train]\nstepz = 1\n", "unknown key"),
        ("[datasets.glas]\nsize = [8, 8]\nlimt = 2\n", "unknown key"),
        ("not = [valid", "not valid TOML"),
    ],
)
def test_bad_profiles_are_one_line_errors(tmp_path, text, match):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=match):
        load_profile(str(path))


def test_unknown_profile_lists_valid_ones():
    with pytest.raises(ConfigError, match="valid: paper, quick, reference, smoke"):
        load_profile("qiuck")


def test_method_override_typo_is_refused():
    prof = load_profile("smoke")
    bad = prof.methods | {"ldseg": {"latent_chanels": 2}}
    from dataclasses import replace

    with pytest.raises(ConfigError, match="latent_chanels"):
        job_configs(JobSpec("ldseg", "synth2d", "smoke"), replace(prof, methods=bad))
