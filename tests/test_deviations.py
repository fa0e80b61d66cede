"""Report rows list, per row and generated from the configs, every key where they differ from
the paper profile (issue 10)."""

from benchmarks.configs import flatten
from benchmarks.pipeline import JobSpec
from benchmarks.profiles import load_profile
from benchmarks.trained import resolved_config
from reports.deviations import _text, deviations_section, row_deviations


def params_of(method: str, dataset: str, profile: str, seed: int = 0) -> dict[str, str]:
    cfg = resolved_config(JobSpec(method, dataset, profile, seed), load_profile(profile))
    return {k: _text(v) for k, v in flatten(cfg).items()}  # what the runner logs as params


def test_a_paper_profile_row_has_no_deviation():
    assert row_deviations(params_of("ldseg", "glas", "paper", seed=2), "ldseg", "glas") == {}


def test_quick_ldseg_lists_its_real_differences():
    dev = row_deviations(params_of("ldseg", "glas", "quick"), "ldseg", "glas")
    assert dev["dataset.size"] == ("[128, 128]", "[512, 512]")
    assert dev["method.latent_channels"] == ("4", "1")
    assert dev["method.schedule.prediction"] == ("v", "epsilon")
    assert dev["train.steps"][0] == "800"
    assert not any(k.startswith("job.") or k == "train.seed" for k in dev)


def test_a_changed_key_appears_and_an_unknown_one_is_absent_on_the_paper_side():
    params = params_of("unet", "glas", "paper")
    params["train.lr"] = "0.5"
    params["method.brand_new"] = "1"
    dev = row_deviations(params, "unet", "glas")
    assert dev == {"train.lr": ("0.5", dev["train.lr"][1]), "method.brand_new": ("1", "(absent)")}


def test_section_merges_seeds_and_names_each_row():
    params = {"a": params_of("unet", "glas", "paper"), "b": params_of("unet", "glas", "paper", 1)}
    params["b"]["train.lr"] = "0.5"
    lines = deviations_section(params, [("unet", "glas", "a"), ("unet", "glas", "b")])
    row = next(line for line in lines if line.startswith("- **unet**"))
    assert "`train.lr` = " in row and "/ 0.5 →" in row and "(1 keys)" in row
    lines = deviations_section({"a": params_of("unet", "glas", "paper")}, [("unet", "glas", "a")])
    assert any("none — the row ran" in line for line in lines)
