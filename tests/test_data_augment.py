"""Augmentation determinism / alignment and in-memory caching."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from benchmarks.data import SegDataset, folder, get_info, load_split, readers


def _aligned(dims: int, size: tuple[int, ...], n: int = 6) -> SegDataset:
    """A dataset whose image equals its label, with an asymmetric pattern."""
    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 3, (n, 1, *size), generator=g, dtype=torch.uint8)
    info = get_info("synth2d" if dims == 2 else "synth3d")
    return SegDataset(info, [f"c{i}" for i in range(n)], labels.float() / 2, labels, augment=True)


@pytest.mark.parametrize(("dims", "size"), [(2, (8, 8)), (2, (6, 10)), (3, (4, 6, 6))])
def test_same_seed_same_batch_and_labels_stay_aligned(dims, size):
    ds = _aligned(dims, size)
    a, b = ds.batch([0, 1, 2, 3], aug_seed=7), ds.batch([0, 1, 2, 3], aug_seed=7)
    assert torch.equal(a["image"], b["image"]) and torch.equal(a["label"], b["label"])
    assert a["image"].shape == (4, 1, *size) and a["label"].dtype == torch.int64
    for batch in (a, ds.batch([0, 1, 2, 3], aug_seed=8)):
        assert torch.equal(batch["image"] * 2, batch["label"].float())  # still aligned


def test_different_seed_different_batch_and_no_seed_no_augmentation():
    ds = _aligned(2, (8, 8))
    plain = ds.batch(range(6))
    assert torch.equal(plain["image"], ds.images)  # aug_seed=None: no augmentation
    batches = [ds.batch(range(6), aug_seed=s)["image"] for s in range(4)]
    assert any(not torch.equal(batches[0], other) for other in batches[1:])
    assert any(not torch.equal(b, plain["image"]) for b in batches)
    # the item view is never augmented
    assert torch.equal(ds[1]["image"], ds.images[1])


def test_augmentation_depends_on_position_not_rng_state():
    ds = _aligned(2, (8, 8))
    torch.manual_seed(123)
    np.random.seed(123)
    a = ds.batch([0, 1], aug_seed=5)
    torch.manual_seed(999)
    np.random.seed(999)
    b = ds.batch([0, 1], aug_seed=5)
    assert torch.equal(a["image"], b["image"])


def test_augment_false_ignores_seed():
    ds = load_split("synth2d", "train", size=(16, 16), limit=4, augment=False)
    assert torch.equal(ds.batch([0, 1], aug_seed=3)["image"], ds.images[:2])


def test_cached_in_memory_no_file_access_after_construction(tmp_path, monkeypatch):
    for sub in ("images", "masks"):
        (tmp_path / sub).mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 255, (20, 24, 3), dtype=np.uint8)).save(
            tmp_path / "images" / f"c{i}.png"
        )
        Image.fromarray((rng.random((20, 24)) > 0.5).astype(np.uint8) * 255).save(
            tmp_path / "masks" / f"c{i}.png"
        )
    ds = load_split("folder", "train", path=tmp_path, size=(16, 16), augment=True)
    before = ds.batch(range(len(ds)), aug_seed=1)

    def boom(*args, **kwargs):
        raise AssertionError("file read after construction")

    monkeypatch.setattr(readers, "read_array", boom)
    monkeypatch.setattr(folder, "read_array", boom)
    for sub in ("images", "masks"):
        for f in (tmp_path / sub).iterdir():
            f.unlink()
    after = ds.batch(range(len(ds)), aug_seed=1)
    assert torch.equal(before["image"], after["image"]) and ds[0]["case_id"] == "c0"
