"""SYNTHETIC datasets, generated on the fly and deterministic from the seed (no files).

- `synth2d` / `synth3d`: one bright disk/square (ball/cube) of random position and radius on a
  textured, noisy background; binary. Tiny, so a small net learns it in seconds (tests, smoke).
- `echo-synth`: a SYNTHETIC stand-in for the paper's private echocardiography set (it is NOT echo
  data): an apical two-chamber phantom in a sector-shaped field of view, a bullet-shaped LV cavity
  near the transducer and a smaller LA cavity below it meeting at the mitral plane, a myocardial
  wall with tissue texture, multiplicative Rayleigh speckle, blur and depth attenuation, and a
  random pose and size per case. Classes: background, LV, LA; combined column "LV+LA".

Cases are generated directly at the requested size from normalised coordinates, so the anatomy of
a case does not depend on the size (only the pixel noise does). Each case has its own generator
seeded from (seed, dataset, split, index). `seed` draws the training cases only; the test cases
are always the same (seed 0), so every training seed is scored on the same test set.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np
from scipy.ndimage import gaussian_filter

from benchmarks.data.base import Case, DatasetInfo, Sample, Source

Generator = Callable[[np.random.Generator, tuple[int, ...]], tuple[np.ndarray, np.ndarray]]


def _grid(size: tuple[int, ...]) -> list[np.ndarray]:
    return np.meshgrid(*[np.linspace(-1.0, 1.0, n) for n in size], indexing="ij")


def shape_phantom(rng: np.random.Generator, size: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """A disk or square (2D) / ball or cube (3D) on a textured noisy background."""
    coords = _grid(size)
    centre = rng.uniform(-0.45, 0.45, len(size))
    radius = rng.uniform(0.25, 0.5)
    offsets = [c - m for c, m in zip(coords, centre, strict=True)]
    if rng.random() < 0.5:
        inside = sum(o**2 for o in offsets) <= radius**2
    else:
        inside = np.max(np.abs(np.stack(offsets)), axis=0) <= radius * 0.85
    freq, phase = rng.uniform(2.0, 5.0, len(size)), rng.uniform(0, 2 * np.pi, len(size))
    texture = np.prod(
        [np.sin(f * np.pi * c + p) for f, c, p in zip(freq, coords, phase, strict=True)], axis=0
    )
    image = 0.3 + 0.35 * inside + 0.06 * texture + rng.normal(0.0, 0.06, size)
    return np.clip(image, 0.0, 1.0).astype(np.float32)[None], inside.astype(np.uint8)


def echo_phantom(rng: np.random.Generator, size: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """SYNTHETIC apical two-chamber echo frame: (image (1, H, W), label {0 bg, 1 LV, 2 LA})."""
    h, w = size
    y, x = _grid(size)
    apex_x, apex_y = rng.uniform(-0.05, 0.05), -1.0
    dx, dy = x - apex_x, y - apex_y
    r, angle = np.hypot(dx, dy), np.arctan2(dx, dy)  # angle 0 = straight down from the probe
    sector = (r <= rng.uniform(1.85, 1.98)) & (np.abs(angle) <= np.deg2rad(rng.uniform(36, 42)))

    theta = np.deg2rad(rng.uniform(-12, 12))  # heart axis, tilted from the beam centre line
    ux, uy = np.sin(theta), np.cos(theta)
    along, across = dx * ux + dy * uy, dx * uy - dy * ux  # distance from probe / from the axis

    lv_a, lv_b = rng.uniform(0.38, 0.5), rng.uniform(0.19, 0.26)
    lv_c = rng.uniform(0.66, 0.78)  # probe -> LV centre
    mitral = lv_c + 0.92 * lv_a  # the mitral plane: LV above, LA below
    la_a, la_b = lv_a * rng.uniform(0.5, 0.65), lv_b * rng.uniform(0.8, 1.0)
    la_c = mitral + 0.9 * la_a
    wall = rng.uniform(0.06, 0.1)

    def ellipse(centre: float, a: float, b: float, taper: float = 0.0) -> np.ndarray:
        p = (along - centre) / a
        width = b * (1.0 + taper * np.clip(p, -1.0, 1.0))  # taper > 0: narrower at the apex
        return p**2 + (across / width) ** 2

    lv = (ellipse(lv_c, lv_a, lv_b, 0.2) <= 1.0) & (along < mitral)
    la = (ellipse(la_c, la_a, la_b) <= 1.0) & (along >= mitral)
    myo = (ellipse(lv_c, lv_a + wall, lv_b + wall, 0.2) <= 1.0) & ~lv & (along < mitral + 0.02)
    la_wall = (ellipse(la_c, la_a + wall / 2, la_b + wall / 2) <= 1.0) & ~la & ~lv & ~myo

    # reflectivity: tissue, bright myocardium with fibre texture, dark blood pools, valve annulus
    px = max(1.0, h / 128.0)
    tissue = gaussian_filter(rng.normal(0.0, 1.0, size), 6 * px)
    refl = 0.22 + 0.35 * tissue / (np.abs(tissue).max() + 1e-6)
    fibres = 0.5 + 0.5 * np.sin(
        rng.uniform(25, 40) * across + 8 * gaussian_filter(rng.normal(0, 1, size), 3 * px)
    )
    refl = np.where(myo, 0.65 + 0.25 * fibres, refl)
    refl = np.where(la_wall, 0.55, refl)
    refl = np.where(lv | la, 0.03, refl)
    annulus = (np.abs(along - mitral) < 0.03) & (np.abs(np.abs(across) - lv_b) < 0.06)
    refl = np.where(annulus, 0.95, refl)
    refl = gaussian_filter(refl, 0.8 * px)

    speckle = gaussian_filter(rng.rayleigh(np.sqrt(2.0 / np.pi), size), 0.6 * px)
    speckle /= speckle.mean()
    image = refl * speckle * np.exp(-rng.uniform(0.15, 0.35) * r) * rng.uniform(0.9, 1.1)
    image = np.log1p(8.0 * np.clip(image, 0, None)) / np.log1p(8.0)  # log compression
    image = np.clip(image + rng.normal(0.0, 0.02, size), 0.0, 1.0) * sector
    label = np.zeros(size, np.uint8)
    label[lv & sector] = 1
    label[la & sector] = 2
    return image.astype(np.float32)[None], label


class SyntheticSource(Source):
    """Cases train_000.. and test_000.., generated on demand from (seed, name, split, index)."""

    def __init__(
        self,
        info: DatasetInfo,
        generator: Generator,
        native_size: tuple[int, ...],
        n_train: int,
        n_test: int,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.info, self.generator, self.native_size = info, generator, native_size
        self.n_train, self.n_test, self.seed = n_train, n_test, int(seed)
        self._salt = sum(ord(ch) * 31**i for i, ch in enumerate(info.name)) % (2**31)
        self.notes.append(f"SYNTHETIC: training cases from seed {self.seed}, no files are read")

    def cases(self) -> list[Case]:
        out = []
        for split, n in (("train", self.n_train), ("test", self.n_test)):
            out += [Case(f"{split}_{i:03d}", f"{split}_{i:03d}", split, index=i) for i in range(n)]
        return out

    def load(self, cases: Sequence[Case], size: tuple[int, ...] | None) -> Iterator[Sample]:
        size = tuple(size or self.native_size)
        for case in cases:
            # the test set never depends on the seed: every seed is scored on the same cases
            split_code, seed = (0, self.seed) if case.split == "train" else (1, 0)
            rng = np.random.default_rng([seed, self._salt, split_code, case.index])
            image, label = self.generator(rng, size)
            yield Sample(case.case_id, image, label)


def _info(name: str, dims: int, classes: tuple[str, ...], description: str, **kw) -> DatasetInfo:
    return DatasetInfo(
        name=name,
        spatial_dims=dims,
        in_channels=1,
        num_classes=len(classes),
        class_names=classes,
        combined=kw.get("combined"),
        combined_name=kw.get("combined_name"),
        synthetic=True,
        description=description,
        needs_root=False,
    )


SYNTH2D_INFO = _info(
    "synth2d", 2, ("background", "shape"), "SYNTHETIC 2D disk/square on noise (tests, smoke)"
)
SYNTH3D_INFO = _info(
    "synth3d", 3, ("background", "shape"), "SYNTHETIC 3D ball/cube on noise (tests, smoke)"
)
ECHO_INFO = _info(
    "echo-synth",
    2,
    ("background", "LV", "LA"),
    "SYNTHETIC apical two-chamber echo phantom (stand-in for the private echo set; not echo data)",
    combined=(1, 2),
    combined_name="LV+LA",
)


def open_synth2d(root=None, path=None, seed: int = 0) -> SyntheticSource:
    return SyntheticSource(SYNTH2D_INFO, shape_phantom, (32, 32), 32, 8, seed)


def open_synth3d(root=None, path=None, seed: int = 0) -> SyntheticSource:
    return SyntheticSource(SYNTH3D_INFO, shape_phantom, (32, 32, 32), 32, 8, seed)


def open_echo(root=None, path=None, seed: int = 0) -> SyntheticSource:
    return SyntheticSource(ECHO_INFO, echo_phantom, (128, 128), 200, 50, seed)
