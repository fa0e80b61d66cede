"""Typed configs from plain dicts (profile files, CLI, checkpoints), with no key ignored and
no value unchecked.

``from_dict`` builds a (nested, frozen) dataclass from a mapping: unknown keys are refused with the
list of valid ones, and every value is checked against its field's type hint -- its type (an
integer is not a string, a list of seeds is not a string), its ``Literal`` choices, and the value
range declared next to the field with annotated-types markers (``Annotated[int, Ge(1)]``, see
``ldseg/config.py``). A problem is a ConfigError of one line naming the key path, e.g.
``quick.toml: methods.ldseg.schedule.kind: 'cosin' is not one of cosine, linear``.

Hand-written rather than pydantic: the configs are plain frozen dataclasses (the ``ldseg``
library must not depend on the harness), TOML arrays must become tuples while a string must not
be coerced to a number, and the messages must name the profile file and the key path.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import types
import typing
from collections.abc import Iterator, Mapping
from typing import Annotated, Any, Literal, TypeVar

import annotated_types as at

from benchmarks.errors import ConfigError

T = TypeVar("T")
_BOUNDS = (at.Gt, at.Ge, at.Lt, at.Le)


def unwrap(tp: Any) -> tuple[Any, tuple[Any, ...]]:
    """``Annotated[X, *meta]`` -> (X, meta) with grouped markers (``Interval``) expanded."""
    if typing.get_origin(tp) is Annotated:
        base, *meta = typing.get_args(tp)
        flat: list[Any] = []
        for m in meta:
            flat.extend(m if isinstance(m, at.GroupedMetadata) else [m])
        inner, more = unwrap(base)
        return inner, (*more, *flat)
    return tp, ()


def is_optional(tp: Any) -> bool:
    return _is_union(tp) and type(None) in typing.get_args(tp)


def _is_union(tp: Any) -> bool:
    return typing.get_origin(tp) in (typing.Union, types.UnionType)


def hints(cls: type) -> dict[str, Any]:
    """The field types of a dataclass with their ``Annotated`` range markers."""
    return typing.get_type_hints(cls, include_extras=True)


def describe(tp: Any) -> str:
    """A type hint in words, for messages: 'an integer', 'a list of numbers', ..."""
    base, _ = unwrap(tp)
    if _is_union(base):
        return " or ".join(describe(a) for a in typing.get_args(base) if a is not type(None))
    if typing.get_origin(base) is Literal:
        return "one of " + ", ".join(map(str, typing.get_args(base)))
    if typing.get_origin(base) is tuple:
        args = typing.get_args(base)
        item = describe(args[0]) if args else "a value"
        if item.startswith(("a ", "an ")):
            return f"a list of {item.split(' ', 1)[1]}s"
        return f"a list of values ({item})"
    if dataclasses.is_dataclass(base) or typing.get_origin(base) is dict:
        return "a table"
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string"}.get(
        base, getattr(base, "__name__", str(base))
    )


def range_text(meta: tuple[Any, ...]) -> str:
    """The bounds among ``meta`` in words, e.g. '>= 1' or 'in [0, 1)' ('' without bounds)."""
    lo = next(((m.ge, "[") for m in meta if isinstance(m, at.Ge)), None)
    lo = lo or next(((m.gt, "(") for m in meta if isinstance(m, at.Gt)), None)
    hi = next(((m.le, "]") for m in meta if isinstance(m, at.Le)), None)
    hi = hi or next(((m.lt, ")") for m in meta if isinstance(m, at.Lt)), None)
    if lo and hi:
        return f"in {lo[1]}{lo[0]}, {hi[0]}{hi[1]}"
    if lo:
        return f"{'>=' if lo[1] == '[' else '>'} {lo[0]}"
    if hi:
        return f"{'<=' if hi[1] == ']' else '<'} {hi[0]}"
    return ""


def _check_meta(meta: tuple[Any, ...], value: Any, where: str) -> None:
    for m in meta:
        bad = (
            (isinstance(m, at.Ge) and not value >= m.ge)
            or (isinstance(m, at.Gt) and not value > m.gt)
            or (isinstance(m, at.Le) and not value <= m.le)
            or (isinstance(m, at.Lt) and not value < m.lt)
        )
        if bad:
            raise ConfigError(f"{where}: must be {range_text(meta)}, got {value!r}")
        if isinstance(m, at.MultipleOf) and value % m.multiple_of:
            raise ConfigError(f"{where}: must be a multiple of {m.multiple_of}, got {value!r}")
        if isinstance(m, at.MinLen) and len(value) < m.min_length:
            raise ConfigError(
                f"{where}: needs at least {m.min_length} value(s), got {list(value)!r}"
            )
        if isinstance(m, at.MaxLen) and len(value) > m.max_length:
            raise ConfigError(
                f"{where}: takes at most {m.max_length} value(s), got {list(value)!r}"
            )


def _wrong(tp: Any, value: Any, where: str) -> ConfigError:
    return ConfigError(f"{where}: expected {describe(tp)}, got {value!r}")


def convert(tp: Any, value: Any, where: str) -> Any:
    """``value`` checked (type, choices, range) and converted (lists -> tuples, int -> float)
    for a field of type hint ``tp``; ConfigError naming ``where`` otherwise."""
    base, meta = unwrap(tp)
    out = _convert_base(base, value, where)
    if out is not None:
        _check_meta(meta, out, where)
    return out


def _convert_base(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if tp is Any or isinstance(tp, TypeVar):
        return value
    if _is_union(tp):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        if len(options) == 1:
            return convert(options[0], value, where)
        for arg in options:
            try:
                return convert(arg, value, where)
            except ConfigError:
                continue
        raise _wrong(tp, value, where)
    if origin is Literal:
        for choice in typing.get_args(tp):
            if type(value) is type(choice) and value == choice:
                return choice
        choices = ", ".join(map(str, typing.get_args(tp)))
        raise ConfigError(f"{where}: {value!r} is not one of {choices}")
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if isinstance(value, Mapping):
            return from_dict(tp, value, where=where)
        raise _wrong(tp, value, where)
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise _wrong(tp, value, where)
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(convert(args[0], v, f"{where}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise ConfigError(f"{where}: needs {len(args)} values, got {list(value)!r}")
        return tuple(
            convert(a, v, f"{where}[{i}]") for i, (a, v) in enumerate(zip(args, value, strict=True))
        )
    if origin is dict or tp is dict:
        if not isinstance(value, Mapping):
            raise _wrong(tp, value, where)
        key_tp, val_tp = typing.get_args(tp) or (Any, Any)
        return {
            convert(key_tp, k, where): convert(val_tp, v, f"{where}.{k}") for k, v in value.items()
        }
    if tp is bool:
        if not isinstance(value, bool):
            raise _wrong(tp, value, where)
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise _wrong(tp, value, where)
        return int(value)
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise _wrong(tp, value, where)
        if not math.isfinite(value):
            raise ConfigError(f"{where}: must be a finite number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise _wrong(tp, value, where)
        return value
    return value


def from_dict(cls: type[T], data: Mapping[str, Any] | None, *, where: str = "") -> T:
    """Build ``cls`` from ``data``; unknown keys and bad values raise a one-line ConfigError
    naming the key path (``where`` prefixes it: a file name and table, e.g. 'quick.toml: train')."""
    if data is not None and not isinstance(data, Mapping):
        raise ConfigError(f"{where or cls.__name__}: expected a table, got {data!r}")
    data = dict(data or {})
    types_ = hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        label = where or cls.__name__
        moved = getattr(cls, "MOVED_KEYS", {})  # a key that moved elsewhere: say where
        hint = "".join(f"; {k} is set in {moved[k]} now" for k in unknown if k in moved)
        raise ConfigError(f"{label}: unknown key(s) {unknown}; valid keys: {sorted(names)}{hint}")
    kwargs = {k: convert(types_[k], v, f"{where}.{k}" if where else k) for k, v in data.items()}
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{where or cls.__name__}: {err}") from err


def without_moved_keys(cls: type, data: Any) -> Any:
    """``data`` without the keys that ``cls`` or a nested config lists in ``MOVED_KEYS``: a
    config stored before they moved (a checkpoint), where they never took effect. Anything
    but a mapping is returned as it is (``from_dict`` refuses it)."""
    if not isinstance(data, Mapping):
        return data
    types_, moved = hints(cls), getattr(cls, "MOVED_KEYS", {})
    out: dict[str, Any] = {}
    for k, v in data.items():
        if k in moved:
            continue
        base, _ = unwrap(types_.get(k, Any))
        out[k] = without_moved_keys(base, v) if dataclasses.is_dataclass(base) else v
    return out


def leaves(cls: type, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Every non-dataclass field reachable from dataclass ``cls``: (dotted key path, type hint).
    Nested dataclasses (also ``X | None``) are walked; used by the tests that check every
    numeric key has a range and every ``Literal`` key refuses a bad value."""
    for name, tp in hints(cls).items():
        path = f"{prefix}{name}"
        base, _ = unwrap(tp)
        inner = [a for a in typing.get_args(base) if a is not type(None)] if _is_union(base) else []
        nested = base if dataclasses.is_dataclass(base) else None
        if len(inner) == 1 and dataclasses.is_dataclass(unwrap(inner[0])[0]):
            nested = unwrap(inner[0])[0]
        if nested is not None:
            yield from leaves(nested, path + ".")
        else:
            yield path, tp


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
