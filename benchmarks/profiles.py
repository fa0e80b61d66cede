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
from typing import Any

from benchmarks.configs import from_dict, merge
from benchmarks.errors import ConfigError
from benchmarks.train import TrainConfig

PROFILE_DIR = Path(__file__).with_name("profiles")


@dataclass(frozen=True)
class EvalConfig:
    """How test predictions are made (sampling methods only use the sampler keys)."""

    sampler: str = "ddim"
    num_inference_steps: int = 2
    num_samples: int = 1
    batch_size: int = 8
    hd95: bool = True
    seed: int = 1234  # the sampler's generator seed (test-time noise)


@dataclass(frozen=True)
class DatasetSettings:
    size: tuple[int, ...]
    limit: int | None = None  # keep the first N cases of each split (smoke tests)
    val_fraction: float = 0.0
    # TrainConfig overrides for every method on this dataset (e.g. a smaller 3D budget);
    # [method_train.NAME] still wins
    train: dict[str, Any] = field(default_factory=dict)


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


def available() -> list[str]:
    return sorted(p.stem for p in PROFILE_DIR.glob("*.toml"))


def load_profile(name_or_path: str) -> Profile:
    path = Path(name_or_path)
    if not path.suffix == ".toml":
        path = PROFILE_DIR / f"{name_or_path}.toml"
    if not path.is_file():
        raise ConfigError(
            f"unknown profile {name_or_path!r}; valid: {', '.join(available())} "
            f"or a path to a .toml file"
        )
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML ({err})") from err
    known = {
        "name",
        "description",
        "datasets",
        "train",
        "eval",
        "methods",
        "method_train",
        "method_eval",
        "experiments",
    }
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"{path}: unknown table(s) {unknown}; valid: {sorted(known)}")
    datasets = {
        k: from_dict(DatasetSettings, v, where=f"{path.name}:datasets.{k}")
        for k, v in data.get("datasets", {}).items()
    }
    return Profile(
        name=data.get("name", path.stem),
        description=data.get("description", ""),
        datasets=datasets,
        train=from_dict(TrainConfig, data.get("train", {}), where=f"{path.name}:train"),
        eval=from_dict(EvalConfig, data.get("eval", {}), where=f"{path.name}:eval"),
        methods=data.get("methods", {}),
        method_train=data.get("method_train", {}),
        method_eval=data.get("method_eval", {}),
        experiments=data.get("experiments", {}),
    )
