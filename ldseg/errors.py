"""User-facing errors of the method and its baselines: a one-line, actionable message.

The lowest layer of the repository's error types, so that ``baselines/`` can raise them without
importing the harness; ``benchmarks.errors`` builds the harness's own errors on them, and the
``bench`` CLI turns every one into one line on stderr and exit code 2 (never a traceback).
"""


class LDSegError(Exception):
    """Base class: a user-facing problem with a one-line, actionable message."""


class ConfigError(LDSegError):
    """An unknown name or an invalid setting; the message lists the valid choices."""


class InputSizeError(ConfigError, ValueError):
    """An image size a network cannot take; the message says which size to use or pad to.

    Also a ValueError, the type the methods' ``check_size`` hooks raise."""
