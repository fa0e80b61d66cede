"""The paper's experiments as data: Tables I-V, Fig. 5/6a (steps), Fig. 6b (runtime), Fig. 8
(robustness) and Fig. 10 (uncertainty).

One :class:`Experiment` = one MLflow parent run; :func:`plan` expands it into :class:`Child`
specs (one frozen dataclass = one nested MLflow run: method x dataset x seed x setting). The
runner (``benchmarks/runner.py``) executes children; the per-kind work lives in one file each
(``accuracy.py``, ``runtime.py``, ``robustness.py``, ``uncertainty.py``).

Experiment settings (seeds, step lists, robustness datasets, the number of uncertainty samples,
timing repeats) are :class:`ExperimentSettings`; each profile's ``[experiments]`` table sets
them (data, not code paths), the dataclass defaults being the paper's.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Annotated, Any, Literal, TypeVar

from annotated_types import Interval, MinLen

from benchmarks.errors import ConfigError
from ldseg.config import NonNegativeInt, PositiveInt, Seed

T = TypeVar("T")
ABLATIONS = ("ldseg-ld", "ldseg-id", "ldseg-ld-id")
PAPER_STEPS = (1, 2, 3, 5, 10, 20, 50, 100, 200, 500, 1000)

Kind = Literal["accuracy", "steps", "table4", "runtime", "robustness", "uncertainty"]


# Value ranges (annotated-types markers, checked by benchmarks.configs.from_dict): a list that may
# not be empty, and the noise SD of the robustness experiment on images in [0, 1] (an SD above 1
# saturates nearly every pixel after clipping).
NonEmpty = Annotated[T, MinLen(1)]
Sigma = Annotated[float, Interval(ge=0, le=1)]


@dataclass(frozen=True)
class ExperimentSettings:
    """Per-profile settings of the experiments that are not training/evaluation configs."""

    seeds: NonEmpty[tuple[Seed, ...]] = (0, 1, 2)
    # torch intra-op threads for the sweep (None = torch's default). Tiny models on a shared
    # CPU run much faster single-threaded (no spin-waiting OpenMP workers).
    torch_threads: PositiveInt | None = None
    qualitative_cases: NonNegativeInt = (
        3  # test cases saved per accuracy run for Fig. 4 / 9 overlays
    )
    # steps (Fig. 5 / 6a): ldseg on every `steps_datasets`; the comparison methods on one dataset
    steps: NonEmpty[tuple[PositiveInt, ...]] = PAPER_STEPS
    steps_datasets: NonEmpty[tuple[str, ...]] = ("echo-synth", "glas", "knee3d")
    steps_compare_dataset: str = "glas"
    steps_compare_methods: tuple[str, ...] = ("lsegdiff", "medsegdiff")
    # Table IV: per-image LDSeg latency at these K on each dataset (untrained weights)
    table4_datasets: NonEmpty[tuple[str, ...]] = ("echo-synth", "glas", "knee3d")
    table4_steps: NonEmpty[tuple[PositiveInt, ...]] = (1000, 2)
    # runtime (Fig. 6b): latency and peak memory vs image size, untrained weights
    runtime_dataset: str = "glas"
    runtime_methods: NonEmpty[tuple[str, ...]] = (
        "ldseg",
        "lsegdiff",
        "medsegdiff",
        "sdfddpm",
        "resunet",
        "medt",
        "swinunet",
    )
    runtime_sizes: NonEmpty[tuple[PositiveInt, ...]] = (64, 128, 256, 512)
    runtime_steps: PositiveInt = 50
    timing_warmup: NonNegativeInt = 3
    timing_repeats: PositiveInt = 10
    # robustness (Fig. 8): I_sigma = clip(I + N(0, sigma^2), 0, 1) on test images
    robustness_datasets: NonEmpty[tuple[str, ...]] = ("echo-synth", "knee3d")
    robustness_methods: NonEmpty[tuple[str, ...]] = ("ldseg", "resunet")
    robustness_sigmas: tuple[Sigma, ...] = (0.0, 0.05, 0.1, 0.15, 0.2)  # 0 is always added
    robustness_rescale: Literal["clip", "minmax"] = "clip"  # minmax = the reference code
    noise_seed: Seed = 0
    # uncertainty (Fig. 10): N samples per image -> mean and SD maps, AUROC of the SD
    uncertainty_datasets: NonEmpty[tuple[str, ...]] = ("echo-synth",)
    uncertainty_samples: Annotated[int, Interval(ge=2)] = 100  # an SD needs two samples
    uncertainty_cases: PositiveInt = 8
    uncertainty_figures: NonNegativeInt = 3


def settings_for(profile: Any, **overrides: Any) -> ExperimentSettings:
    """The experiment settings of a profile, then CLI overrides (``None`` values ignored).

    ``profile`` is a profile name or a loaded :class:`~benchmarks.profiles.Profile`. The
    paper's settings (the dataclass defaults) are overridden key by key by the profile's
    ``[experiments]`` table. Unknown keys raise ConfigError.
    """
    from benchmarks.configs import from_dict, merge

    if isinstance(profile, str):
        from benchmarks.profiles import load_profile

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
    kind: Kind
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
    kind: Kind
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
    return {"num_inference_steps": "K", "sigma": "sigma", "size": "px"}.get(key, key)


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


# -- method selection --------------------------------------------------------------------------
def _registry():
    from benchmarks.methods import registry

    return registry()


def candidates(exp: Experiment, settings: ExperimentSettings) -> tuple[str, ...]:
    """Every method the experiment runs by default (before ``--methods`` narrows it)."""
    reg = _registry()
    if exp.kind == "accuracy":
        if exp.ablation:
            return tuple(m for m in ("ldseg", *ABLATIONS) if m in reg)
        return tuple(sorted(n for n, s in reg.items() if exp.dims in s.dims and n not in ABLATIONS))
    if exp.kind == "table4" or exp.kind == "uncertainty":
        return ("ldseg",)
    if exp.kind == "steps":
        return ("ldseg", *settings.steps_compare_methods)
    if exp.kind == "runtime":
        return settings.runtime_methods
    if exp.kind == "robustness":
        return settings.robustness_methods
    raise AssertionError(exp.kind)


def select_methods(
    exp: Experiment, settings: ExperimentSettings, methods: tuple[str, ...] | None
) -> tuple[str, ...]:
    from benchmarks.methods import get_spec

    allowed = candidates(exp, settings)
    if not methods:
        return allowed
    for m in methods:
        get_spec(m)  # unknown name -> ConfigError listing the registered methods
        if m not in allowed:
            raise ConfigError(
                f"method {m!r} is not part of {exp.name}; its methods: {', '.join(allowed)}"
            )
    return tuple(dict.fromkeys(methods))


def _fits(method: str, dataset: str) -> str | None:
    """Why ``method`` cannot run on ``dataset`` (None when it can)."""
    from benchmarks.data import get_info
    from benchmarks.methods import get_spec

    spec, info = get_spec(method), get_info(dataset)
    if info.spatial_dims not in spec.dims:
        return f"n/a ({'/'.join(f'{d}D' for d in spec.dims)} only)"
    if spec.binary_only and info.num_classes != 2:
        return "n/a (binary only)"
    return None


# -- planning ----------------------------------------------------------------------------------
def plan(
    exp: Experiment | str,
    settings: ExperimentSettings,
    methods: tuple[str, ...] | None = None,
    seeds: tuple[int, ...] | None = None,
) -> Plan:
    """Expand an experiment into its children (and the cells it skips, with reasons)."""
    exp = get_experiment(exp) if isinstance(exp, str) else exp
    chosen = select_methods(exp, settings, methods)
    seeds = tuple(seeds) if seeds else settings.seeds
    children: list[Child] = []
    skipped: list[Skip] = []

    def add(method: str, dataset: str, seed: int, trained: bool = True, **setting: Any) -> None:
        children.append(
            Child(
                exp.name, exp.kind, method, dataset, seed, tuple(sorted(setting.items())), trained
            )
        )

    def cells(datasets) -> list[tuple[str, str]]:
        out = []
        for d in datasets:
            for m in chosen:
                reason = _fits(m, d)
                if reason:
                    skipped.append(Skip(m, d, reason))
                else:
                    out.append((m, d))
        return out

    if exp.kind == "accuracy":
        for m, d in cells(exp.datasets):
            for s in seeds:
                add(m, d, s)
    elif exp.kind == "steps":
        pairs = [("ldseg", d) for d in settings.steps_datasets if "ldseg" in chosen]
        pairs += [(m, settings.steps_compare_dataset) for m in chosen if m != "ldseg"]
        for m, d in pairs:
            reason = _fits(m, d)
            if reason:
                skipped.append(Skip(m, d, reason))
                continue
            for s in seeds:
                for k in settings.steps:
                    add(m, d, s, num_inference_steps=int(k))
    elif exp.kind == "table4":
        for m, d in cells(settings.table4_datasets):
            for k in settings.table4_steps:
                add(m, d, 0, trained=False, num_inference_steps=int(k))
    elif exp.kind == "runtime":
        for m, d in cells((settings.runtime_dataset,)):
            for size in settings.runtime_sizes:
                add(
                    m,
                    d,
                    0,
                    trained=False,
                    size=int(size),
                    num_inference_steps=int(settings.runtime_steps),
                )
    elif exp.kind == "robustness":
        sigmas = sorted({0.0, *(float(x) for x in settings.robustness_sigmas)})
        for m, d in cells(settings.robustness_datasets):
            for s in seeds:
                for sigma in sigmas:
                    add(m, d, s, sigma=sigma)
    elif exp.kind == "uncertainty":
        for m, d in cells(settings.uncertainty_datasets):
            for s in seeds:
                add(m, d, s, num_samples=int(settings.uncertainty_samples))
    return Plan(exp, settings, tuple(children), tuple(skipped))


def relevant_settings(exp: Experiment, settings: ExperimentSettings) -> dict[str, Any]:
    """The settings that change an experiment's children (logged on the parent run)."""
    prefix = {
        "accuracy": ("qualitative",),
        "steps": ("steps", "qualitative"),
        "table4": ("table4", "timing"),
        "runtime": ("runtime", "timing"),
        "robustness": ("robustness", "noise"),
        "uncertainty": ("uncertainty",),
    }[exp.kind]
    out = {f.name: getattr(settings, f.name) for f in fields(settings) if f.name.startswith(prefix)}
    out["seeds"] = settings.seeds
    out["torch_threads"] = settings.torch_threads
    return out
