"""The preprocessing switches (image_resize, intensity, augmentation) act, on hand-computed arrays,
through load_split, and through a profile's [data] table."""

from __future__ import annotations

import pytest
import torch
from monai.transforms import RandRotate90d

from benchmarks.data import SegDataset, get_info, load_split
from benchmarks.data.transforms import augmentation, resize_image, scale_intensity
from benchmarks.errors import ConfigError
from benchmarks.pipeline import JobSpec, job_configs
from benchmarks.profiles import load_profile


def test_minmax_intensity_by_hand():
    img = torch.tensor([[[0.2, 0.4], [0.6, 1.0]]])
    assert scale_intensity(img, "minmax").flatten().tolist() == pytest.approx([0, 0.25, 0.5, 1])
    assert torch.equal(scale_intensity(img, "auto"), img)
    two = torch.stack([img[0], img[0] / 2])  # one min / max over all channels
    assert scale_intensity(two, "minmax")[1].max().item() == pytest.approx(
        (0.5 - 0.1) / 0.9
    )  # min 0.1, max 1.0
    assert torch.equal(scale_intensity(torch.full((1, 2, 2), 0.3), "minmax"), torch.zeros(1, 2, 2))


def test_nearest_and_area_resize_by_hand():
    img = torch.arange(16.0).reshape(1, 4, 4) / 15
    nearest = resize_image(img, (2, 2), "nearest") * 15  # pixel centres 1 and 3
    area = resize_image(img, (2, 2), "area") * 15  # 2x2 means
    assert nearest.flatten().tolist() == pytest.approx([5, 7, 13, 15])
    assert area.flatten().tolist() == pytest.approx([2.5, 4.5, 10.5, 12.5])
    up = resize_image(img[:, :2, :2], (4, 4), "nearest") * 15  # values stay source values
    assert set(up.flatten().round().tolist()) == {0.0, 1.0, 4.0, 5.0}


def _outputs(kind: str, seeds=range(48)) -> list[torch.Tensor]:
    image = torch.arange(9.0).reshape(1, 3, 3)
    t = augmentation(2, (3, 3), kind)
    out = []
    for seed in seeds:
        t.set_random_state(seed=seed)
        out.append(t({"image": image, "label": image.clone()})["image"].as_tensor())
    return out


def test_flips_only_never_rotates():
    image = torch.arange(9.0).reshape(1, 3, 3)
    flips = [image, image.flip(1), image.flip(2), image.flip(1, 2)]
    assert not any(
        isinstance(t, RandRotate90d) for t in augmentation(2, (3, 3), "flips").transforms
    )
    seen = _outputs("flips")
    assert all(any(torch.equal(o, f) for f in flips) for o in seen)
    assert len({tuple(o.flatten().tolist()) for o in seen}) == 4  # every flip combination
    rotated = _outputs("flips_rot90")
    assert any(not any(torch.equal(o, f) for f in flips) for o in rotated)  # a 90-degree turn
    assert augmentation(2, (3, 3), "none") is None


def test_augmentation_none_keeps_batches_unchanged():
    labels = torch.randint(0, 2, (4, 1, 8, 8), generator=torch.Generator().manual_seed(0))
    ds = SegDataset(
        get_info("synth2d"), list("abcd"), labels.float(), labels, augment=True, augmentation="none"
    )
    assert torch.equal(ds.batch(range(4), aug_seed=3)["image"], ds.images)


def test_load_split_applies_preprocessing():
    kw = dict(size=(32, 32), limit=3)
    ref = load_split("synth2d", "test", image_resize="nearest", intensity="minmax", **kw)
    for img in ref.images:
        assert img.min().item() == 0.0 and img.max().item() == 1.0
    plain = load_split("synth2d", "test", **kw)
    assert not torch.equal(plain.images, ref.images)
    aug = load_split("synth2d", "train", augment=True, augmentation="flips", **kw)
    assert not any(isinstance(t, RandRotate90d) for t in aug._transform.transforms)


def test_profile_data_table_sets_every_dataset(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text(
        '[data]\nimage_resize = "nearest"\nintensity = "minmax"\naugmentation = "flips"\n'
        "[datasets.synth2d]\nsize = [32, 32]\n[datasets.synth3d]\nsize = [16, 16, 16]\n"
        'augmentation = "none"\n'
    )
    prof = load_profile(str(path))
    assert prof.dataset("synth2d").image_resize == "nearest"
    assert prof.dataset("synth2d").augmentation == "flips"
    assert prof.dataset("synth3d").augmentation == "none"  # the dataset's own key wins
    assert prof.dataset("synth3d").intensity == "minmax"
    cfg = job_configs(JobSpec("unet", "synth2d", str(path)), prof)
    assert cfg["dataset"]["intensity"] == "minmax"  # part of the training identity
    path.write_text('[data]\nresize = "nearest"\n[datasets.synth2d]\nsize = [32, 32]\n')
    with pytest.raises(ConfigError, match="data: unknown key"):
        load_profile(str(path))
    path.write_text('[data]\nintensity = "zscore"\n[datasets.synth2d]\nsize = [32, 32]\n')
    with pytest.raises(ConfigError, match="intensity"):
        load_profile(str(path))
