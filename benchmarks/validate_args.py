"""Checks of command-line arguments shared by every ``bench`` command.

Output paths are checked *before* any work starts (a bad ``--out`` must not throw away a finished
evaluation): the right kind (a file, or a folder), the right extension, and a folder that can
really be written. The device is checked once, with one message. Choices (device, sampler) are
Enums built from the configs, so Typer lists and checks them. Every refusal is a one-line
``ConfigError`` naming the option and the problem (the CLI turns it into ``error: ...``, exit 2).
"""

from __future__ import annotations

import os
import tempfile
import typing
from enum import Enum, StrEnum
from pathlib import Path
from typing import Any

from benchmarks.errors import ConfigError
from ldseg.config import SamplerConfig

SEED_MAX = 2**32 - 1  # numpy's legacy seeding and most tools accept 0..2**32-1
PORT_MAX = 65535


class Device(StrEnum):
    cpu = "cpu"
    cuda = "cuda"


# the sampler names are the Literal of SamplerConfig.name: one list in the project
# where a sweep's children run (benchmarks/executors.py); a choice on every sweep command
EXECUTORS = ("local", "ray")
Executor = StrEnum("Executor", {n: n for n in EXECUTORS})

SamplerName = StrEnum(
    "SamplerName", {n: n for n in typing.get_args(typing.get_type_hints(SamplerConfig)["name"])}
)

# what the writers in benchmarks/predict.py can write
LABEL_SUFFIXES_2D = (".png", ".bmp", ".tif", ".tiff", ".nii", ".nii.gz")
SD_SUFFIXES_2D = (".png", ".tif", ".tiff", ".nii", ".nii.gz")
VOLUME_SUFFIXES = (".nii", ".nii.gz")


def value(choice: Enum | str | None) -> str | None:
    """The plain string of an Enum choice (Typer passes Enum members)."""
    return choice.value if isinstance(choice, Enum) else choice


def check_device(device: Device | str) -> str:
    """``cuda`` only where torch sees a GPU; returns the plain device string."""
    device = value(device)
    if device == Device.cuda.value:
        import torch

        if not torch.cuda.is_available():
            raise ConfigError("--device cuda: CUDA is not available on this machine; use cpu")
    return device


def check_output_file(path: Path, option: str, suffixes: tuple[str, ...] | None = None) -> Path:
    """A file we may create or replace: not a folder, a known extension, a writable folder."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{option} {path}: is a folder; give a file name")
    if suffixes and not path.name.lower().endswith(suffixes):
        raise ConfigError(
            f"{option} {path}: unsupported file type; name it with one of {', '.join(suffixes)}"
        )
    if os.path.lexists(path) and not path.is_file():
        raise ConfigError(f"{option} {path}: exists and is not a regular file")
    _check_parent(path, option)
    if path.is_file() and not os.access(path, os.W_OK):
        raise ConfigError(f"{option} {path}: the file is read-only")
    return path


def check_output_dir(path: Path, option: str) -> Path:
    """A folder we may create or write into (not a file, not under a file, writable)."""
    path = Path(path)
    if os.path.lexists(path):
        if not path.is_dir():
            raise ConfigError(f"{option} {path}: is a file, not a folder")
        if not _writable(path):
            raise ConfigError(f"{option} {path}: cannot write in this folder")
        return path
    _check_parent(path, option)
    return path


def same_file(a: Path, b: Path) -> bool:
    return Path(a).resolve() == Path(b).resolve()


def _check_parent(path: Path, option: str) -> None:
    """The nearest existing folder above ``path`` is a folder and can be written."""
    anc = path.absolute().parent
    while not os.path.lexists(anc) and anc != anc.parent:
        anc = anc.parent
    if not anc.is_dir():
        raise ConfigError(f"{option} {path}: {anc} is a file, not a folder")
    if not _writable(anc):
        raise ConfigError(f"{option} {path}: cannot write in {anc}")


def _writable(folder: Path) -> bool:
    # os.access alone answers "yes" to root everywhere (even /proc or a read-only bind mount
    # it does not always see), so a real, invisible probe file decides (O_TMPFILE on Linux).
    if not os.access(folder, os.W_OK | os.X_OK):
        return False
    try:
        with tempfile.TemporaryFile(dir=folder):
            return True
    except OSError:
        return False


# One default profile for every command: ``smoke`` runs in minutes on a CPU and is what the
# README's first command runs; ``quick`` (real data at 128^2, tens of CPU minutes per model) and
# ``paper`` / ``reference`` (the paper's sizes and budgets: a GPU) are chosen on purpose.
DEFAULT_PROFILE = "smoke"
PROFILE_HELP = (
    "smoke | quick | paper | reference | path.toml (default smoke: minutes on a CPU; quick: "
    "real data at 128^2, tens of CPU minutes per model; paper / reference: GPU budgets)"
)
SAMPLING_STEPS_HELP = "sampling steps K at test time (1..T of the method's schedule)"


def resolve_sampling_steps(new: int | None, old: int | None, *, warn) -> int | None:
    """``--sampling-steps`` with its deprecated alias ``--steps`` (kept for one release: it set
    K, not training steps); ``warn`` prints the one-line deprecation warning."""
    if old is None:
        return new
    warn("warning: --steps is deprecated (it sets the sampling steps K); use --sampling-steps")
    if new is not None and new != old:
        raise ConfigError(f"--steps {old} and --sampling-steps {new} disagree; give one")
    return old


# -- comma-separated lists and --set KEY=VALUE (the experiment commands) -----------------------
def parse_list(value: str | None, item: Any = str, option: str = "--values", noun: str = "value"):
    """A comma-separated list option: None when the option is not given, else a tuple with
    every item parsed and checked against the type hint ``item`` (ranges included, e.g. a seed
    in [0, 2**32)); an option given with no items or an empty item is an error."""
    from benchmarks.configs import convert, unwrap

    if value is None:
        return None
    parts = [v.strip() for v in value.split(",")]
    if not any(parts):
        raise ConfigError(f"{option}: no {noun}s given")
    if not all(parts):
        raise ConfigError(f"{option} {value!r}: an empty item; give comma-separated {noun}s")
    base, _ = unwrap(item)
    return tuple(convert(item, _parse_item(base, p, option), option) for p in parts)


def _parse_item(base: Any, text: str, option: str) -> Any:
    """Command-line text -> the Python value a config field of type ``base`` expects."""
    for kind, noun in ((int, "an integer"), (float, "a number")):
        if base is kind:
            try:
                return kind(text)
            except ValueError:
                raise ConfigError(f"{option}: {text!r} is not {noun}") from None
    return text


def setting_item(key: str) -> Any:
    """The element type (with its range) of the list setting ``key`` of ExperimentSettings."""
    from benchmarks.configs import hints, unwrap
    from benchmarks.experiments import ExperimentSettings

    base, _ = unwrap(hints(ExperimentSettings)[key])
    return typing.get_args(base)[0]


def parse_settings(pairs: list[str] | None) -> dict[str, Any]:
    """``["steps=1,2,5", "timing_repeats=3"]`` -> ExperimentSettings overrides, every value
    checked here against its field (type, choices, range, non-empty list)."""
    from benchmarks.configs import hints
    from benchmarks.experiments import ExperimentSettings

    types_ = hints(ExperimentSettings)
    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, text = pair.partition("=")
        key = key.strip()
        if not sep or key not in types_:
            raise ConfigError(
                f"--set {pair!r}: expected KEY=VALUE with KEY one of {', '.join(sorted(types_))}"
            )
        out[key] = _setting_value(types_[key], text, f"--set {key}")
    return out


def _setting_value(tp: Any, text: str, option: str) -> Any:
    """One ``--set`` value parsed for the field type ``tp`` (``none`` for an optional field)."""
    from benchmarks.configs import convert, is_optional, unwrap

    if is_optional(unwrap(tp)[0]) and text.strip().lower() == "none":
        return None
    base, _ = unwrap(tp)
    if is_optional(base):
        base, _ = unwrap(next(a for a in typing.get_args(base) if a is not type(None)))
    if typing.get_origin(base) is tuple:
        return convert(tp, parse_list(text, typing.get_args(base)[0], option, "value"), option)
    return convert(tp, _parse_item(base, text.strip(), option), option)
