"""What the harness knows about each method without building one: name, family, dims,
whether it samples, version. Torch-free, so ``bench methods``, ``bench --help`` and name checks
answer at once; :mod:`benchmarks.methods` pairs every entry with its config class and builder
(importing the baselines) only when a method is built.

Adding a method: its builder in ``baselines/<family>.py``, one :class:`MethodInfo` here, one
line in ``benchmarks.methods._builders``; ``tests/test_imports.py`` checks the two agree.
"""

from __future__ import annotations

from dataclasses import dataclass

from benchmarks.errors import ConfigError


@dataclass(frozen=True)
class MethodInfo:
    name: str  # the CLI / profile name
    family: str  # the module that builds it: ``baselines.<family>`` (``ldseg``: the paper's)
    description: str
    dims: tuple[int, ...]  # spatial dims it takes
    samples: bool  # True when ``predict`` runs a diffusion sampler
    binary_only: bool = False  # two classes only (e.g. signed distance maps)
    # bump when a code change alters what an unchanged config trains (part of the training
    # identity, benchmarks/versions.py): cached jobs of older code are then not reused
    version: int = 1
    # what the method config takes from the job rather than the profile: (config field, source)
    # with source "image_size" (the profile's image size for the dataset) or "train_steps" (the
    # training budget); benchmarks.pipeline.method_config_for fills them, nothing guesses by name
    from_job: tuple[tuple[str, str], ...] = ()


JOB_SOURCES = ("image_size", "train_steps")

_ABLATION_V2 = 2  # standardised label latent (ld), one-channel grey image latent (id)

CATALOG: tuple[MethodInfo, ...] = (
    MethodInfo(
        "ldseg", "ldseg", "LDSeg: end-to-end latent diffusion (the paper's method)", (2, 3), True
    ),
    # -- Table V ablations (baselines/ablations.py) --
    MethodInfo(
        "ldseg-ld",
        "ablations",
        "LDSeg(ld): label encoder -> nearest-neighbour downsampling",
        (2, 3),
        True,
        version=_ABLATION_V2,
    ),
    MethodInfo(
        "ldseg-id",
        "ablations",
        "LDSeg(id): image encoder -> nearest-neighbour downsampling",
        (2, 3),
        True,
        version=_ABLATION_V2,
    ),
    MethodInfo(
        "ldseg-ld-id",
        "ablations",
        "LDSeg(ld,id): both encoders -> nearest-neighbour downsampling",
        (2, 3),
        True,
        version=_ABLATION_V2,
    ),
    # -- diffusion competitors --
    MethodInfo(
        "lsegdiff",
        "lsegdiff",
        "LSegDiff-style two-stage latent diffusion (VAE, then denoiser)",
        (2, 3),
        True,
        from_job=(("train_steps", "train_steps"),),  # the stage switch lies in the budget
    ),
    MethodInfo(
        "medsegdiff",
        "pixel_diffusion",
        "MedSegDiff-style pixel-space conditional DDPM on the mask",
        (2, 3),
        True,
    ),
    MethodInfo(
        "sdfddpm",
        "pixel_diffusion",
        "SDF-DDPM: pixel-space DDPM on a truncated signed distance map",
        (2,),
        True,
        binary_only=True,
    ),
    # -- deterministic networks --
    MethodInfo(
        "medt",
        "medt",
        "MedT (Valanarasu et al.): gated axial attention, local-global (LoGo) branches",
        (2,),
        False,
    ),
    MethodInfo(
        "nnunet",
        "nnunet",
        "nnU-Net-style DynUNet (planned topology, deep supervision)",
        (2, 3),
        False,
        from_job=(("patch_size", "image_size"),),  # the plan follows the training patch size
    ),
    MethodInfo(
        "swinunet",
        "swin_unet",
        "Swin-Unet (Cao et al.): pure-transformer U-Net of timm Swin blocks",
        (2,),
        False,
    ),
    MethodInfo("unet", "unets", "U-Net (Ronneberger et al.) as MONAI BasicUNet", (2, 3), False),
    MethodInfo(
        "resunet",
        "unets",
        "Res-UNet (Zhang et al.) as MONAI UNet with residual units",
        (2, 3),
        False,
    ),
    MethodInfo(
        "unetpp", "unets", "U-Net++ (Zhou et al.) as smp UnetPlusPlus, random init", (2,), False
    ),
    MethodInfo(
        "swinunetr",
        "unets",
        "SwinUNETR (MONAI, 2D): Swin encoder + CNN decoder, stand-in for Swin-Unet",
        (2,),
        False,
    ),
    MethodInfo("vnet", "unets", "V-Net (Milletari et al.) as MONAI VNet", (2, 3), False),
)


# the methods' names in the paper's tables and figures (reports, per-run figures)
DISPLAY_NAMES = {
    "ldseg": "LDSeg",
    "ldseg-ld": "LDSeg(ld)",
    "ldseg-id": "LDSeg(id)",
    "ldseg-ld-id": "LDSeg(ld,id)",
    "unet": "U-net",
    "resunet": "Res-Unet",
    "nnunet": "nnUNet-style",
    "unetpp": "U-net++",
    "swinunet": "SwinUNet",
    "swinunetr": "SwinUNETR (stand-in)",
    "vnet": "V-net",
    # the competitors as built here, not their authors' code (each class docstring says what
    # differs): report rows are printed beside the paper's numbers under these names
    "lsegdiff": "LSegDiff-style",
    "medsegdiff": "MedSegDiff-style (no FF-parser)",
    "sdfddpm": "SDF-DDPM-style",
    "medt": "MedT",
}


def display(method: str) -> str:
    """Method ``method``'s name as the paper prints it (the CLI name when it has none)."""
    return DISPLAY_NAMES.get(method, method)


def catalog() -> dict[str, MethodInfo]:
    """Every built-in method by name."""
    return {m.name: m for m in CATALOG}


def method_info(name: str) -> MethodInfo:
    """The catalog entry of ``name``; an unknown name is a ConfigError listing the valid ones."""
    known = catalog()
    if name not in known:
        raise ConfigError(f"unknown method {name!r}; valid methods: {', '.join(sorted(known))}")
    return known[name]
