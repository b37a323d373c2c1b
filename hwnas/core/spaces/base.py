"""The search-space contract and its registry."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from hwnas.errors import InputError

_SPACES: dict[str, type[SearchSpace]] = {}


class UnknownSpaceError(InputError, KeyError):
    """A search-space name that is not registered."""

    def __str__(self) -> str:
        return str(self.args[0])


class SearchSpace(ABC):
    """A space of architectures: parse, sample, mutate, encode for predictors, build networks.

    Architectures are immutable values whose `str` is the canonical key everywhere.
    """

    name: str
    input_shape: tuple[int, ...]
    """The input of the built network without the batch dimension, e.g. (3, 32, 32)."""
    input_dtype: str = "float32"
    """The input's element type: ``"float32"`` for images, ``"int64"`` for token ids."""

    @abstractmethod
    def parse(self, text: str) -> Any:
        """The architecture written as `text`; raises a `ValueError` naming what is wrong."""

    @abstractmethod
    def sample(self, rng: np.random.Generator) -> Any:
        """One architecture drawn uniformly."""

    @abstractmethod
    def mutate(self, arch: Any, rng: np.random.Generator) -> Any:
        """A new architecture one step away from `arch`."""

    @abstractmethod
    def encode(self, archs: Sequence[Any]) -> np.ndarray:
        """Predictor features, (N, F) float32."""

    @abstractmethod
    def build(self, arch: Any, **kwargs: Any):
        """The PyTorch network of `arch`."""

    @abstractmethod
    def reference_archs(self) -> tuple[Any, ...]:
        """The 10 reference architectures whose latencies form a device's embedding."""


def register_space(name: str) -> Callable[[type[SearchSpace]], type[SearchSpace]]:
    """Class decorator that registers a `SearchSpace` subclass under `name`."""

    def decorate(cls: type[SearchSpace]) -> type[SearchSpace]:
        if name in _SPACES and _SPACES[name] is not cls:
            raise ValueError(f"search space {name!r} is already registered to {_SPACES[name]}")
        cls.name = name
        _SPACES[name] = cls
        return cls

    return decorate


def create_space(name: str, **kwargs: Any) -> SearchSpace:
    """An instance of the registered space `name`."""
    try:
        cls = _SPACES[name]
    except KeyError:
        raise UnknownSpaceError(
            f"unknown search space {name!r}; registered spaces: {', '.join(list_spaces())}"
        ) from None
    return cls(**kwargs)


def list_spaces() -> list[str]:
    """The registered space names, sorted."""
    return sorted(_SPACES)
