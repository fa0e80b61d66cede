"""Experiment specs: planning (methods, datasets, skips, settings), the noise transform, the
AUROC rank formula and the train-job hash. No training here."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from benchmarks.errors import ConfigError
from benchmarks.experiments import ABLATIONS, EXPERIMENTS, get_experiment, settings_for
from benchmarks.kinds import plan, select_methods
from benchmarks.methods import registry
from benchmarks.profiles import load_profile
from benchmarks.robustness import GaussianNoise
from benchmarks.uncertainty import auroc

SMOKE = settings_for("smoke")


def test_every_paper_experiment_is_registered():
    assert set(EXPERIMENTS) >= {
        "table1",
        "table2",
        "table3",
        "table4",
        "table5",
        "steps",
        "runtime",
        "robustness",
        "uncertainty",
    }


def test_unknown_experiment_lists_the_valid_ones():
    with pytest.raises(ConfigError, match="valid: table1, table2"):
        get_experiment("table9")


def test_table2_runs_every_2d_method_but_the_ablations_on_glas():
    p = plan("table2", SMOKE)
    expected = {n for n, s in registry().items() if 2 in s.dims and n not in ABLATIONS}
    assert {c.method for c in p.children} == expected
    assert {c.dataset for c in p.children} == {"glas"}
    assert {c.seed for c in p.children} == set(SMOKE.seeds)
    assert "ldseg" in expected and not p.skipped


def test_table1_records_sdfddpm_as_binary_only():
    p = plan("table1", SMOKE)
    assert {c.dataset for c in p.children} == {"echo-synth", "knee2d"}
    assert "sdfddpm" not in {c.method for c in p.children}
    reasons = {(s.method, s.dataset): s.reason for s in p.skipped}
    assert reasons[("sdfddpm", "echo-synth")] == "n/a (binary only)"
    assert reasons[("sdfddpm", "knee2d")] == "n/a (binary only)"


def test_table3_only_3d_methods_and_table5_the_ablation():
    p3 = plan("table3", SMOKE)
    assert all(3 in registry()[c.method].dims for c in p3.children)
    assert {c.dataset for c in p3.children} == {"knee3d"}
    p5 = plan("table5", SMOKE)
    assert {c.method for c in p5.children} == {"ldseg", *ABLATIONS}


def test_steps_plan_reuses_training_and_uses_the_profile_step_list():
    p = plan("steps", SMOKE)
    ks = {c.settings["num_inference_steps"] for c in p.children}
    assert ks == set(SMOKE.steps) == {1, 2, 5, 10}
    pairs = {(c.method, c.dataset) for c in p.children}
    assert pairs == {
        ("ldseg", "echo-synth"),
        ("ldseg", "glas"),
        ("ldseg", "knee3d"),
        ("lsegdiff", "glas"),
        ("medsegdiff", "glas"),
    }
    assert all(c.trained for c in p.children)
    assert settings_for("paper").steps == (1, 2, 3, 5, 10, 20, 50, 100, 200, 500, 1000)


def test_timing_plans_use_untrained_weights():
    rt = plan("runtime", settings_for("smoke", runtime_sizes=(64, 128)))
    assert {c.settings["size"] for c in rt.children} == {64, 128}
    assert {c.method for c in rt.children} == {
        "ldseg",
        "lsegdiff",
        "medsegdiff",
        "sdfddpm",
        "resunet",
        "medt",
        "swinunet",
    }
    assert not any(c.trained for c in rt.children)
    t4 = plan("table4", SMOKE)
    assert {c.settings["num_inference_steps"] for c in t4.children} == {1000, 2}
    assert {c.dataset for c in t4.children} == {"echo-synth", "glas", "knee3d"}


def test_robustness_always_includes_the_clean_reference():
    p = plan("robustness", settings_for("smoke", robustness_sigmas=(0.2,)))
    assert sorted({c.settings["sigma"] for c in p.children}) == [0.0, 0.2]
    assert {c.method for c in p.children} == {"ldseg", "resunet"}


def test_methods_option_is_checked():
    exp = get_experiment("table5")
    assert select_methods(exp, SMOKE, ("ldseg",)) == ("ldseg",)
    with pytest.raises(ConfigError, match="not part of table5"):
        select_methods(exp, SMOKE, ("unet",))
    with pytest.raises(ConfigError, match="unknown method"):
        select_methods(exp, SMOKE, ("no-such-method",))


def test_settings_overrides():
    s = settings_for("smoke", steps=(1, 3), uncertainty_samples=None)
    assert s.steps == (1, 3) and s.uncertainty_samples == SMOKE.uncertainty_samples
    from types import SimpleNamespace

    assert settings_for(SimpleNamespace(name="my-own", experiments={})).steps == (
        settings_for("paper").steps
    )
    with pytest.raises(ConfigError, match="unknown experiment setting"):
        settings_for("smoke", stepz=(1,))


def test_child_run_names_are_readable():
    p = plan("steps", SMOKE, methods=("ldseg",))
    assert p.children[0].run_name == "ldseg-echo-synth-s0-K1"


# -- robustness noise --------------------------------------------------------------------------
def test_noise_is_per_case_and_independent_of_batching():
    images = torch.rand(5, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    whole = GaussianNoise(0.2, seed=3)(images)
    a = GaussianNoise(0.2, seed=3)
    split = torch.cat([a(images[:2]), a(images[2:])])
    torch.testing.assert_close(whole, split)
    assert whole.min() >= 0 and whole.max() <= 1
    assert not torch.equal(whole, images)
    other = GaussianNoise(0.2, seed=4)(images)
    assert not torch.equal(whole, other)


def test_zero_noise_is_the_identity_and_sigma_is_the_std():
    images = torch.rand(2, 1, 16, 16)
    torch.testing.assert_close(GaussianNoise(0.0)(images), images)
    half = torch.full((1, 1, 256, 256), 0.5)
    noisy = GaussianNoise(0.05, seed=1)(half)  # far from the clip bounds
    assert abs(float((noisy - half).std()) - 0.05) < 0.003
    mm = GaussianNoise(0.1, rescale="minmax")(images)
    assert float(mm.min()) == pytest.approx(0.0) and float(mm.max()) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        GaussianNoise(-1.0)


# -- AUROC -------------------------------------------------------------------------------------
def test_auroc_hand_example():
    # positives 0.35, 0.8 vs negatives 0.1, 0.4: pairs won 0.35>0.1, 0.8>0.1, 0.8>0.4 -> 3/4
    assert auroc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]) == pytest.approx(0.75)
    assert auroc([0.5, 0.5, 0.5], [1, 0, 1]) == pytest.approx(0.5)  # ties count half
    assert auroc([1, 2, 3, 4], [0, 0, 1, 1]) == 1.0
    assert auroc([4, 3, 2, 1], [0, 0, 1, 1]) == 0.0
    assert np.isnan(auroc([1, 2], [0, 0]))


def test_auroc_matches_the_pairwise_definition():
    rng = np.random.default_rng(0)
    s = rng.integers(0, 5, 200).astype(float)  # many ties
    y = rng.random(200) < 0.3
    pos, neg = s[y], s[~y]
    pairwise = ((pos[:, None] > neg[None]).sum() + 0.5 * (pos[:, None] == neg[None]).sum()) / (
        len(pos) * len(neg)
    )
    assert auroc(s, y) == pytest.approx(pairwise)


# -- train-job identity ------------------------------------------------------------------------
def test_train_hash_ignores_device_and_data_root_but_not_seed():
    from benchmarks.pipeline import JobSpec
    from benchmarks.profiles import load_profile
    from benchmarks.trained import train_hash

    prof = load_profile("smoke")
    base = train_hash(JobSpec("ldseg", "synth2d", "smoke"), prof)
    assert base == train_hash(
        JobSpec("ldseg", "synth2d", "smoke", device="cuda", data_root="/elsewhere"), prof
    )
    assert base != train_hash(JobSpec("ldseg", "synth2d", "smoke", seed=1), prof)
    assert base != train_hash(JobSpec("unet", "synth2d", "smoke"), prof)


def test_a_profile_experiments_table_overrides_the_defaults():
    from types import SimpleNamespace

    table = dict(load_profile("smoke").experiments)
    prof = SimpleNamespace(
        name="smoke", experiments={**table, "steps": [1, 2], "uncertainty_samples": 5}
    )
    s = settings_for(prof)
    assert s.steps == (1, 2) and s.uncertainty_samples == 5
    assert s.seeds == SMOKE.seeds  # the rest stays the profile's default
    with pytest.raises(ConfigError, match="smoke: experiments"):
        settings_for(SimpleNamespace(name="smoke", experiments={"stepz": [1]}))
