"""One generic, versioned serialiser between frozen dataclasses and JSON values.

`to_json` turns a dataclass (nested dataclasses, tuples, lists, dicts with string keys, enums,
paths, numpy scalars, and architectures: values whose class has ``from_string``, written as
their canonical string) into plain JSON values; `from_json` rebuilds the dataclass from them,
guided by its type annotations, and runs its ``__post_init__`` checks. A dataclass names its
format's version in a ``FORMAT_VERSION`` class attribute (default 1), written as
``format_version`` at the top level; data of another version, unknown or missing fields and
values of the wrong type are refused with an `InputError` naming the field (``train.lr``).

Data written before the version was recorded (the hand-written ``to_dict`` of the same fields)
has no ``format_version`` and is read as version 1, so files already on disk still load.
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from collections.abc import Mapping
from pathlib import Path, PurePath
from typing import Any, TypeVar

import numpy as np

from hwnas.errors import InputError

VERSION_KEY = "format_version"
T = TypeVar("T")


class SerializeError(InputError):
    """Data that is not the JSON form of the dataclass asked for; the message names the field."""


def format_version(cls: type) -> int:
    """The format version a dataclass declares (``FORMAT_VERSION``; 1 when it declares none)."""
    return int(getattr(cls, "FORMAT_VERSION", 1))


def to_json(obj: Any, *, versioned: bool = True) -> Any:
    """The JSON value of `obj`; a dataclass at the top gets its ``format_version`` first.

    Raises:
        SerializeError: for a value with no JSON form (an array, an object, a non-string key).
    """
    value = _to_json(obj, "value")
    if versioned and dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {VERSION_KEY: format_version(type(obj)), **value}
    return value


def _to_json(obj: Any, where: str) -> Any:
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, enum.Enum):
        return _to_json(obj.value, where)
    if isinstance(obj, (int, float)):
        return obj
    if isinstance(obj, np.generic) and obj.ndim == 0:
        return obj.item()
    if isinstance(obj, PurePath) or _has_canonical_string(type(obj)):
        return str(obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {
            f.name: _to_json(getattr(obj, f.name), f"{where}.{f.name}")
            for f in dataclasses.fields(obj)
            if f.init
        }
    if isinstance(obj, Mapping):
        out = {}
        for key, item in obj.items():
            if isinstance(key, enum.Enum):
                key = key.value
            if not isinstance(key, str):
                raise SerializeError(f"{where}: key {key!r} is not a string; JSON keys are")
            out[key] = _to_json(item, f"{where}.{key}")
        return out
    if isinstance(obj, (list, tuple)):
        return [_to_json(item, f"{where}[{i}]") for i, item in enumerate(obj)]
    raise SerializeError(f"{where}: a {type(obj).__name__} has no JSON form")


def _has_canonical_string(cls: type) -> bool:
    """Whether values of `cls` are written as their canonical string (an architecture)."""
    return callable(getattr(cls, "from_string", None))


def from_json(cls: type[T], data: Any, *, source: str = "data") -> T:
    """The dataclass `cls` rebuilt from `to_json`'s value (or an unversioned older one).

    Args:
        cls: A dataclass type.
        data: The JSON value.
        source: What `data` came from (a file name), named in every error.

    Raises:
        SerializeError: for another format version, an unknown or missing field, or a value
            of the wrong type; the dataclass's own check errors name `source` too.
    """
    if not isinstance(data, Mapping):
        raise SerializeError(f"{source}: expected a JSON object, got {type(data).__name__}")
    data = dict(data)
    version = data.pop(VERSION_KEY, None)
    expected = format_version(cls)
    if version is not None and version != expected:
        raise SerializeError(
            f"{source}: {cls.__name__} data of format version {version!r}; this hwnas reads "
            f"version {expected}"
        )
    return _dataclass(cls, data, source, "")


def _dataclass(cls: type, data: Any, source: str, where: str) -> Any:
    label = where or cls.__name__
    if not isinstance(data, Mapping):
        raise SerializeError(f"{source}: {label} must be a JSON object, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise SerializeError(
            f"{source}: {label} has unknown fields {unknown}; known: {sorted(fields)}"
        )
    values = {}
    for name, field in fields.items():
        path = f"{where}.{name}" if where else name
        if name not in data:
            if (
                field.default is dataclasses.MISSING
                and field.default_factory is dataclasses.MISSING
            ):
                raise SerializeError(f"{source}: field {path!r} is missing")
            continue
        values[name] = _value(hints.get(name, Any), data[name], source, path)
    try:
        return cls(**values)
    except InputError as err:
        raise SerializeError(f"{source}: {err}") from None
    except (TypeError, ValueError) as err:
        raise SerializeError(f"{source}: {label}: {err}") from None


def _value(hint: Any, value: Any, source: str, where: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is Any or hint is object:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _value(arg, value, source, where)
            except SerializeError as err:
                errors.append(str(err))
        raise SerializeError(errors[0] if len(errors) == 1 else f"{source}: {where}: {value!r} "
                             f"fits none of {hint}")  # fmt: skip
    if origin is typing.Literal:
        if value not in args:
            raise SerializeError(f"{source}: {where} must be one of {list(args)}, got {value!r}")
        return value
    if isinstance(hint, type) and _has_canonical_string(hint):
        if isinstance(value, hint):
            return value
        if not isinstance(value, str):
            raise SerializeError(
                f"{source}: {where} must be a {hint.__name__} string, got {value!r}"
            )
        try:
            return hint.from_string(value)
        except ValueError as err:
            raise SerializeError(f"{source}: {where}: {err}") from None
    if dataclasses.is_dataclass(hint):
        return _dataclass(hint, value, source, where)
    if origin in (tuple, list) or hint in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise SerializeError(f"{source}: {where} must be a list, got {value!r}")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise SerializeError(
                    f"{source}: {where} must hold {len(args)} values, got {len(value)}"
                )
            items = [
                _value(a, v, source, f"{where}[{i}]") for i, (a, v) in enumerate(zip(args, value))
            ]
        else:
            item = args[0] if args else Any
            items = [_value(item, v, source, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if (origin or hint) is tuple else items
    if origin is dict or hint is dict or origin is Mapping:
        if not isinstance(value, Mapping):
            raise SerializeError(f"{source}: {where} must be a JSON object, got {value!r}")
        item = args[1] if len(args) == 2 else Any
        return {k: _value(item, v, source, f"{where}.{k}") for k, v in value.items()}
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        try:
            return hint(value)
        except ValueError:
            known = [m.value for m in hint]
            raise SerializeError(
                f"{source}: {where} must be one of {known}, got {value!r}"
            ) from None
    if isinstance(hint, type) and issubclass(hint, PurePath):
        if not isinstance(value, str):
            raise SerializeError(f"{source}: {where} must be a path string, got {value!r}")
        return Path(value)
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SerializeError(f"{source}: {where} must be a number, got {value!r}")
        return float(value)
    if hint in (int, str, bool):
        if not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
            raise SerializeError(
                f"{source}: {where} must be of type {hint.__name__}, got {value!r}"
            )
        return value
    return value
