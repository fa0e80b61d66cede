"""Loaders and splits on the real shared data (GlaS, knee); a few cases at small sizes."""

from __future__ import annotations

import re

import pytest
import torch

from benchmarks.data import get_info, load_split, open_source
from benchmarks.data.splits import partition

pytestmark = pytest.mark.realdata


def _groups(cases):
    return {c.group for c in cases}


def test_glas_official_split_by_prefix(glas_dir):
    parts = partition(open_source("glas", path=glas_dir).cases())
    train, test = [c.case_id for c in parts["train"]], [c.case_id for c in parts["test"]]
    assert len(train) == 85 and len(test) == 80 and parts["val"] == []
    assert all(c.startswith("train_") for c in train)
    assert sum(c.startswith("testA_") for c in test) == 60
    assert sum(c.startswith("testB_") for c in test) == 20
    assert not set(train) & set(test)


def test_glas_val_is_carved_from_train_only(glas_dir):
    cases = open_source("glas", path=glas_dir).cases()
    parts = partition(cases, val_fraction=0.1)
    val, train = _groups(parts["val"]), _groups(parts["train"])
    assert len(val) == 8 and len(train) == 77
    assert all(v.startswith("train_") for v in val) and not val & train
    assert len(parts["test"]) == 80
    assert partition(cases, val_fraction=0.1)["val"] == parts["val"]  # fixed seed


def test_glas_loader_shapes_and_ranges(data_root):
    ds = load_split("glas", "test", root=data_root, size=(48, 64), limit=3)
    assert ds.case_ids == ["testA_1", "testA_2", "testA_3"]
    assert ds.info.in_channels == 3 and ds.info.num_classes == 2 and ds.info.combined is None
    item = ds[0]
    assert item["image"].shape == (3, 48, 64) and item["image"].dtype == torch.float32
    assert item["label"].shape == (1, 48, 64) and item["label"].dtype == torch.int64
    assert 0.0 <= float(ds.images.min()) and float(ds.images.max()) <= 1.0
    assert set(item["label"].unique().tolist()) == {0, 1}
    batch = ds.batch([2, 0])
    assert batch["image"].shape == (2, 3, 48, 64) and batch["case_id"] == ["testA_3", "testA_1"]


def test_glas_val_split_loads(data_root):
    val = load_split("glas", "val", root=data_root, size=(32, 32), val_fraction=0.1, limit=2)
    assert len(val) == 2 and all(c.startswith("train_") for c in val.case_ids)


def test_knee3d_default_split_and_shapes(data_root):
    parts = partition(open_source("knee3d", root=data_root).cases())
    assert [c.case_id for c in parts["train"]] == ["case1", "case2", "case3", "case4"]
    assert [c.case_id for c in parts["test"]] == ["case5"]
    ds = load_split("knee3d", "test", root=data_root, size=(24, 16, 16))
    info = get_info("knee3d")
    assert (info.spatial_dims, info.num_classes, info.combined, info.combined_name) == (
        3,
        3,
        (1, 2),
        "FC+TC",
    )
    item = ds[0]
    assert item["case_id"] == "case5"
    assert item["image"].shape == (1, 24, 16, 16) and item["label"].shape == (1, 24, 16, 16)
    assert set(item["label"].unique().tolist()) == {0, 1, 2}
    assert float(item["image"].min()) >= 0.0 and float(item["image"].max()) <= 1.0


def test_knee3d_kfold_is_by_volume(data_root):
    cases = open_source("knee3d", root=data_root).cases()
    tests = []
    for fold in range(5):
        parts = partition(cases, fold=fold, num_folds=5)
        assert len(parts["test"]) == 1 and len(parts["train"]) == 4
        tests.append(parts["test"][0].case_id)
    assert tests == ["case1", "case2", "case3", "case4", "case5"]


def test_knee2d_split_by_volume_never_by_slice(data_root):
    cases = open_source("knee2d", root=data_root).cases()
    for kw in ({}, {"val_fraction": 0.25}, {"fold": 1, "num_folds": 5}):
        parts = partition(cases, **kw)
        seen = [_groups(parts[s]) for s in ("train", "val", "test")]
        assert not (seen[0] & seen[1] or seen[0] & seen[2] or seen[1] & seen[2])
    assert all(re.fullmatch(r"case\d+_s\d{3}", c.case_id) for c in cases)


def test_knee2d_slices_keep_foreground_and_a_few_empty(data_root):
    ds = load_split("knee2d", "test", root=data_root, size=(32, 48))
    assert {c.split("_")[0] for c in ds.case_ids} == {"case5"}
    assert ds[0]["image"].shape == (1, 32, 48)
    has_fg = (ds.labels.flatten(1) > 0).any(dim=1)
    assert 0 < int((~has_fg).sum()) <= 0.1 * len(ds)
    assert set(ds.labels.unique().tolist()) == {0, 1, 2}
