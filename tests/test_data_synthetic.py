"""Synthetic datasets: sizes, classes, determinism; registry errors."""

from __future__ import annotations

import pytest
import torch

from benchmarks.data import DATASETS, get_info, load_split
from benchmarks.errors import ConfigError


def test_registry_names_and_unknown_name_lists_valid_ones():
    assert {"glas", "knee3d", "knee2d", "echo-synth", "synth2d", "synth3d", "folder"} <= set(
        DATASETS
    )
    with pytest.raises(ConfigError, match="valid datasets: .*glas.*synth2d"):
        get_info("nope")
    with pytest.raises(ConfigError, match="needs path"):
        get_info("folder")


def test_synth2d_defaults_and_ranges():
    train = load_split("synth2d", "train", size=(32, 32))
    test = load_split("synth2d", "test", size=(32, 32))
    assert len(train) == 32 and len(test) == 8
    assert not set(train.case_ids) & set(test.case_ids)
    assert train.info.needs_root is False and train.info.synthetic
    assert train.images.shape == (32, 1, 32, 32)
    assert 0.0 <= float(train.images.min()) and float(train.images.max()) <= 1.0
    assert set(train.labels.unique().tolist()) == {0, 1}
    # the shape is brighter than the background: a tiny net can learn it
    fg = train.images[train.labels.bool()].mean()
    bg = train.images[~train.labels.bool()].mean()
    assert fg - bg > 0.2


def test_synth3d_shapes():
    ds = load_split("synth3d", "train", size=(16, 16, 16), limit=4)
    assert ds.info.spatial_dims == 3 and ds.batch([0, 1])["image"].shape == (2, 1, 16, 16, 16)
    assert all(int(ds.labels[i].sum()) > 0 for i in range(4))


def test_synthetic_determinism_and_seed():
    a = load_split("synth2d", "train", size=(24, 24), limit=3, seed=1)
    b = load_split("synth2d", "train", size=(24, 24), limit=3, seed=1)
    c = load_split("synth2d", "train", size=(24, 24), limit=3, seed=2)
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    assert not torch.equal(a.images, c.images)  # the seed draws new training cases
    t1 = load_split("synth2d", "test", size=(24, 24), limit=3, seed=1)
    t2 = load_split("synth2d", "test", size=(24, 24), limit=3, seed=2)
    assert torch.equal(t1.images, t2.images)  # ... but never a new test set


def test_echo_synth_three_classes_deterministic():
    info = get_info("echo-synth")
    assert info.class_names == ("background", "LV", "LA")
    assert info.combined == (1, 2) and info.combined_name == "LV+LA"
    assert info.synthetic and not info.needs_root and "SYNTHETIC" in info.description
    a = load_split("echo-synth", "test", size=(64, 64), limit=4)
    b = load_split("echo-synth", "test", size=(64, 64), limit=4)
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    for i in range(4):
        counts = torch.bincount(a.labels[i].flatten().long(), minlength=3)
        assert counts[1] > counts[2] > 0  # LV larger than LA, both present
    # LA lies below the LV (further from the probe at the top)
    rows = torch.arange(64).view(64, 1)
    lab = a.labels[0, 0]
    assert (rows * (lab == 2)).sum() / (lab == 2).sum() > (rows * (lab == 1)).sum() / (
        lab == 1
    ).sum()
    assert not torch.equal(a.images[0], a.images[1])  # random pose per case


def test_echo_synth_counts():
    from benchmarks.data import open_source
    from benchmarks.data.splits import partition

    parts = partition(open_source("echo-synth").cases())
    assert (len(parts["train"]), len(parts["test"])) == (200, 50)


def test_size_must_match_dims_and_split_names():
    with pytest.raises(ConfigError, match=r"3D: size must be \(D, H, W\)"):
        load_split("synth3d", "train", size=(16, 16))
    with pytest.raises(ConfigError, match="valid splits"):
        load_split("synth2d", "training", size=(16, 16))
    with pytest.raises(ConfigError, match="val_fraction"):
        load_split("synth2d", "val", size=(16, 16))


def test_val_fraction_carves_train():
    train = load_split("synth2d", "train", size=(16, 16), val_fraction=0.25)
    val = load_split("synth2d", "val", size=(16, 16), val_fraction=0.25)
    assert len(train) == 24 and len(val) == 8 and not set(train.case_ids) & set(val.case_ids)
