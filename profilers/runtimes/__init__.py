"""Registry of runtimes: ``@register_runtime``, ``create_runtime`` and ``list_runtimes``.

Built-in runtimes are registered when this package is imported; registering only defines a
class, so no runtime library (onnxruntime, tensorrt, torch) is imported until a runtime is
described or loads a model.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from devices.description import is_label
from profilers.errors import UnknownRuntimeError
from profilers.runtimes.base import InputSpec, Runtime, Session, random_inputs

_RUNTIMES: dict[str, type[Runtime]] = {}

R = TypeVar("R", bound=type[Runtime])


def register_runtime(name: str) -> Callable[[R], R]:
    """Class decorator registering a ``Runtime`` subclass under ``name`` and setting its ``name``.

    Raises:
        TypeError: If the decorated object is not a ``Runtime`` subclass.
        ValueError: If another class is already registered under ``name``.
    """
    if not is_label(name):
        raise ValueError(
            f"runtime name must be lowercase letters, digits and '_-.' (it keys measurements), "
            f"got {name!r}"
        )

    def decorator(cls: R) -> R:
        if not (isinstance(cls, type) and issubclass(cls, Runtime)):
            raise TypeError(
                f"@register_runtime({name!r}) decorates Runtime subclasses, got {cls!r}"
            )
        existing = _RUNTIMES.get(name)
        if existing is not None and _qualname(existing) != _qualname(cls):
            raise ValueError(
                f"runtime {name!r} is already registered by {_qualname(existing)}; "
                f"register {_qualname(cls)} under another name"
            )
        cls.name = name
        _RUNTIMES[name] = cls
        return cls

    return decorator


def create_runtime(name: str, **kwargs: Any) -> Runtime:
    """Instantiate the runtime registered under ``name`` with ``kwargs``.

    Raises:
        UnknownRuntimeError: If no runtime has that name; the message lists the known ones.
    """
    try:
        cls = _RUNTIMES[name]
    except KeyError:
        raise UnknownRuntimeError(
            f"unknown runtime {name!r}; known runtimes: {', '.join(list_runtimes()) or 'none'}"
        ) from None
    return cls(**kwargs)


def list_runtimes() -> list[str]:
    """Return the registered runtime names, sorted."""
    return sorted(_RUNTIMES)


def _qualname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


# Built-in runtimes register themselves on import (their own imports stay lazy).
from profilers.runtimes import onnxruntime as _onnxruntime  # noqa: E402, F401
from profilers.runtimes import tensorrt as _tensorrt  # noqa: E402, F401
from profilers.runtimes import torch as _torch  # noqa: E402, F401

__all__ = [
    "InputSpec",
    "Runtime",
    "Session",
    "create_runtime",
    "list_runtimes",
    "random_inputs",
    "register_runtime",
]
