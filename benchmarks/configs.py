"""Typed configs from plain dicts (profile files, CLI, checkpoints), with no key ignored.

``from_dict`` builds a (nested, frozen) dataclass from a mapping and refuses unknown keys with
the list of valid ones, so a typo in a profile can never be accepted and silently ignored.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

from benchmarks.errors import ConfigError

T = TypeVar("T")


def _convert(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp) and isinstance(value, Mapping):
        return from_dict(tp, value, where=where)
    if origin is tuple and isinstance(value, list | tuple):
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(args[0], v, where) for v in value)
        return tuple(_convert(a, v, where) for a, v in zip(args, value, strict=False))
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            if arg is type(None) and value is None:
                return None
            if dataclasses.is_dataclass(arg) and isinstance(value, Mapping):
                return from_dict(arg, value, where=where)
            if typing.get_origin(arg) is tuple and isinstance(value, list | tuple):
                return _convert(arg, value, where)
        return value
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def from_dict(cls: type[T], data: Mapping[str, Any] | None, *, where: str = "") -> T:
    """Build ``cls`` from ``data``; unknown keys raise ConfigError naming the valid keys."""
    data = dict(data or {})
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        label = where or cls.__name__
        raise ConfigError(f"{label}: unknown key(s) {unknown}; valid keys: {sorted(names)}")
    kwargs = {k: _convert(hints[k], v, f"{where}.{k}" if where else k) for k, v in data.items()}
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{where or cls.__name__}: {err}") from err


def merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Recursive dict merge (override wins); used to layer profile sections."""
    out = dict(base)
    for k, v in override.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = merge(out[k], v)
        else:
            out[k] = v
    return out


def to_dict(obj: Any) -> dict[str, Any]:
    """A dataclass as a plain dict of built-in types (safe for ``torch.load(weights_only=True)``)."""
    return dataclasses.asdict(obj)


def flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{'a': {'b': 1}} -> {'a.b': 1} (MLflow params)."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out
