"""The paper's experiments as data: Tables I-V, Fig. 5/6a (steps), Fig. 6b (runtime), Fig. 8
(robustness) and Fig. 10 (uncertainty).

One :class:`Experiment` = one MLflow parent run. Its ``kind`` names a registered experiment
kind (``benchmarks/kinds/``, one file each), which plans it into :class:`Child` specs (one
frozen dataclass = one nested MLflow run: method x dataset x seed x setting) with
:func:`benchmarks.kinds.plan`, describes and runs each child, declares the settings it reads
and names the renderer of its report. The runner (``benchmarks/runner.py``) executes children.
This module is data only: it imports no kind.

Experiment settings (seeds, step lists, robustness datasets, the number of uncertainty samples,
timing repeats) are :class:`ExperimentSettings`; each profile's ``[experiments]`` table sets
them (data, not code paths), the dataclass defaults being the paper's.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from benchmarks.errors import ConfigError
from benchmarks.experiment_settings import ExperimentSettings

ABLATIONS = ("ldseg-ld", "ldseg-id", "ldseg-ld-id")


def settings_for(profile: Any, **overrides: Any) -> ExperimentSettings:
    """The experiment settings of a profile, then CLI overrides (``None`` values ignored).

    ``profile`` is a profile name or a loaded :class:`~benchmarks.profiles.Profile`. The
    paper's settings (the dataclass defaults) are overridden key by key by the profile's
    ``[experiments]`` table. Unknown keys raise ConfigError.
    """
    from benchmarks.configs import from_dict, merge

    if isinstance(profile, str):
        from benchmarks.profiles import load_profile  # imports torch: only when a name is given

        profile = load_profile(profile)
    name = profile.name
    base = ExperimentSettings()  # the paper's settings; the profile's table overrides them
    table = dict(getattr(profile, "experiments", {}) or {})
    if table:
        base = from_dict(
            ExperimentSettings, merge(asdict(base), table), where=f"{name}: experiments"
        )
    names = {f.name for f in fields(ExperimentSettings)}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise ConfigError(f"unknown experiment setting(s) {unknown}; valid: {sorted(names)}")
    given = {k: v for k, v in overrides.items() if v is not None}
    # the overrides are checked like the profile's values (types, ranges, non-empty lists)
    return from_dict(ExperimentSettings, {**asdict(base), **given}, where="setting")


@dataclass(frozen=True)
class Experiment:
    name: str
    kind: str  # a registered experiment kind (benchmarks.kinds.KINDS)
    title: str
    paper: str  # where in the paper
    datasets: tuple[str, ...] = ()  # fixed datasets (accuracy tables); others use the settings
    dims: int | None = None  # methods must support this spatial dimensionality
    ablation: bool = False  # table5: ldseg + its ablations instead of the baselines


EXPERIMENTS: dict[str, Experiment] = {
    e.name: e
    for e in (
        Experiment(
            "table1",
            "accuracy",
            "Per-class DSC/IoU, 2D multi-class stand-ins",
            "Table I (Echo)",
            datasets=("echo-synth", "knee2d"),
            dims=2,
        ),
        Experiment(
            "table2", "accuracy", "DSC/IoU on GlaS", "Table II (GlaS)", datasets=("glas",), dims=2
        ),
        Experiment(
            "table3",
            "accuracy",
            "Per-class DSC/IoU on 3D knee MRI",
            "Table III (Knee)",
            datasets=("knee3d",),
            dims=3,
        ),
        Experiment("table4", "table4", "LDSeg per-image runtime, K=1000 vs K=2", "Table IV"),
        Experiment(
            "table5",
            "accuracy",
            "Ablation: label/image encoders vs down-samplers",
            "Table V (GlaS ablation)",
            datasets=("glas",),
            dims=2,
            ablation=True,
        ),
        Experiment(
            "steps",
            "steps",
            "DSC vs DDIM sampling steps K (trained models reused)",
            "Fig. 5 and Fig. 6a",
        ),
        Experiment(
            "runtime", "runtime", "Per-image latency and peak memory vs image size", "Fig. 6b"
        ),
        Experiment("robustness", "robustness", "DSC vs added Gaussian noise sigma", "Fig. 8a"),
        Experiment(
            "uncertainty", "uncertainty", "N-sample mean/SD maps, AUROC of the SD", "Fig. 10"
        ),
        Experiment(
            "budget",
            "budget",
            "DSC vs optimiser steps, one training run per method (snapshots)",
            "issue 12 (not in the paper)",
        ),
    )
}


def get_experiment(name: str) -> Experiment:
    if name not in EXPERIMENTS:
        raise ConfigError(f"unknown experiment {name!r}; valid: {', '.join(EXPERIMENTS)}")
    return EXPERIMENTS[name]


@dataclass(frozen=True)
class Child:
    """One nested MLflow run. ``setting`` holds what varies besides method/dataset/seed
    (``num_inference_steps``, ``sigma``, ``size``) as sorted (key, value) pairs."""

    experiment: str
    kind: str
    method: str
    dataset: str
    seed: int = 0
    setting: tuple[tuple[str, Any], ...] = ()
    trained: bool = True  # needs a trained model (shared train job)

    @property
    def settings(self) -> dict[str, Any]:
        return dict(self.setting)

    @property
    def run_name(self) -> str:
        extra = "".join(f"-{_short(k)}{v}" for k, v in self.setting)
        return f"{self.method}-{self.dataset}-s{self.seed}{extra}"


def _short(key: str) -> str:
    names = {"num_inference_steps": "K", "size": "px", "train_steps": "steps", "num_folds": "of"}
    return names.get(key, key)


@dataclass(frozen=True)
class Skip:
    """A method x dataset cell that is not run, with the reason the report prints."""

    method: str
    dataset: str
    reason: str


@dataclass(frozen=True)
class Plan:
    experiment: Experiment
    settings: ExperimentSettings
    children: tuple[Child, ...]
    skipped: tuple[Skip, ...] = field(default_factory=tuple)
