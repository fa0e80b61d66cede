"""Prepared arrays (`bench data prepare`) give bit-identical splits to the raw files, on a small
copy of real GlaS cases (train, testA, testB; two image sizes) in a temporary data root."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from benchmarks.cli import app
from benchmarks.data import load_split, open_source
from benchmarks.data.prepared import PreparedSource
from benchmarks.errors import DataError

CASES = ("train_1", "train_2", "train_3", "train_4", "testA_1", "testB_1")


@pytest.fixture(scope="module")
def roots(glas_dir: Path, tmp_path_factory) -> tuple[Path, Path]:
    """(raw root with a few real GlaS cases, prepared root made by `bench data prepare`)."""
    raw = tmp_path_factory.mktemp("raw")
    for sub in ("images", "masks"):
        (raw / "glas" / sub).mkdir(parents=True)
        for case in CASES:
            shutil.copy(glas_dir / sub / f"{case}.png", raw / "glas" / sub / f"{case}.png")
    out = tmp_path_factory.mktemp("prepared")
    res = CliRunner().invoke(
        app,
        [
            "data",
            "prepare",
            "glas",
            "--profile",
            "quick",
            "--out",
            str(out),
            "--data-root",
            str(raw),
        ],
    )
    assert res.exit_code == 0, res.output
    # Rich wraps at the console width, inside words too (long tmp paths): unwrap first
    assert "raw files sha256" in res.output.replace("\n", "")
    assert (out / "prepared" / "glas" / "128x128_area_auto.npz").is_file()
    return raw, out


def _same(a, b) -> None:
    assert a.case_ids == b.case_ids
    assert torch.equal(a.images, b.images)
    assert torch.equal(a.labels, b.labels)
    assert (a.native_labels is None) == (b.native_labels is None)
    for x, y in zip(a.native_labels or [], b.native_labels or [], strict=True):
        assert (x is None and y is None) or torch.equal(x, y)
    assert a.spacings == b.spacings


@pytest.mark.parametrize(
    "split,val", [("train", 0.0), ("test", 0.0), ("val", 0.25), ("train", 0.25)]
)
def test_prepared_split_is_bit_identical(roots, split, val) -> None:
    raw, prepared = roots
    kw = dict(size=(128, 128), val_fraction=val, image_resize="area", intensity="auto")
    from_raw = load_split("glas", split, root=raw, **kw)
    from_prep = load_split("glas", split, root=prepared, **kw)
    _same(from_raw, from_prep)
    if split == "test":  # native labels (775x522 etc.) travel with the arrays
        assert from_prep.native_labels and from_prep.native_labels[0].shape[-2:] != (128, 128)


def test_prepared_source_is_chosen_only_without_raw_files(roots) -> None:
    raw, prepared = roots
    assert isinstance(open_source("glas", root=prepared), PreparedSource)
    assert not isinstance(open_source("glas", root=raw), PreparedSource)


def test_other_variant_is_a_clear_error(roots) -> None:
    _, prepared = roots
    with pytest.raises(DataError, match=r"64x64_area_auto\.npz: not prepared \(have 128x128"):
        load_split("glas", "train", root=prepared, size=(64, 64))
    with pytest.raises(DataError, match="resized arrays only"):
        next(iter(open_source("glas", root=prepared).load([], None)))


def test_raw_files_win_where_the_dataset_keeps_them(knee_dir, tmp_path) -> None:
    """knee3d's raw files live in <root>/knee: a prepared/knee3d beside them is not used."""
    (tmp_path / "knee").symlink_to(knee_dir)
    (tmp_path / "prepared" / "knee3d").mkdir(parents=True)  # empty: would raise if chosen
    assert not isinstance(open_source("knee3d", root=tmp_path), PreparedSource)


def test_the_raw_files_fingerprint_is_reported(roots) -> None:
    _, prepared = roots
    note = open_source("glas", root=prepared).notes[0]
    assert "raw files sha256 " in note and len(note.split("sha256 ")[1].rstrip(")")) == 16
