"""The per-profile experiment settings (:class:`ExperimentSettings`: seeds, step lists, robustness
datasets, uncertainty samples, timing repeats), the dataclass defaults being the paper's. Its own
module so that the profile loader checks a profile's ``[experiments]`` table without importing
the experiments (which load profiles): :mod:`benchmarks.experiments` re-exports it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal, TypeVar

from annotated_types import Interval, MinLen

from ldseg.config import NonNegativeInt, PositiveInt, Seed

T = TypeVar("T")
PAPER_STEPS = (1, 2, 3, 5, 10, 20, 50, 100, 200, 500, 1000)

# Value ranges (annotated-types markers, checked by benchmarks.configs.from_dict): a list that may
# not be empty, and the noise SD of the robustness experiment on images in [0, 1] (an SD above 1
# saturates nearly every pixel after clipping).
NonEmpty = Annotated[T, MinLen(1)]
Sigma = Annotated[float, Interval(ge=0, le=1)]
Folds = Annotated[int, Interval(ge=0, le=100)]  # 1 is refused by the accuracy kind


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
    # budget (issue 12): test DSC vs optimiser steps, one training run per method with
    # inference-weight snapshots at every budget (the LR schedule spans the longest)
    budget_steps: NonEmpty[tuple[PositiveInt, ...]] = (200, 400, 800, 1600, 3200)
    budget_dataset: str = "glas"
    budget_methods: NonEmpty[tuple[str, ...]] = ("ldseg", "unet", "resunet", "lsegdiff")
    # accuracy tables: k-fold cross-validation by group (knee: by volume) instead of the
    # dataset's own split; 0 = the dataset's split (e.g. `--set folds=5` for Table III)
    folds: Folds = 0
