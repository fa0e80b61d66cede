"""Your own data with any profile (issue 14 item 7): every built-in profile has `folder` settings
for 2D and 3D files, `bench train --size` overrides them, and the split is explicit (split.csv,
else file-name prefixes, else a seeded 80/20) -- printed by `bench data check` and stored with
the run as split.json."""

from __future__ import annotations

import json
import re

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from PIL import Image
from typer.testing import CliRunner

from benchmarks.cli import app
from benchmarks.data import open_source
from benchmarks.data.splits import partition
from benchmarks.errors import ConfigError, DataError
from benchmarks.profiles import PROFILE_DIR, available, load_profile, parse_size

runner = CliRunner()
CASES = [f"slide{i}" for i in range(12)]  # no train_/test_ prefixes
SPLIT = {**{c: "train" for c in CASES[:8]}, "slide8": "val", **{c: "test" for c in CASES[9:]}}


def make_png_folder(root, names=CASES, h=24, w=20):
    rng = np.random.default_rng(0)
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    yy, xx = np.mgrid[:h, :w]
    for i, name in enumerate(names):
        mask = ((yy - 6 - i % 10) ** 2 + (xx - 10) ** 2 <= 25).astype(np.uint8) * 255
        img = rng.integers(0, 120, (h, w, 3), dtype=np.uint8)
        img[mask > 0] += 120
        Image.fromarray(img).save(root / "images" / f"{name}.png")
        Image.fromarray(mask).save(root / "masks" / f"{name}.png")
    return root


def write_split_csv(root, split=SPLIT):
    lines = ["case_id,split", *(f"{c},{s}" for c, s in split.items())]
    (root / "split.csv").write_text("\n".join(lines) + "\n")


def reduced_profile(tmp_path, base: str, steps: int = 3):
    """A copy of a shipped profile with [train] steps = `steps` (everything else, its folder
    tables included, unchanged: checked below)."""
    text = (PROFILE_DIR / f"{base}.toml").read_text()
    text, n = re.subn(
        r"(?ms)^(\[train\]\n(?:[^\[\n].*\n|\n)*?)steps = \d+", rf"\g<1>steps = {steps}", text
    )
    assert n == 1
    text = re.sub(r'(?m)^name = ".*"$', f'name = "{base}-{steps}steps"', text, count=1)
    path = tmp_path / f"{base}-{steps}steps.toml"
    path.write_text(text)
    prof, shipped = load_profile(str(path)), load_profile(base)
    assert prof.train.steps == steps
    assert prof.datasets == shipped.datasets and prof.methods == shipped.methods
    return path


@pytest.mark.parametrize("name", available())
def test_every_builtin_profile_covers_folder_in_2d_and_3d(name):
    prof = load_profile(name)
    assert len(prof.for_dataset("folder", 2).dataset("folder").size) == 2
    assert len(prof.for_dataset("folder", 3).dataset("folder").size) == 3
    # --size wins over the profile, in either dims
    assert prof.for_dataset("folder", 2, (40, 56)).dataset("folder").size == (40, 56)
    assert prof.for_dataset("folder", 3, (8, 16, 24)).dataset("folder").size == (8, 16, 24)
    with pytest.raises(ConfigError, match="--size .*2D; give H,W"):
        prof.for_dataset("folder", 2, (8, 8, 8))


def test_folder_at_3d_layers_on_folder_and_is_only_for_folder(tmp_path):
    quick = load_profile("quick").for_dataset("folder", 3)
    assert quick.dataset("folder").size == (32, 32, 32)
    assert quick.train_config("ldseg", dataset="folder").steps == 300  # the 3D budget
    assert (
        load_profile("quick").for_dataset("folder", 2).train_config("ldseg", "folder").steps == 800
    )
    cases = {
        '[datasets.folder]\nsize = [32, 32]\nlimit = 4\n[datasets."folder@3d"]\nsize = [8, 8, 8]\n': None,
        '[datasets."glas@3d"]\nsize = [8, 8, 8]\n': "unknown suffix @3d",
        '[datasets."folder@2d"]\nsize = [8, 8]\n': "unknown suffix @2d",
        '[datasets."folder@3d"]\nsize = [8, 8]\n': r"datasets.folder@3d.size: folder@3d is 3D",
    }
    for i, (body, error) in enumerate(cases.items()):
        path = tmp_path / f"p{i}.toml"
        path.write_text(body)
        if error is None:
            prof = load_profile(str(path))
            assert prof.for_dataset("folder", 3).dataset("folder").limit == 4  # inherited
            only_2d = tmp_path / "only2d.toml"
            only_2d.write_text("[datasets.folder]\nsize = [32, 32]\n")
            with pytest.raises(ConfigError, match="pass --size D,H,W or add"):
                load_profile(str(only_2d)).for_dataset("folder", 3)
        else:
            with pytest.raises(ConfigError, match=error):
                load_profile(str(path))


def test_parse_size():
    assert parse_size(None) is None
    assert parse_size("32,48") == (32, 48) and parse_size("16x16x8") == (16, 16, 8)
    for bad in ("32", "a,b", "0,32", "1,2,3,4"):
        with pytest.raises(ConfigError, match="--size"):
            parse_size(bad)


def test_split_csv_wins_and_is_checked(tmp_path):
    folder = make_png_folder(tmp_path / "data")
    seeded = partition(open_source("folder", path=folder).cases())
    assert (len(seeded["train"]), len(seeded["test"])) == (10, 2)  # the seeded 80/20
    write_split_csv(folder)
    parts = partition(open_source("folder", path=folder).cases())
    assert {s: [c.case_id for c in v] for s, v in parts.items()} == {
        "train": CASES[:8],
        "val": ["slide8"],
        "test": CASES[9:],
    }
    res = runner.invoke(app, ["data", "check", "folder", "--path", str(folder)])
    assert res.exit_code == 0, res.output
    unwrapped = res.output.replace("\n", "")  # Rich wraps long tmp paths inside words
    assert "split.csv" in unwrapped and re.search(r"test\s*│\s*3", res.output)
    bad = {
        "case_id,split\nslide0,train\n": r"no split for 11 case\(s\): slide1",
        "case,split\n": "needs a header with the columns case_id,split",
        "case_id,split\n" + "".join(f"{c},train\n" for c in CASES) + "slide99,test\n": "slide99",
        "case_id,split\nslide0,holdout\n": "split 'holdout'",
        "case_id,split\nslide0,train\nslide0,test\n": "listed twice",
    }
    for text, message in bad.items():
        (folder / "split.csv").write_text(text)
        with pytest.raises(DataError, match=message):
            open_source("folder", path=folder)
    res = runner.invoke(app, ["data", "check", "folder", "--path", str(folder)])
    assert res.exit_code == 2 and res.output.count("\n") == 1 and "listed twice" in res.output


def _train(method, folder, profile, out, *extra):
    args = ["train", method, "--dataset", "folder", "--path", str(folder), "--profile"]
    return runner.invoke(app, [*args, str(profile), "--out", str(out), *extra])


@pytest.mark.slow  # three trainings at 128^2 (quick) / 3D: ~30 s of CPU
def test_train_unet_and_ldseg_on_a_folder_with_the_quick_profile(tmp_path):
    folder = make_png_folder(tmp_path / "data")
    write_split_csv(folder)
    profile = reduced_profile(tmp_path, "quick")
    for method in ("unet", "ldseg"):
        out = tmp_path / method
        res = _train(method, folder, profile, out)
        assert res.exit_code == 0, res.output
        metrics = json.loads((out / "metrics.json").read_text())
        assert metrics["train_steps"] == 3 and 0.0 <= metrics["dsc"] <= 1.0
        assert json.loads((out / "config.json").read_text())["dataset"]["size"] == [128, 128]
        split = json.loads((out / "split.json").read_text())
        assert split["train"] == CASES[:8] and split["val"] == ["slide8"]
        assert split["test"] == CASES[9:] and "split.csv" in split["rule"]
        assert set(pd.read_csv(out / "per_case.csv")["case_id"]) == set(CASES[9:])
    # --size overrides the profile's size; a changed split.csv is not resumed silently
    out = tmp_path / "unet-small"
    res = _train("unet", folder, profile, out, "--size", "32,48")
    assert res.exit_code == 0, res.output
    assert json.loads((out / "config.json").read_text())["dataset"]["size"] == [32, 48]
    write_split_csv(folder, {**SPLIT, "slide0": "test"})
    res = _train("unet", folder, profile, out, "--size", "32,48")
    assert res.exit_code == 2 and "another split" in res.output, res.output
    res = _train("unet", folder, profile, tmp_path / "x", "--size", "8,8,8")
    assert res.exit_code == 2 and "give H,W" in res.output


@pytest.mark.slow
def test_train_on_a_3d_nifti_folder_uses_the_3d_settings(tmp_path):
    folder = tmp_path / "vols"
    rng = np.random.default_rng(0)
    for sub in ("images", "masks"):
        (folder / sub).mkdir(parents=True)
    for i in range(5):
        label = np.zeros((10, 12, 8), np.uint8)
        label[2 : 6 + i % 3, 3:9, 2:6] = 1
        image = (rng.random(label.shape) * 100 + 100 * label).astype(np.float32)
        nib.save(nib.Nifti1Image(image, np.eye(4)), str(folder / "images" / f"vol{i}.nii.gz"))
        nib.save(nib.Nifti1Image(label, np.eye(4)), str(folder / "masks" / f"vol{i}.nii.gz"))
    profile = reduced_profile(tmp_path, "smoke", steps=2)
    out = tmp_path / "run"
    res = _train("unet", folder, profile, out)
    assert res.exit_code == 0, res.output
    assert json.loads((out / "config.json").read_text())["dataset"]["size"] == [16, 16, 16]
    split = json.loads((out / "split.json").read_text())
    assert len(split["test"]) == 1 and "seeded 80%/20%" in split["rule"]
