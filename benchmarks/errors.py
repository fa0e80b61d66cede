"""Errors the CLI turns into one-line messages with exit code 2 (never a traceback)."""


class BenchError(Exception):
    """Base class: a user-facing problem with a one-line, actionable message."""


class DataError(BenchError):
    """Bad or missing input data; the message names the file and the problem."""


class ConfigError(BenchError):
    """An unknown name or an invalid setting; the message lists the valid choices."""


class CheckpointError(BenchError):
    """A file that is not one of our checkpoints, or one that does not match the model."""


class TrainingError(BenchError):
    """Training cannot go on (for example a NaN/inf loss)."""


class InputSizeError(ConfigError, ValueError):
    """An image size a network cannot take; the message says which size to use or pad to.

    Also a ValueError, the type the methods' ``check_size`` hooks raise."""


class StoreError(BenchError):
    """The output root or the MLflow store cannot be used (read-only, missing, not a directory);
    the message names the path."""


class DiskFullError(StoreError):
    """A write failed for lack of space; the message names the file. Checkpoints are written
    atomically, so the last complete one is kept and a rerun resumes from it."""
