"""The runtime interface: a ``Runtime`` loads a model file into a ``Session`` that runs it."""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from profilers.errors import ModelLoadError
from profilers.timing import HostTimer, Timer

Dim = int | str | None  # a static size, a symbolic name, or unknown


@dataclass(frozen=True)
class InputSpec:
    """Name, shape and dtype of one model input.

    Attributes:
        name: Input name as the model declares it.
        shape: One entry per axis: an int for a static size, a str for a named dynamic axis,
            None for an unnamed dynamic axis. Axis 0 is taken to be the batch axis.
        dtype: Numpy dtype the runtime expects.
    """

    name: str
    shape: tuple[Dim, ...]
    dtype: np.dtype

    def concrete_shape(self, batch_size: int, dims: Mapping[str, int] | None = None) -> tuple:
        """Return the shape with dynamic axes filled in.

        Args:
            batch_size: Size of axis 0 when it is dynamic; must equal it when it is static.
            dims: Sizes of other named dynamic axes, e.g. ``{"seq_len": 128}``.

        Raises:
            ModelLoadError: If a static batch axis differs from ``batch_size`` or a dynamic
                axis has no size.
        """
        dims = dims or {}
        shape = []
        for axis, dim in enumerate(self.shape):
            if isinstance(dim, int) and dim >= 0:
                if axis == 0 and dim != batch_size:
                    raise ModelLoadError(
                        f"input {self.name!r} has a fixed batch axis of {dim}, not {batch_size}; "
                        f"profile it with batch_size={dim} or export it with a dynamic batch axis"
                    )
                shape.append(dim)
            elif axis == 0:
                shape.append(batch_size)
            elif isinstance(dim, str) and dim in dims:
                shape.append(int(dims[dim]))
            else:
                raise ModelLoadError(
                    f"input {self.name!r} has dynamic axis {axis} ({dim!r}) with no size; "
                    f"pass dims={{{dim!r}: SIZE}} or export the model with a static size there"
                )
        return tuple(shape)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable description of the input."""
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype.name}


def random_inputs(
    specs: tuple[InputSpec, ...],
    batch_size: int = 1,
    seed: int = 0,
    dims: Mapping[str, int] | None = None,
) -> dict[str, np.ndarray]:
    """Make reproducible random inputs matching ``specs``.

    Floats are standard normal, integers uniform in ``[0, 8)`` (safe as small indices),
    booleans fair coin flips. Named dynamic axes other than the batch axis take their size
    from ``dims``.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    # A named batch axis may reappear on other axes (e.g. an attention mask): same size there.
    batch_names = {s.shape[0]: batch_size for s in specs if s.shape and isinstance(s.shape[0], str)}
    dims = {**(dims or {}), **batch_names}
    rng = np.random.default_rng(seed)
    inputs = {}
    for spec in specs:
        shape = spec.concrete_shape(batch_size, dims)
        kind = spec.dtype.kind
        if kind == "f":
            value = rng.standard_normal(shape).astype(spec.dtype)
        elif kind in "iu":
            value = rng.integers(0, 8, size=shape).astype(spec.dtype)
        elif kind == "b":
            value = rng.random(shape) < 0.5
        else:
            raise ModelLoadError(
                f"input {spec.name!r} has dtype {spec.dtype}, for which hwnas cannot make random "
                "values; build the inputs yourself and call session.run(inputs)"
            )
        inputs[spec.name] = np.asarray(value)
    return inputs


class Session(abc.ABC):
    """A model loaded into a runtime, ready to run; close it (or use ``with``) when done."""

    model_path: Path

    @property
    @abc.abstractmethod
    def input_specs(self) -> tuple[InputSpec, ...]:
        """Return the model's inputs in declaration order."""

    @abc.abstractmethod
    def run(self, inputs: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        """Run one inference and return the outputs in declaration order."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the runtime's resources; further ``run`` calls fail. Idempotent."""

    def random_inputs(
        self, batch_size: int = 1, seed: int = 0, dims: Mapping[str, int] | None = None
    ) -> dict[str, np.ndarray]:
        """Make reproducible random inputs for ``batch_size`` (see ``random_inputs``)."""
        return random_inputs(self.input_specs, batch_size, seed, dims)

    def prepare(self, inputs: Mapping[str, np.ndarray]) -> Callable[[], object]:
        """Return a zero-argument callable doing one inference on ``inputs``, for timing.

        Runtimes that keep tensors on a device copy the inputs there once here, so that the
        timed call is the inference alone; by default it is ``run(inputs)``.
        """
        return lambda: self.run(inputs)

    def timer(self) -> Timer:
        """Return the timer for this session's runs (host ``perf_counter_ns`` by default)."""
        return HostTimer()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class Runtime(abc.ABC):
    """Something that loads a model file and runs it: onnxruntime, TensorRT, torch, ...

    Subclasses are registered with ``@register_runtime(name)``, which sets ``name``.
    ``__init__`` only stores settings; nothing heavy is imported before ``describe`` or
    ``load`` is called.
    """

    name: ClassVar[str]
    model_format: ClassVar[str] = "onnx"
    """What ``load`` takes: ``"onnx"`` (an ONNX file path) or ``"torch"`` (a ``TorchModel``)."""
    not_settings: ClassVar[frozenset[str]] = frozenset()
    """Fields of ``describe()`` that do not change how a model is timed (what is installed
    besides what is used, outcomes of loading a model); ``comparable_settings`` leaves them out."""

    @abc.abstractmethod
    def describe(self) -> dict[str, Any]:
        """Return the runtime's version and settings (threads, providers, ...) as JSON data."""

    def comparable_settings(self, info: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Return the conditions of a measurement: ``info`` without the ``not_settings`` fields.

        Args:
            info: A ``describe()`` of this kind of runtime, e.g. a stored measurement's
                ``runtime_info``; default this runtime's ``describe()`` now.

        Two measurements with equal comparable settings (library version included) were
        timed under the same conditions of the runtime.
        """
        info = self.describe() if info is None else info
        return {name: value for name, value in info.items() if name not in self.not_settings}

    @abc.abstractmethod
    def load(self, model_path: str | Path) -> Session:
        """Load a model file into a new session."""
