"""The paper's published numbers (Zaman et al., "Latent Diffusion for Medical Image
Segmentation", Tables I-V and Fig. 6a), transcribed so reports can print them beside ours.

Per-class tables are keyed by the position of the foreground class (first, second) and
``combined``, so they line up with our per-class columns whatever a stand-in dataset calls its
classes. Method names are this harness's registry names: the paper's "SwinUNet" rows are
``swinunet`` (Swin-Unet, Cao et al.), never ``swinunetr`` (MONAI's SwinUNETR, a different
network kept as a labelled stand-in, which has no paper numbers). Rows the paper has and a
sweep did not run are kept so the table shows them as "not run".
"""

from __future__ import annotations

# the display names are the harness's (the method catalog), re-exported for the reports
from benchmarks.method_catalog import DISPLAY_NAMES, display  # noqa: F401

# Table I: Echo (LV, LA, LV+LA). * = diffusion model in the paper.
TABLE1_ECHO = {
    "classes": ("LV", "LA", "LV+LA"),
    "dsc": {
        "swinunet": (0.85, 0.70, 0.81),
        "unet": (0.86, 0.75, 0.83),
        "nnunet": (0.89, 0.76, 0.86),
        "medsegdiff": (0.89, 0.81, 0.87),
        "vnet": (0.93, 0.81, 0.90),
        "resunet": (0.93, 0.83, 0.91),
        "lsegdiff": (0.93, 0.85, 0.91),
        "ldseg": (0.93, 0.87, 0.92),
    },
    "iou": {
        "swinunet": (0.75, 0.56, 0.69),
        "unet": (0.77, 0.62, 0.72),
        "nnunet": (0.81, 0.64, 0.76),
        "medsegdiff": (0.82, 0.70, 0.78),
        "vnet": (0.87, 0.71, 0.83),
        "resunet": (0.87, 0.74, 0.84),
        "lsegdiff": (0.87, 0.75, 0.84),
        "ldseg": (0.87, 0.77, 0.84),
    },
}

# Table II: GlaS (binary) DSC / IoU.
TABLE2_GLAS = {
    "swinunet": (0.76, 0.62),
    "unet": (0.78, 0.65),
    "unetpp": (0.78, 0.66),
    "medt": (0.81, 0.70),
    "sdfddpm": (0.83, 0.72),
    "nnunet": (0.84, 0.73),
    "lsegdiff": (0.84, 0.74),
    "medsegdiff": (0.84, 0.74),
    "resunet": (0.86, 0.76),
    "ldseg": (0.91, 0.84),
}

# Table III: Knee 3D (FC, TC, FC+TC). The paper's SwinUNet row repeats Table I's numbers
# verbatim (transcribed as printed); our ``swinunet`` is 2D only, so that row stays "not run".
TABLE3_KNEE = {
    "classes": ("FC", "TC", "FC+TC"),
    "dsc": {
        "swinunet": (0.85, 0.70, 0.81),
        "lsegdiff": (0.96, 0.96, 0.96),
        "resunet": (0.97, 0.96, 0.96),
        "nnunet": (0.97, 0.96, 0.96),
        "ldseg": (0.96, 0.96, 0.96),
    },
    "iou": {
        "swinunet": (0.75, 0.56, 0.69),
        "lsegdiff": (0.93, 0.92, 0.93),
        "resunet": (0.93, 0.93, 0.93),
        "nnunet": (0.93, 0.94, 0.93),
        "ldseg": (0.93, 0.92, 0.93),
    },
}

# Table IV: LDSeg seconds per image on an A100, K = 1000 vs K = 2.
TABLE4_RUNTIME = {
    "echo": {1000: 91.23, 2: 0.34},
    "glas": {1000: 80.37, 2: 0.30},
    "knee": {1000: 132.36, 2: 0.49},
}
TABLE4_DEVICE = "NVIDIA A100-SXM4 80GB"
SPEEDUP_CLAIM = 268  # "~268 times reduction in the execution time"

# Table V: GlaS ablation DSC / IoU.
TABLE5_ABLATION = {
    "ldseg-ld-id": (0.47, 0.33),
    "ldseg-id": (0.61, 0.47),
    "ldseg-ld": (0.71, 0.56),
    "ldseg": (0.91, 0.84),
}

# Fig. 6a: sampling steps needed for the maximum DSC on GlaS; Fig. 5: K = 2 suffices for
# LDSeg on every dataset.
STEPS_FOR_MAX_DSC = {"ldseg": 2, "lsegdiff": 10, "medsegdiff": 700}

# Which paper table a dataset of ours stands in for, and how to label it honestly.
DATASET_LABELS = {
    "glas": "GlaS (the paper's dataset, official split)",
    "echo-synth": "echo-synth (synthetic stand-in, not the paper's echo data)",
    "knee2d": "knee2d (2D slices of 5 knee MRI volumes; stand-in for the paper's echo table)",
    "knee3d": "knee3d (5 OAI sample volumes; the paper used 987)",
    "synth2d": "synth2d (synthetic shapes)",
    "synth3d": "synth3d (synthetic 3D shapes)",
}
# the paper table a dataset's rows are printed beside; knee2d (knee slices, FC/TC) has none: its
# classes are not the echo table's LV/LA, so no paper number is printed beside it
PAPER_DATASET = {"echo-synth": "echo", "glas": "glas", "knee3d": "knee"}


def label(dataset: str) -> str:
    return DATASET_LABELS.get(dataset, dataset)


def per_class(dataset: str) -> dict | None:
    """The paper's per-class table a dataset is compared with (None for binary GlaS)."""
    return {"echo": TABLE1_ECHO, "knee": TABLE3_KNEE}.get(PAPER_DATASET.get(dataset, ""))


def binary(table: str) -> dict[str, tuple[float, float]]:
    return {"table2": TABLE2_GLAS, "table5": TABLE5_ABLATION}.get(table, {})
