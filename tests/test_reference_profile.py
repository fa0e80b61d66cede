"""The `reference` profile is the authors' code as the facts describe it, the `paper` profile takes
the code's choice wherever the paper is silent, config.py's table names every switch, and
README's "Paper vs reference code" table is the generated one."""

from dataclasses import asdict

import pytest
import torch

import ldseg.config
from benchmarks import fidelity
from benchmarks.configs import flatten
from benchmarks.methods import build_method
from benchmarks.pipeline import JobSpec, check_job, job_configs
from benchmarks.profiles import load_profile
from ldseg.config import LDSegConfig


def _job(profile: str, dataset: str = "glas") -> dict:
    return job_configs(JobSpec("ldseg", dataset, profile), load_profile(profile))


def test_reference_profile_is_the_code():
    cfg = _job("reference")
    m, tr, ds = cfg["method"], cfg["train"], cfg["dataset"]
    assert m["loss"]["shared_eps"] and m["loss"]["denoised"] == "eq12"
    assert (m["loss"]["gamma"], m["loss"]["lam"]) == (2.0, 1.0)
    assert m["label_encoder"] == {
        "norm": "batch", "dropout": 0.2, "downsample": "maxpool", "affine": True,
        "widths": (16, 32, 64, 64, 32),
    }  # fmt: skip
    assert m["image_encoder"]["norm"] == "group" and m["image_encoder"]["head"] == "attention"
    assert m["label_decoder"]["norm"] == "batch" and m["label_decoder"]["output_norm"]
    assert m["denoiser"]["num_head_channels"] == (16, 32, 64)
    assert m["schedule"]["kind"] == "cosine" and m["schedule"]["train_timesteps"] == "0..T-1"
    assert m["sampler"]["timestep_grid"] == "linspace" and m["sampler"]["renormalize"] == "batch"
    assert (tr["batch_size"], tr["lr"], tr["lr_schedule"]) == (4, 1e-3, "constant")
    assert (tr["ema_decay"], tr["amp"], tr["grad_clip"]) == (0.999, False, 0.0)
    assert (ds["image_resize"], ds["intensity"], ds["augmentation"]) == (
        "nearest", "minmax", "flips"
    )  # fmt: skip
    ev = cfg["eval"]
    assert (ev["sampler"], ev["num_inference_steps"], ev["num_samples"]) == ("ddim", 15, 1)
    knee = _job("reference", "knee3d")
    assert knee["method"]["label_encoder"]["downsample"] == "stride"  # 3D: strided convs
    assert knee["dataset"]["augmentation"] == "none"  # flips in 2D only
    check_job(JobSpec("ldseg", "glas", "reference"), load_profile("reference"))


def test_paper_profile_takes_the_code_where_the_paper_is_silent():
    cfg = _job("paper")
    tr, ds, m = cfg["train"], cfg["dataset"], cfg["method"]
    assert tr["grad_clip"] == 0.0 and tr["amp"] is False and tr["ema_decay"] == 0.999
    assert (ds["image_resize"], ds["intensity"], ds["augmentation"]) == (
        "nearest", "minmax", "flips"
    )  # fmt: skip
    assert m["label_encoder"]["norm"] == m["label_decoder"]["norm"] == "batch"
    assert m["label_encoder"]["dropout"] == m["label_decoder"]["dropout"] == 0.2
    assert m["label_encoder"]["affine"] and m["sampler"]["renormalize"] == "batch"
    # what the paper states
    assert m["schedule"]["train_timesteps"] == "1..T" and not m["loss"]["shared_eps"]
    assert m["sampler"]["timestep_grid"] == "rounded" and cfg["eval"]["num_inference_steps"] == 2
    assert tr["lr_schedule"] == "exp"


@pytest.mark.parametrize("profile", ["paper", "reference"])
def test_faithful_ldseg_trains_and_samples(profile):
    """The profile's LDSeg (its real widths, norms, heads, sampler) on a 64^2 input."""
    prof = load_profile(profile)
    cfgs, info, mcfg, ev = check_job(JobSpec("ldseg", "glas", profile), prof)
    torch.manual_seed(0)
    model = build_method("ldseg", mcfg, info)
    g = torch.Generator().manual_seed(0)
    batch = {
        "image": torch.rand(2, 3, 64, 64, generator=g),
        "label": torch.randint(0, 2, (2, 1, 64, 64), generator=g),
    }
    loss = model.loss(batch, generator=g)["loss"]
    loss.backward()
    assert torch.isfinite(loss)
    model.eval()
    seg = model.predict(
        batch["image"], sampler=ev.sampler, num_inference_steps=ev.num_inference_steps,
        generator=torch.Generator().manual_seed(1),
    )  # fmt: skip
    assert seg.labels.shape == (2, 1, 64, 64)


def test_config_table_names_every_reference_switch():
    """Each LDSeg key the reference profile sets away from the dataclass default is in the
    paper-vs-code table of ldseg/config.py."""
    defaults = flatten(asdict(LDSegConfig()))
    ref = flatten(_job("reference")["method"])
    differing = [k for k in ref if k in defaults and ref[k] != defaults[k]]
    assert differing
    for key in differing:
        assert f"``{key}``" in ldseg.config.__doc__, key


def test_readme_table_is_generated():
    text = fidelity.README.read_text()
    assert fidelity.readme_table(text) == fidelity.markdown(fidelity.rows()), (
        "README's paper-vs-reference table is stale: python -m benchmarks.fidelity --readme"
    )


def test_toml_comments_reader(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text(
        "# block note\n[train]\n# about lr\nlr = 1e-3\nsteps = 4  # trailing\n\nbatch_size = 2\n"
        '[methods.ldseg]\nloss = { gamma = 2.0, lam = 1.0 }  # both\nname = "a#b"\n'
    )
    notes = fidelity.toml_comments(path)
    assert notes["train.lr"] == "about lr" and notes["train.steps"] == "trailing"
    assert notes["train.batch_size"] == ""  # a blank line ends the block
    assert notes["methods.ldseg.loss.gamma"] == notes["methods.ldseg.loss.lam"] == "both"
    assert notes["methods.ldseg.name"] == ""  # '#' inside quotes is no comment


@pytest.mark.parametrize("profile", ["paper", "reference"])
@pytest.mark.parametrize("dataset", ["glas", "knee3d"])
def test_ldseg_family_shares_ldseg_parts(profile, dataset):
    """Table V's ablations and LSegDiff differ from LDSeg only in what they replace."""
    base = flatten(_job(profile, dataset)["method"])
    prof = load_profile(profile)
    for method in ("ldseg-ld", "ldseg-id", "ldseg-ld-id", "lsegdiff"):
        cfg = flatten(job_configs(JobSpec(method, dataset, profile), prof)["method"])
        assert [k for k in base if k in cfg and cfg[k] != base[k]] == [], method
