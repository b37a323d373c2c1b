"""The Python API of real TensorRT bindings, recorded to JSON and rebuilt as autospec mocks.

The ``tensorrt`` Python bindings (PyPI ``tensorrt-cu12-bindings``) install without a GPU, but
their extension module links ``libnvinfer``, ``libnvonnxparser`` and ``libnvinfer_plugin``,
which only NVIDIA's index serves. ``record_api.py`` therefore imports the real extension
module with stand-in native libraries that export the nine C entry points it links
(``createInferBuilder_INTERNAL``, ...) and abort if any is called; the pybind11 module then
loads and its classes, enums and method signatures (from pybind11's docstrings) are read and
saved here as ``api/tensorrt-<version>.json``.

``FakeTensorRT`` rebuilds a module from such a recording: enums are real ``IntEnum``s with
the recorded values, classes are ``create_autospec(..., spec_set=True)`` mocks whose methods
check their arguments against the recorded signatures. Calling a method or reading an
attribute that a TensorRT generation lacks fails, and so does a call whose arguments match
none of the method's overloads.
"""

from __future__ import annotations

import enum
import functools
import inspect
import json
import keyword
import re
import types
from pathlib import Path
from typing import Any
from unittest import mock

API_DIR = Path(__file__).resolve().parent / "api"
_ARG_N = re.compile(r"arg\d+")
_OPEN, _CLOSE = "([{<", ")]}>"


# -- recording (runs inside the process that imported the real bindings) ---------------------


def _is_enum(obj: Any) -> bool:
    return isinstance(obj, type) and isinstance(getattr(obj, "__members__", None), dict)


def _signatures(func: Any) -> list[str]:
    """The text signatures of a pybind11 function (one per overload) or a Python function."""
    if inspect.isfunction(func):
        return [f"{func.__name__}{inspect.signature(func)}"]
    doc = func.__doc__ or ""
    name = func.__name__
    lines = doc.splitlines()
    if len(lines) > 1 and lines[1].strip() == "Overloaded function.":
        return [
            line.split(". ", 1)[1]
            for line in lines
            if re.match(rf"\d+\. {re.escape(name)}\(", line)
        ]
    return [lines[0]] if lines and lines[0].startswith(f"{name}(") else [f"{name}(*args, **kwargs)"]


def _enum_members(obj: type) -> dict[str, int]:
    return {name: int(member) for name, member in obj.__members__.items()}


def describe_class(cls: type) -> dict[str, Any]:
    """Methods, properties, nested enums and enum constants of one bindings class."""
    info: dict[str, Any] = {
        "bases": [b.__name__ for b in cls.__mro__[1:] if b.__module__ == cls.__module__],
        "methods": {},
        "properties": {},
        "enums": {},
        "constants": {},
        "removed": [],
    }
    for klass in reversed(cls.__mro__):
        for name, value in vars(klass).items():
            if name.startswith("_") and name != "__init__":
                continue
            if value is None:
                info["removed"].append(name)
            elif _is_enum(value):
                info["enums"][name] = _enum_members(value)
            elif isinstance(value, property) or type(value).__name__.endswith("static_property"):
                info["properties"][name] = {"writable": getattr(value, "fset", None) is not None}
            elif callable(value) and hasattr(value, "__name__"):
                info["methods"][name] = _signatures(value)
            elif _is_enum(type(value)):
                info["constants"][name] = [type(value).__name__, value.name]
    return info


def describe_module(trt: types.ModuleType) -> dict[str, Any]:
    """The API surface of an imported ``tensorrt`` module as JSON data."""
    surface: dict[str, Any] = {
        "version": trt.__version__,
        "classes": {},
        "enums": {},
        "functions": {},
    }
    for name in sorted(dir(trt)):
        if name.startswith("_"):
            continue
        value = getattr(trt, name)
        if _is_enum(value):
            surface["enums"][name] = _enum_members(value)
        elif isinstance(value, type):
            surface["classes"][name] = describe_class(value)
        elif inspect.isfunction(value) or inspect.isbuiltin(value):
            surface["functions"][name] = _signatures(value)
    return surface


@functools.cache
def load_surface(version: str) -> dict[str, Any]:
    """The recorded surface of TensorRT ``version`` from ``api/`` (shared: do not modify)."""
    return json.loads((API_DIR / f"tensorrt-{version}.json").read_text())


def recorded_versions() -> list[str]:
    """The TensorRT versions recorded in ``api/``, oldest first."""
    names = [p.stem.removeprefix("tensorrt-") for p in API_DIR.glob("tensorrt-*.json")]
    return sorted(names, key=lambda v: tuple(int(p) for p in v.split(".")))


# -- text signature -> inspect.Signature --------------------------------------------------------


def _split_top_level(text: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for i, char in enumerate(text):
        if char in _OPEN and not (char == "<" and text[i - 1 : i] == "-"):
            depth += 1
        elif char in _CLOSE and not (char == ">" and text[i - 1 : i] == "-"):
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    if text[start:].strip():
        parts.append(text[start:])
    return [p.strip() for p in parts]


@functools.cache
def parse_signature(text: str) -> inspect.Signature:
    """``name(self: T, a: int, b: str = None) -> R`` as a Signature (types dropped)."""
    start = text.index("(")
    depth = 0
    for end in range(start, len(text)):
        depth += text[end] == "("
        depth -= text[end] == ")"
        if depth == 0:
            break
    params, kind = [], inspect.Parameter.POSITIONAL_OR_KEYWORD
    for index, part in enumerate(_split_top_level(text[start + 1 : end])):
        if part.startswith("**"):
            params.append(inspect.Parameter(part[2:].split(":")[0], inspect.Parameter.VAR_KEYWORD))
            continue
        if part.startswith("*"):
            name = part[1:].split(":")[0].strip()
            if name:
                params.append(inspect.Parameter(name, inspect.Parameter.VAR_POSITIONAL))
            kind = inspect.Parameter.KEYWORD_ONLY
            continue
        if part == "/":
            params = [p.replace(kind=inspect.Parameter.POSITIONAL_ONLY) for p in params]
            continue
        name = re.split(r"[:=]", part, maxsplit=1)[0].strip()
        has_default = "=" in part.split(":", 1)[-1] or re.match(r"^\w+\s*=", part) is not None
        this_kind = kind
        if (index == 0 and name == "self") or _ARG_N.fullmatch(name):
            this_kind = inspect.Parameter.POSITIONAL_ONLY  # pybind11 args without py::arg
        if keyword.iskeyword(name):  # e.g. ``in``: cannot be passed by keyword from Python
            name, this_kind = f"{name}_", inspect.Parameter.POSITIONAL_ONLY
        default = _DEFAULT if has_default else inspect.Parameter.empty
        params.append(inspect.Parameter(name, this_kind, default=default))
    # pybind11 allows a required argument after defaulted ones (all must then be passed)
    required = [
        i
        for i, p in enumerate(params)
        if p.default is inspect.Parameter.empty
        and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    last = required[-1] if required else -1
    params = [
        p.replace(default=inspect.Parameter.empty) if i < last else p for i, p in enumerate(params)
    ]
    return inspect.Signature(params)


_DEFAULT = object()


def return_class(text: str) -> str | None:
    """The bindings class a text signature returns (``-> tensorrt.ITensor``), if any."""
    match = re.search(r"\)\s*->\s*([\w.]+)\s*$", text)
    return match.group(1).rsplit(".", 1)[-1] if match else None


# -- the fake module --------------------------------------------------------------------------


def _method(name: str, signatures: list[str]):
    parsed = [parse_signature(s) for s in signatures]

    def method(*args, **kwargs):
        if name == "__init__":  # a real subclass of an interface (ILogger) initialises it
            return None
        raise AssertionError(f"spec method {name} is never called directly")

    method.__name__ = name
    if len({_parameters(sig) for sig in parsed}) == 1:  # overloads differing in types only
        method.__signature__ = parsed[0]
    else:  # overloads that differ: checked by _check_overloads on the mock
        method.__signature__ = inspect.Signature(
            [
                inspect.Parameter("self", inspect.Parameter.POSITIONAL_ONLY),
                inspect.Parameter("args", inspect.Parameter.VAR_POSITIONAL),
                inspect.Parameter("kwargs", inspect.Parameter.VAR_KEYWORD),
            ]
        )
        method.overloads = parsed
    return method


def _parameters(sig: inspect.Signature) -> tuple:
    return tuple((p.name, p.kind, p.default is _DEFAULT) for p in sig.parameters.values())


def _check_overloads(name: str, overloads: list[inspect.Signature]):
    def check(*args, **kwargs):
        for sig in overloads:
            try:
                sig.bind(None, *args, **kwargs)
            except TypeError:
                continue
            return mock.DEFAULT
        raise TypeError(f"{name}{args!r}{kwargs!r} matches no overload of {name}: {overloads}")

    return check


class FakeTensorRT:
    """A ``tensorrt`` stand-in of one recorded version, its classes autospec mocks.

    Args:
        surface: A recording (``load_surface``) or ``describe_module`` of a live module.
        wired: Classes whose instance mocks are returned by the methods that return them
            (``Builder.create_network`` returns ``instance("INetworkDefinition")``); methods
            returning other classes return plain mocks.

    Attributes:
        module: The module to hand to the code under test in place of ``tensorrt``.
    """

    def __init__(self, surface: dict[str, Any], wired: tuple[str, ...] = ()) -> None:
        self.surface = surface
        self.version = surface["version"]
        self.wired = frozenset(wired)
        self.module = types.ModuleType("tensorrt")
        self.module.__version__ = self.version
        self._spec_classes: dict[str, type] = {}
        self._instances: dict[str, Any] = {}
        self._class_mocks: dict[str, Any] = {}
        for name, members in surface["enums"].items():
            setattr(self.module, name, enum.IntEnum(name, members))
        for name in surface["classes"]:
            if name.startswith("I"):
                # interfaces (ILogger, IProfiler, ...) are subclassed by user code: a real
                # class with the recorded methods and enums
                setattr(self.module, name, self.spec_class(name))
            else:
                setattr(self.module, name, _LazyClassMock(self, name))
        for name, sigs in surface["functions"].items():
            setattr(self.module, name, mock.create_autospec(_method(name, sigs)))

    @property
    def major(self) -> int:
        """The TensorRT major version (10, 11, ...)."""
        return int(self.version.split(".")[0])

    def spec_class(self, name: str) -> type:
        """A plain class with the recorded methods (with signatures), properties and enums."""
        if name in self._spec_classes:
            return self._spec_classes[name]
        info = self.surface["classes"][name]
        namespace: dict[str, Any] = {}
        for method, sigs in info["methods"].items():
            namespace[method] = _method(method, sigs)
        for prop in info["properties"]:
            namespace[prop] = property(lambda self: None)
        for enum_name, members in info["enums"].items():
            namespace[enum_name] = enum.IntEnum(enum_name, members)
        for const, (enum_name, member) in info["constants"].items():
            owner = namespace.get(enum_name) or getattr(self.module, enum_name, None)
            if owner is not None:
                namespace[const] = owner[member]
        cls = type(name, (), namespace)
        self._spec_classes[name] = cls
        return cls

    def instance(self, name: str) -> Any:
        """The instance mock of bindings class ``name`` (one per class, made on first use)."""
        if name not in self._instances:
            self._instances[name] = self.new_instance(name)
        return self._instances[name]

    def new_instance(self, name: str) -> Any:
        """A fresh instance mock of ``name`` (e.g. a second ``ITensor``)."""
        cls = self.spec_class(name)
        inst = mock.create_autospec(cls, instance=True, spec_set=True)
        self._instances.setdefault(name, inst)
        for method, sigs in self.surface["classes"][name]["methods"].items():
            if method == "__init__":
                continue
            child = getattr(inst, method)
            overloads = getattr(getattr(cls, method), "overloads", None)
            if overloads:
                child.side_effect = _check_overloads(method, overloads)
            returned = {return_class(s) for s in sigs}
            if len(returned) == 1 and (ret := returned.pop()) in self.wired:
                child.return_value = self.instance(ret)
        return inst

    def class_mock(self, name: str) -> Any:
        """The class mock of ``name``: calling it checks ``__init__`` and returns the instance."""
        if name not in self._class_mocks:
            cls = self.spec_class(name)
            klass = mock.create_autospec(cls, spec_set=True)
            overloads = getattr(getattr(cls, "__init__", None), "overloads", None)
            if overloads:
                klass.side_effect = _check_overloads(f"{name}.__init__", overloads)
            klass.return_value = self.instance(name)
            for attr in (
                *self.surface["classes"][name]["enums"],
                *self.surface["classes"][name]["constants"],
            ):
                if hasattr(cls, attr):
                    setattr(klass, attr, getattr(cls, attr))
            self._class_mocks[name] = klass
        return self._class_mocks[name]


class _LazyClassMock:
    """Module attribute for a bindings class: builds its autospec class mock on first use."""

    def __init__(self, fake: FakeTensorRT, name: str) -> None:
        self._fake, self._name = fake, name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._fake.class_mock(self._name)(*args, **kwargs)

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._fake.class_mock(self._name), attr)
