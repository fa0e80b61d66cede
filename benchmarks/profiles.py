"""Profiles (smoke / quick / paper) are data: TOML files in ``benchmarks/profiles/``.

A profile fixes, per dataset, the image size and loader options, the training budget (the same
number of optimiser steps for every method unless a method's table says otherwise), the
evaluation sampler settings, and per-method config overrides. Users add their own profile by
passing a path to a TOML file instead of a name. Every key is checked: a typo is an error.
"""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Annotated, Any, Literal

from annotated_types import MaxLen, MinLen

from benchmarks.configs import from_dict, merge
from benchmarks.data.base import Augmentation, ImageResize, Intensity
from benchmarks.errors import ConfigError
from benchmarks.paths import check_name
from benchmarks.train import TrainConfig
from ldseg.config import PositiveInt, Probability, Seed

PROFILE_DIR = Path(__file__).with_name("profiles")


@dataclass(frozen=True)
class EvalConfig:
    """How test predictions are made (sampling methods only use the sampler keys)."""

    sampler: Literal["ddim", "ddpm"] = "ddim"
    num_inference_steps: PositiveInt = 2
    num_samples: PositiveInt = 1
    batch_size: PositiveInt = 8
    hd95: bool = True
    native_resolution: bool = True  # also score each test case at its file size and spacing
    seed: Seed = 1234  # the sampler's generator seed (test-time noise)


@dataclass(frozen=True)
class DatasetSettings:
    size: Annotated[tuple[PositiveInt, ...], MinLen(2), MaxLen(3)]
    limit: PositiveInt | None = None  # keep the first N cases of each split (smoke tests)
    val_fraction: Probability = 0.0
    # TrainConfig overrides for every method on this dataset (e.g. a smaller 3D budget);
    # [method_train.NAME] still wins
    train: dict[str, Any] = field(default_factory=dict)
    # preprocessing (benchmarks/data/transforms.py); the reference code: "nearest", "minmax",
    # "flips" (2D) / "none" (3D). A profile's [data] table sets them for every dataset.
    image_resize: ImageResize = "area"
    intensity: Intensity = "auto"
    augmentation: Augmentation = "flips_rot90"


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    datasets: dict[str, DatasetSettings]
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    methods: dict[str, dict[str, Any]] = field(default_factory=dict)
    method_train: dict[str, dict[str, Any]] = field(default_factory=dict)
    method_eval: dict[str, dict[str, Any]] = field(default_factory=dict)
    # experiment settings (seeds, steps lists, runtime sizes, ...): keys of
    # benchmarks.experiments.ExperimentSettings, checked there
    experiments: dict[str, Any] = field(default_factory=dict)

    def dataset(self, name: str) -> DatasetSettings:
        if name not in self.datasets:
            raise ConfigError(
                f"profile {self.name!r} has no settings for dataset {name!r}; it covers: "
                f"{', '.join(sorted(self.datasets))}"
            )
        return self.datasets[name]

    def for_dataset(
        self, name: str, spatial_dims: int, size: tuple[int, ...] | None = None
    ) -> Profile:
        """This profile with ``datasets[name]`` resolved for one job: ``[datasets."NAME@3d"]``
        (layered on [datasets.NAME] at load time) when the data is 3D, then ``size`` (``bench
        train --size``) over the profile's size. Other datasets are untouched; idempotent."""
        key = f"{name}@3d"
        ds = (
            self.datasets[key] if spatial_dims == 3 and key in self.datasets else self.dataset(name)
        )
        if size is not None:
            ds = replace(ds, size=tuple(size))
        if len(ds.size) != spatial_dims:
            axes = "H,W" if spatial_dims == 2 else "D,H,W"
            if size is not None:
                raise ConfigError(
                    f"--size {list(size)}: the {name} data here is {spatial_dims}D; give {axes}"
                )
            raise ConfigError(
                f"profile {self.name!r}: {name} size {list(ds.size)}, but the data here is "
                f'{spatial_dims}D; pass --size {axes} or add [datasets."{key}"] to the profile'
            )
        rest = {k: v for k, v in self.datasets.items() if k not in (name, key)}
        return replace(self, datasets={**rest, name: ds})

    def method_overrides(self, method: str, spatial_dims: int) -> dict[str, Any]:
        """[methods.NAME] merged with [methods."NAME@3d"] for 3D datasets."""
        base = dict(self.methods.get(method, {}))
        if spatial_dims == 3:
            base = merge(base, self.methods.get(f"{method}@3d", {}))
        return base

    def train_config(
        self, method: str, seed: int | None = None, dataset: str | None = None
    ) -> TrainConfig:
        from benchmarks.methods import train_defaults

        per_dataset = self.datasets[dataset].train if dataset in self.datasets else {}
        cfg = merge(merge(train_defaults(method), per_dataset), self.method_train.get(method, {}))
        out = from_dict(TrainConfig, merge(asdict(self.train), cfg), where=f"method_train.{method}")
        return replace(out, seed=seed) if seed is not None else out

    def eval_config(self, method: str, **overrides: Any) -> EvalConfig:
        cfg = merge(
            self.method_eval.get(method, {}), {k: v for k, v in overrides.items() if v is not None}
        )
        return from_dict(EvalConfig, merge(asdict(self.eval), cfg), where=f"method_eval.{method}")


def parse_size(text: str | None) -> tuple[int, ...] | None:
    """``--size`` "H,W" or "D,H,W" (``x`` also separates) -> a tuple; None stays None."""
    if text is None:
        return None
    parts = text.replace("x", ",").split(",")
    try:
        size = tuple(int(p) for p in parts)
    except ValueError:
        size = ()
    if len(size) not in (2, 3) or min(size) < 1:
        raise ConfigError(f"--size {text!r}: expected H,W or D,H,W of positive integers")
    return size


def available() -> list[str]:
    return sorted(p.stem for p in PROFILE_DIR.glob("*.toml"))


TABLES = (
    "name",
    "description",
    "datasets",
    "data",
    "train",
    "eval",
    "methods",
    "method_train",
    "method_eval",
    "experiments",
)


def load_profile(name_or_path: str) -> Profile:
    """A shipped profile by name, or a TOML file by path; every key and value is checked here
    (types, choices, ranges, table names), so a bad profile fails before any work starts."""
    path = _profile_path(name_or_path)
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML ({err})") from err
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: cannot read the profile ({err})") from None
    return _parse(data, path)


def _profile_path(name_or_path: str) -> Path:
    unknown = ConfigError(
        f"unknown profile {name_or_path!r}; valid: {', '.join(available())} "
        f"or a path to a .toml file"
    )
    path = Path(name_or_path)
    if path.suffix != ".toml":
        if not _is_name(name_or_path):
            raise unknown
        path = PROFILE_DIR / f"{name_or_path}.toml"
    try:
        found = path.is_file()
    except (OSError, ValueError):  # e.g. an embedded NUL byte, a name too long
        found = False
    if not found:
        raise unknown
    return path


def _is_name(text: str) -> bool:
    try:
        check_name(text)
    except ConfigError:
        return False
    return True


def _parse(data: dict[str, Any], path: Path) -> Profile:
    from benchmarks.experiment_settings import ExperimentSettings

    f = path.name
    unknown = sorted(set(data) - set(TABLES))
    if unknown:
        raise ConfigError(f"{path}: unknown table(s) {unknown}; valid: {sorted(TABLES)}")
    for key in TABLES[2:]:
        if not isinstance(data.get(key, {}), dict):
            raise ConfigError(f"{f}: {key}: expected a table, got {data[key]!r}")
    name = data.get("name", path.stem)
    check_name(name, f"{f}: name" if "name" in data else f"{f}: profile name (the file name)")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise ConfigError(f"{f}: description: expected a string, got {description!r}")
    train = from_dict(TrainConfig, data.get("train", {}), where=f"{f}: train")
    ev = from_dict(EvalConfig, data.get("eval", {}), where=f"{f}: eval")
    defaults = data.get("data", {})  # preprocessing keys shared by every [datasets.X]
    bad = sorted(set(defaults) - {"image_resize", "intensity", "augmentation"})
    if bad:
        raise ConfigError(
            f"{f}: data: unknown key(s) {bad}; valid keys: augmentation, image_resize, intensity"
        )
    raw = {
        k: merge(defaults, v) if isinstance(v, dict) and "@" not in k else v
        for k, v in data.get("datasets", {}).items()
    }
    datasets = {k: _dataset_settings(k, v, train, f, raw) for k, v in raw.items()}
    methods = data.get("methods", {})
    method_train = data.get("method_train", {})
    method_eval = data.get("method_eval", {})
    _check_method_tables(f, train, ev, methods, method_train, method_eval)
    experiments = data.get("experiments", {})
    from_dict(
        ExperimentSettings,
        merge(asdict(ExperimentSettings()), experiments),
        where=f"{f}: experiments",
    )
    return Profile(
        name=name,
        description=description,
        datasets=datasets,
        train=train,
        eval=ev,
        methods=methods,
        method_train=method_train,
        method_eval=method_eval,
        experiments=experiments,
    )


def _dataset_settings(
    key: str, table: Any, train: TrainConfig, f: str, raw: dict[str, Any]
) -> DatasetSettings:
    """[datasets.NAME]; ``[datasets."NAME@3d"]`` is layered on [datasets.NAME] (as
    ``[methods."NAME@3d"]``) and only exists for a dataset whose dims come from its files
    (``folder``): its settings when the files are 3D."""
    from benchmarks.data.registry import get_entry

    where = f"{f}: datasets.{key}"
    name, at, suffix = key.partition("@")
    try:
        entry = get_entry(name)
    except ConfigError as err:
        raise ConfigError(f"{where}: {err}") from None
    if at and (suffix != "3d" or entry.info is not None):
        raise ConfigError(
            f"{where}: unknown suffix @{suffix}; NAME@3d is only read for datasets whose "
            f"files decide 2D or 3D (folder)"
        )
    base = raw.get(name, {}) if at else {}
    if at and isinstance(table, dict) and isinstance(base, dict):
        table = merge(base, table)
    ds = from_dict(DatasetSettings, table, where=where)
    dims = entry.info.spatial_dims if entry.info is not None else 3 if at else None
    if dims is not None and len(ds.size) != dims:
        axes = "[H, W]" if dims == 2 else "[D, H, W]"
        raise ConfigError(f"{where}.size: {key} is {dims}D, size must be {axes}, got {ds.size}")
    from_dict(TrainConfig, merge(asdict(train), ds.train), where=f"{where}.train")
    return ds


def _check_method_tables(
    f: str,
    train: TrainConfig,
    ev: EvalConfig,
    methods: dict[str, Any],
    method_train: dict[str, Any],
    method_eval: dict[str, Any],
) -> None:
    """Every [methods.X] / [method_train.X] / [method_eval.X] names a registered method and is
    valid for it (the method's config class, TrainConfig, EvalConfig), checked now rather than
    when the method's first job starts. ``[methods."X@3d"]`` (layered on [methods.X] for 3D
    datasets) is the only suffix, and only for a method that runs in 3D."""
    from benchmarks.methods import get_spec, train_defaults

    def spec(table: str, key: str, allow_3d: bool):
        name, at, suffix = key.partition("@")
        if at and not (allow_3d and suffix == "3d"):
            hint = "; NAME@3d is only read in [methods]" if suffix == "3d" else ""
            raise ConfigError(f"{f}: {table}.{key}: unknown suffix @{suffix}{hint}")
        try:
            out = get_spec(name)
        except ConfigError as err:
            raise ConfigError(f"{f}: {table}.{key}: {err}") from None
        if at and 3 not in out.dims:
            raise ConfigError(f"{f}: {table}.{key}: {name} runs in 2D only")
        return out

    for key, table in methods.items():
        cls = spec("methods", key, allow_3d=True).config_cls
        base = methods.get(key.partition("@")[0], {}) if "@" in key else {}
        if "@" in key and not isinstance(base, dict):
            continue  # reported under its own key
        layered = merge(base, table) if isinstance(table, dict) else table
        from_dict(cls, layered, where=f"{f}: methods.{key}")
    for key, table in method_train.items():
        spec("method_train", key, allow_3d=False)
        layered = merge(merge(asdict(train), train_defaults(key)), _table(table, f, key))
        from_dict(TrainConfig, layered, where=f"{f}: method_train.{key}")
    for key, table in method_eval.items():
        spec("method_eval", key, allow_3d=False)
        layered = merge(asdict(ev), _table(table, f, key, "method_eval"))
        from_dict(EvalConfig, layered, where=f"{f}: method_eval.{key}")


def _table(value: Any, f: str, key: str, table: str = "method_train") -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{f}: {table}.{key}: expected a table, got {value!r}")
    return value
