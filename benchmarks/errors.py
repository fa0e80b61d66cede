"""Errors the CLI turns into one-line messages with exit code 2 (never a traceback).

``BenchError``, ``ConfigError`` and ``InputSizeError`` are defined in ``ldseg.errors`` (the
baselines raise them without importing the harness) and re-exported here."""

from ldseg.errors import ConfigError, InputSizeError
from ldseg.errors import LDSegError as BenchError

__all__ = [
    "BenchError",
    "CheckpointError",
    "ConfigError",
    "DataError",
    "DiskFullError",
    "InputSizeError",
    "StoreError",
    "TrainingError",
]


class DataError(BenchError):
    """Bad or missing input data; the message names the file and the problem."""


class CheckpointError(BenchError):
    """A file that is not one of our checkpoints, or one that does not match the model."""


class TrainingError(BenchError):
    """Training cannot go on (for example a NaN/inf loss)."""


class StoreError(BenchError):
    """The output root or the MLflow store cannot be used (read-only, missing, not a directory);
    the message names the path."""


class DiskFullError(StoreError):
    """A write failed for lack of space; the message names the file. Checkpoints are written
    atomically, so the last complete one is kept and a rerun resumes from it."""
