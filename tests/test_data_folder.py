"""`folder` datasets and the original Warwick GlaS .bmp layout, built in tmp_path."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
import tifffile
import torch
from PIL import Image

from benchmarks.data import check_dataset, get_info, load_split, open_source
from benchmarks.data.splits import partition


def _png(path, arr):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)


def _nii(path, arr):
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(arr, np.eye(4)), str(path))


def _disk(h, w, seed):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:h, :w]
    cy, cx, r = rng.integers(5, h - 5), rng.integers(5, w - 5), rng.integers(3, 6)
    return ((yy - cy) ** 2 + (xx - cx) ** 2 <= r * r).astype(np.uint8)


def make_folder(root, names, *, h=20, w=24, labels=255, rgb=True):
    rng = np.random.default_rng(0)
    for i, name in enumerate(names):
        mask = _disk(h, w, i)
        shape = (h, w, 3) if rgb else (h, w)
        _png(root / "images" / f"{name}.png", rng.integers(0, 255, shape, dtype=np.uint8))
        _png(root / "masks" / f"{name}.png", (mask * labels).astype(np.uint8))
    return root


def test_folder_binary_seeded_80_20_split(tmp_path):
    make_folder(tmp_path, [f"img{i}" for i in range(10)])
    info = get_info("folder", path=str(tmp_path))
    assert (info.spatial_dims, info.in_channels, info.num_classes, info.combined) == (2, 3, 2, None)
    parts = partition(open_source("folder", path=tmp_path).cases())
    assert (len(parts["train"]), len(parts["test"])) == (8, 2)
    again = partition(open_source("folder", path=tmp_path).cases())
    assert [c.case_id for c in again["test"]] == [c.case_id for c in parts["test"]]
    ds = load_split("folder", "test", path=tmp_path, size=(16, 16))
    assert set(ds.labels.unique().tolist()) == {0, 1}
    assert ds.images.shape == (2, 3, 16, 16)


def test_folder_prefixes_and_zero_one_masks(tmp_path):
    make_folder(tmp_path, ["train_1", "train_2", "train_3", "testA_1", "val_1"], labels=1)
    parts = partition(open_source("folder", path=tmp_path).cases())
    assert [c.case_id for c in parts["train"]] == ["train_1", "train_2", "train_3"]
    assert [c.case_id for c in parts["test"]] == ["testA_1"]
    assert [c.case_id for c in parts["val"]] == ["val_1"]
    ds = load_split("folder", "train", path=tmp_path, size=(20, 24))
    assert int(ds.labels.max()) == 1


def test_folder_multiclass_labels_dir_and_grey_rgb_mask(tmp_path):
    rng = np.random.default_rng(1)
    for i in range(3):
        _png(tmp_path / "images" / f"c{i}.png", rng.integers(0, 255, (12, 12), dtype=np.uint8))
        mask = np.zeros((12, 12), np.uint8)
        mask[2:5], mask[6:8], mask[9:] = 1, 2, 3 if i == 2 else 2
        _png(tmp_path / "labels" / f"c{i}.png", np.stack([mask] * 3, -1))  # grey RGB: accepted
    info = get_info("folder", path=str(tmp_path))
    assert info.num_classes == 4 and info.in_channels == 1 and info.combined == (1, 2, 3)
    ds = load_split("folder", "train", path=tmp_path, size=(12, 12))
    assert ds.labels.max() <= 3 and ds[0]["label"].dtype == torch.int64


def test_folder_nifti_and_tiff_3d(tmp_path):
    rng = np.random.default_rng(2)
    for i in range(3):
        vol = rng.normal(size=(10, 12, 14)).astype(np.float32)
        lab = np.zeros((10, 12, 14), np.int16)
        lab[3:7, 4:8, 5:9] = 1
        _nii(tmp_path / "nii" / "images" / f"v{i}.nii.gz", vol)
        _nii(tmp_path / "nii" / "masks" / f"v{i}.nii.gz", lab)
        (tmp_path / "tif" / "images").mkdir(parents=True, exist_ok=True)
        (tmp_path / "tif" / "masks").mkdir(parents=True, exist_ok=True)
        tifffile.imwrite(tmp_path / "tif" / "images" / f"v{i}.tif", vol)
        tifffile.imwrite(tmp_path / "tif" / "masks" / f"v{i}.tif", lab.astype(np.uint8))
    for sub in ("nii", "tif"):
        ds = load_split("folder", "train", path=tmp_path / sub, size=(8, 8, 8))
        assert ds.info.spatial_dims == 3 and ds.images.shape[1:] == (1, 8, 8, 8)
        assert 0.0 <= float(ds.images.min()) and float(ds.images.max()) <= 1.0
        assert set(ds.labels.unique().tolist()) == {0, 1}


def make_warwick(folder, names):
    """The original release: <case>.bmp + <case>_anno.bmp with instance ids, plus Grade.csv."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(3)
    for i, name in enumerate(names):
        anno = _disk(20, 24, i) * 1
        anno[:3, :3] = 2  # a second gland instance
        Image.fromarray(rng.integers(0, 255, (20, 24, 3), dtype=np.uint8)).save(
            folder / f"{name}.bmp"
        )
        Image.fromarray(anno.astype(np.uint8)).save(folder / f"{name}_anno.bmp")
    (folder / "Grade.csv").write_text("name,grade\n")
    return folder


def test_warwick_bmp_layout_by_path_and_under_root(tmp_path):
    make_warwick(
        tmp_path / "glas" / "Warwick QU Dataset", ["train_1", "train_2", "testA_1", "testB_1"]
    )
    for kw in ({"root": tmp_path}, {"path": tmp_path / "glas" / "Warwick QU Dataset"}):
        train = load_split("glas", "train", size=(16, 16), **kw)
        test = load_split("glas", "test", size=(16, 16), **kw)
        assert train.case_ids == ["train_1", "train_2"] and test.case_ids == ["testA_1", "testB_1"]
        assert set(train.labels.unique().tolist()) == {0, 1}  # instance ids -> gland
        assert train.images.shape == (2, 3, 16, 16)
    report = check_dataset("glas", root=tmp_path)
    assert report.counts == {"train": 2, "test": 2}


def test_warwick_layout_from_real_glas_files(tmp_path, glas_dir):
    names = ["train_1", "testA_1"]
    for name in names:
        image = Image.open(glas_dir / "images" / f"{name}.png")
        mask = np.asarray(Image.open(glas_dir / "masks" / f"{name}.png"))
        image.save(tmp_path / f"{name}.bmp")
        Image.fromarray((mask > 0).astype(np.uint8) * 7).save(tmp_path / f"{name}_anno.bmp")
    bmp = load_split("glas", "test", path=tmp_path, size=(32, 48))
    png = load_split("glas", "test", path=glas_dir, size=(32, 48), limit=1)
    assert torch.equal(bmp.images, png.images) and torch.equal(bmp.labels, png.labels)


@pytest.mark.parametrize("bad", ["missing_anno", "missing_image"])
def test_warwick_unmatched_files(tmp_path, bad):
    from benchmarks.errors import DataError

    make_warwick(tmp_path, ["train_1", "train_2"])
    victim = "train_2_anno.bmp" if bad == "missing_anno" else "train_2.bmp"
    (tmp_path / victim).unlink()
    with pytest.raises(DataError, match="train_2"):
        open_source("glas", path=tmp_path)
