"""Malformed inputs: `bench data check` prints one line `error: <file>: <problem>`, exit code 2."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
import tifffile
import typer
from PIL import Image
from typer.testing import CliRunner

from benchmarks.cli_data import data_app

app = typer.Typer()
app.add_typer(data_app, name="data")
runner = CliRunner()


def _png(path, arr):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)


def _nii(path, arr):
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(arr, np.eye(4)), str(path))


def _good(root, names=("a", "b")):
    rng = np.random.default_rng(0)
    for name in names:
        _png(root / "images" / f"{name}.png", rng.integers(0, 255, (16, 16, 3), dtype=np.uint8))
        mask = np.zeros((16, 16), np.uint8)
        mask[4:9, 5:11] = 255
        _png(root / "masks" / f"{name}.png", mask)
    return root


def truncated_png(root):
    _good(root)
    path = root / "images" / "b.png"
    path.write_bytes(path.read_bytes()[:60])
    return "b.png", "unreadable or truncated"


def truncated_nifti(root):
    for name in ("v1", "v2"):
        _nii(root / "images" / f"{name}.nii.gz", np.ones((8, 8, 8), np.float32))
        _nii(root / "masks" / f"{name}.nii.gz", np.zeros((8, 8, 8), np.uint8))
    path = root / "masks" / "v2.nii.gz"
    path.write_bytes(path.read_bytes()[:-40])
    return "v2.nii.gz", "unreadable or truncated"


def mask_with_fraction_values(root):
    _good(root)
    mask = np.zeros((16, 16), np.uint8)
    mask[2:6], mask[8:12] = 128, 255  # an anti-aliased / resampled binary mask
    _png(root / "masks" / "b.png", mask)
    return "b.png", "not class labels"


def float_mask_with_fractions(root):
    _good(root)
    for name in ("a", "b"):
        (root / "images" / f"{name}.png").unlink()
        (root / "masks" / f"{name}.png").unlink()
        tifffile.imwrite(root / "images" / f"{name}.tif", np.ones((16, 16), np.float32))
        tifffile.imwrite(root / "masks" / f"{name}.tif", np.full((16, 16), 0.5, np.float32))
    return "a.tif", "fractional values"


def rgb_photo_as_mask(root):
    _good(root)
    _png(root / "masks" / "a.png", np.random.default_rng(1).integers(0, 255, (16, 16, 3), np.uint8))
    return "a.png", "colour channels that differ"


def grey_photo_as_mask(root):
    _good(root)
    _png(root / "masks" / "a.png", np.arange(256, dtype=np.uint8).reshape(16, 16))
    return "a.png", "256 distinct values"


def negative_mask(root):
    for name in ("v1", "v2"):
        _nii(root / "images" / f"{name}.nii.gz", np.ones((6, 6, 6), np.float32))
        _nii(root / "masks" / f"{name}.nii.gz", -np.ones((6, 6, 6), np.int16))
    return "v1.nii.gz", "negative values"


def shape_mismatch(root):
    _good(root)
    _png(root / "masks" / "b.png", np.zeros((12, 16), np.uint8))
    return "b.png", "does not match image"


def nan_nifti(root):
    for name in ("v1", "v2"):
        vol = np.ones((6, 6, 6), np.float32)
        if name == "v2":
            vol[1, 2, 3] = np.nan
        _nii(root / "images" / f"{name}.nii.gz", vol)
        _nii(root / "masks" / f"{name}.nii.gz", np.zeros((6, 6, 6), np.uint8))
    return "v2.nii.gz", "NaN or inf"


def missing_masks_dir(root):
    _good(root)
    for f in (root / "masks").iterdir():
        f.unlink()
    (root / "masks").rmdir()
    return "masks", "folder not found"


def empty_images_dir(root):
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    (root / "images" / "notes.txt").write_text("not an image")
    return "images", "no image files"


def image_without_mask(root):
    _good(root)
    (root / "masks" / "b.png").unlink()
    return "b.png", "image has no mask"


def mask_without_image(root):
    _good(root)
    (root / "images" / "a.png").unlink()
    return "a.png", "mask has no image"


def mixed_2d_3d(root):
    _good(root, names=("a",))
    _nii(root / "images" / "z.nii.gz", np.ones((6, 6, 6), np.float32))
    _nii(root / "masks" / "z.nii.gz", np.zeros((6, 6, 6), np.uint8))
    return "z.nii.gz", "mixed with 2D files"


CASES = [
    truncated_png,
    truncated_nifti,
    mask_with_fraction_values,
    float_mask_with_fractions,
    rgb_photo_as_mask,
    grey_photo_as_mask,
    negative_mask,
    shape_mismatch,
    nan_nifti,
    missing_masks_dir,
    empty_images_dir,
    image_without_mask,
    mask_without_image,
    mixed_2d_3d,
]


def _assert_one_line_error(result, *needles):
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("build", CASES, ids=[c.__name__ for c in CASES])
def test_bad_folder_one_line_error(tmp_path, build):
    name, problem = build(tmp_path)
    result = runner.invoke(app, ["data", "check", "folder", "--path", str(tmp_path)])
    _assert_one_line_error(result, name, problem)


def test_bad_file_in_glas_layout_names_the_file(tmp_path):
    glas = _good(tmp_path / "glas", names=("train_1", "testA_1"))
    _png(glas / "masks" / "testA_1.png", np.full((16, 16), 3, np.uint8))
    result = runner.invoke(app, ["data", "check", "glas", "--data-root", str(tmp_path)])
    _assert_one_line_error(result, "testA_1.png", "binary mask has values {3}")


def test_missing_data_root_says_where_to_get_glas(tmp_path, monkeypatch):
    monkeypatch.delenv("LDSEG_DATA", raising=False)
    result = runner.invoke(app, ["data", "check", "glas", "--data-root", str(tmp_path / "nope")])
    line = _assert_one_line_error(result, "nope", "data root not found")
    assert "warwick.ac.uk" in line and "LDSEG_DATA" in line


def test_unknown_dataset_lists_valid_names():
    result = runner.invoke(app, ["data", "check", "nope"])
    _assert_one_line_error(result, "unknown dataset 'nope'", "glas", "knee3d", "echo-synth")


def test_folder_without_path_is_a_config_error():
    result = runner.invoke(app, ["data", "check", "folder"])
    _assert_one_line_error(result, "--path")
