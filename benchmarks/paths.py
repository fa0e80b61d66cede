"""Names that become parts of file paths, and paths that must stay under a root.

A profile name, a method, a dataset, an experiment or a case id ends up in a directory name
(``$LDSEG_OUT/train/<method>-<dataset>-<profile>-s<seed>``, report folders, ...). A name from a
file or the command line is therefore checked with :func:`check_name` (letters, digits and
``. _ @ -``; not ``.`` or ``..``), and every path built from one is joined with :func:`under`,
which refuses a result outside its root (a second line of defence: ``x/../../..`` never gets
past :func:`check_name`).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from benchmarks.errors import ConfigError

NAME_CHARS = "letters, digits and . _ @ -"
_NAME = re.compile(r"[A-Za-z0-9._@-]+")


class PathEscapeError(ConfigError):
    """A path built from a name would leave the directory it belongs under."""


def check_name(name: object, what: str = "name") -> str:
    """``name`` if it is a safe single path component; ConfigError (one line) otherwise."""
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{what} must be a non-empty string, got {name!r}")
    if not _NAME.fullmatch(name) or name in (".", ".."):
        raise ConfigError(
            f"{what} {name!r} is not a valid name: use only {NAME_CHARS} (it becomes part of "
            f"file paths), and not '.' or '..'"
        )
    return name


def under(root: str | os.PathLike, *parts: str | os.PathLike) -> Path:
    """``root / parts...``, refused with :class:`PathEscapeError` if the result is not inside
    ``root``.

    The check is lexical (``..`` and absolute parts are resolved against ``root``; symbolic
    links are not followed), so a symlink the owner placed under the output root keeps working
    while no name can climb out of it.
    """
    base = os.path.abspath(root)
    full = os.path.normpath(os.path.join(base, *(os.fspath(p) for p in parts)))
    if os.path.commonpath([base, full]) != base:
        joined = os.path.join(*(os.fspath(p) for p in parts)) if parts else ""
        raise PathEscapeError(f"{joined!r} would leave {base}: refusing to write to {full}")
    return Path(root).joinpath(*parts)
