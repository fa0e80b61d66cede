"""Native-resolution metrics: predictions resampled back to each case's file size and scored with
its spacing (native pixels for 2D image files, NIfTI header mm for volumes)."""

from __future__ import annotations

from dataclasses import replace

import nibabel as nib
import numpy as np
import pytest
import torch
from torch import nn

from benchmarks.data import SegDataset, get_info, load_split
from benchmarks.data.transforms import resize_label
from benchmarks.evaluate import evaluate
from benchmarks.native import resample_probs
from benchmarks.profiles import EvalConfig
from ldseg.model import Segmentation

CFG = EvalConfig(batch_size=2)


class FixedProbs(nn.Module):
    """A 'method' whose class probabilities are given per case (in dataset order)."""

    samples = False

    def __init__(self, probs: torch.Tensor) -> None:
        super().__init__()
        self.probs, self.seen = probs.float(), 0

    def predict(self, images, **sampling) -> Segmentation:
        probs = self.probs[self.seen : self.seen + len(images)]
        self.seen += len(images)
        return Segmentation(probs, probs.argmax(dim=1, keepdim=True))


class Threshold(nn.Module):
    """Foreground where the (first channel of the) image is brighter than 0.5, as soft probs."""

    samples = False

    def predict(self, images, **sampling) -> Segmentation:
        fg = torch.sigmoid(20 * (images[:, :1] - 0.5))
        probs = torch.cat([1 - fg, fg], dim=1)
        return Segmentation(probs, probs.argmax(dim=1, keepdim=True))


def one_hot(labels: torch.Tensor, num_classes: int = 2) -> torch.Tensor:
    """(B, 1, *spatial) -> (B, C, *spatial) float."""
    return torch.nn.functional.one_hot(labels[:, 0].long(), num_classes).movedim(-1, 1).float()


def test_resample_probs_is_linear_at_pixel_centres():
    p = torch.tensor([0.0, 1.0, 0.0, 0.0]).reshape(1, 1, 4).expand(2, 4, 4).clone()
    up = resample_probs(p, (4, 8))  # x2 along the last axis, align_corners=False
    expected = torch.tensor([0.0, 0.25, 0.75, 0.75, 0.25, 0.0, 0.0, 0.0])
    assert torch.allclose(up[0, 0], expected)
    assert resample_probs(p, (4, 4)) is p  # identity: untouched


def test_anisotropic_case_hd95_in_native_pixels():
    """Native 8x16 label, predicted at 8x8 one pixel off along the stretched axis: 1 resized
    pixel is 2 native pixels, and the native HD95 says so."""
    info = get_info("synth2d")
    native = torch.zeros(1, 8, 16, dtype=torch.uint8)
    native[0, 2:6, 4:12] = 1  # columns 4..11
    small = resize_label(native, (8, 8))  # columns 2..5
    assert small[0, 3].tolist() == [0, 0, 1, 1, 1, 1, 0, 0]
    ds = SegDataset(
        info,
        ["aniso"],
        torch.zeros(1, 1, 8, 8),
        small[None],
        split="test",
        native_labels=[native],
        spacings=[(1.0, 1.0)],
    )
    pred = torch.roll(small, 1, dims=-1)[None]  # columns 3..6
    df, summary = evaluate(FixedProbs(one_hot(pred)), ds, CFG)
    row = df.iloc[0]
    assert row["hd95_shape"] == pytest.approx(1.0)  # resized pixels
    assert row["hd95_shape_native_px"] == pytest.approx(2.0)  # native pixels
    assert row["dsc_shape"] == pytest.approx(0.75) and row["dsc_shape_native"] == pytest.approx(
        0.75
    )
    assert summary["dsc_native"] == pytest.approx(0.75) and summary["n_hd95_shape_native_px"] == 1
    assert df.attrs["native_spacing_unit"] == "px"

    off = evaluate(FixedProbs(one_hot(pred)), ds, replace(CFG, native_resolution=False))
    assert not [c for c in off[0].columns if "native" in c] and "dsc_native" not in off[1]


def _write_nifti(path, array, zooms) -> None:
    nib.save(nib.Nifti1Image(array, np.diag([*zooms, 1.0])), str(path))


def test_folder_nifti_hd95_in_mm(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    mask = np.zeros((8, 8, 8), np.uint8)
    mask[2:6, 2:6, 2:6] = 1
    for stem in ("train_0", "test_0"):
        _write_nifti(tmp_path / "images" / f"{stem}.nii.gz", mask.astype(np.float32), (2, 1, 1))
        _write_nifti(tmp_path / "masks" / f"{stem}.nii.gz", mask, (2.0, 1.0, 1.0))
    ds = load_split("folder", "test", path=tmp_path, size=(8, 8, 8))
    assert ds.info.spacing_unit == "mm" and ds.spacings == [(2.0, 1.0, 1.0)]
    assert ds.native_labels == [None]  # identity resize: the label is stored once
    target = ds[0]["label"][None]
    for axis, mm in ((2, 2.0), (3, 1.0)):  # one voxel along X (2 mm) / along Y (1 mm)
        pred = torch.roll(target, 1, dims=axis)
        df, _ = evaluate(FixedProbs(one_hot(pred)), ds, CFG)
        assert df.loc[0, "hd95_foreground"] == pytest.approx(1.0)  # voxels
        assert df.loc[0, "hd95_foreground_native_mm"] == pytest.approx(mm)
        assert df.loc[0, "dsc_foreground_native"] == pytest.approx(df.loc[0, "dsc_foreground"])


def test_knee2d_slices_keep_the_in_plane_spacing(tmp_path):
    for sub in ("images", "labels"):
        (tmp_path / sub).mkdir()
    label = np.zeros((4, 6, 10), np.uint8)
    label[1:3, 1:3, 2:5], label[1:3, 3:5, 5:8] = 1, 2
    for case in ("case1", "case2"):
        _write_nifti(tmp_path / "images" / f"{case}.nii.gz", label.astype(np.int16), (3, 2, 0.5))
        _write_nifti(tmp_path / "labels" / f"{case}.nii.gz", label, (3.0, 2.0, 0.5))
    ds = load_split("knee2d", "test", path=tmp_path, size=(8, 8))
    assert ds.info.spacing_unit == "mm"
    assert set(ds.spacings) == {(2.0, 0.5)}  # slice axis (3 mm) dropped
    native, spacing = ds.native(0)
    assert native.shape == (1, 6, 10) and spacing == (2.0, 0.5)
    assert torch.equal(native[0], torch.from_numpy(label[int(ds.case_ids[0][-3:])]).long())
    vol = load_split("knee3d", "test", path=tmp_path, size=(4, 4, 4))
    assert vol.spacings == [(3.0, 2.0, 0.5)] and vol.native(0)[0].shape == (1, 4, 6, 10)


def test_synthetic_identity_resize_native_equals_training_resolution():
    ds = load_split("synth2d", "test", size=(32, 32), limit=4)
    assert ds.has_native and ds.native_labels == [None] * 4
    df, summary = evaluate(Threshold(), ds, CFG)
    trained = [c for c in df.columns if c != "case_id" and "native" not in c]
    assert {f"{c}_native" for c in trained if not c.startswith("hd95_")} | {
        f"{c}_native_px" for c in trained if c.startswith("hd95_")
    } == {c for c in df.columns if "native" in c}
    for col in trained:
        twin = f"{col}_native_px" if col.startswith("hd95_") else f"{col}_native"
        np.testing.assert_allclose(df[twin], df[col], equal_nan=True)
    assert 0.0 < summary["dsc"] < 1.0 and summary["dsc_native"] == summary["dsc"]
    assert summary["iou_native"] == summary["iou"]
    assert not load_split("synth2d", "train", size=(32, 32), limit=2).has_native


@pytest.mark.realdata
def test_glas_test_case_keeps_its_native_label(glas_dir):
    ds = load_split("glas", "test", path=glas_dir, size=(64, 64), limit=1)
    native, spacing = ds.native(0)
    assert ds.case_ids == ["testA_1"] and ds[0]["label"].shape == (1, 64, 64)
    assert native.shape == (1, 522, 775) and spacing == (1.0, 1.0)  # 775 x 522 pixels
    assert set(native.unique().tolist()) == {0, 1} and ds.info.spacing_unit == "px"
    df, _ = evaluate(Threshold(), ds, CFG)
    assert {"dsc_gland_native", "hd95_gland_native_px"} <= set(df.columns)
