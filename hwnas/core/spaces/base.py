"""The search-space contract and its registry."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
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

    Architectures are immutable values whose `str` is the canonical key everywhere. Beyond the
    abstract methods, a space states what code above it may ask of it, so that no caller
    branches on a space's name: its shipped table (`index_column`, `table_archs`,
    `table_index`), the MetaPredictor's features (`predictor_features`, `network_costs`),
    the size keywords of `build` (`size_defaults`, `depth_keyword`) and how a profile draws
    its networks (`samples_from_table`).
    """

    name: str
    input_shape: tuple[int, ...]
    """The input of the built network without the batch dimension, e.g. (3, 32, 32)."""
    input_dtype: str = "float32"
    """The input's element type: ``"float32"`` for images, ``"int64"`` for token ids."""
    index_column: str | None = None
    """The column naming a network's row in the shipped table and in wide CSVs
    (``nb201_index``); None for a space without a shipped latency table."""
    arch_noun: str = "networks"
    """What the space's architectures are called in messages (``cells`` for a cell space)."""
    size_defaults: Mapping[str, int] = {}
    """The size keywords `build` takes besides ``num_classes``, with their defaults."""
    depth_keyword: str | None = None
    """The `build` keyword that sets the network's depth in cells (one of `size_defaults`)."""
    variant_of: str | None = None
    """The space this one is a reduced variant of (RobustDARTS's ``s1``..``s4`` of ``darts``,
    made to study search failures); commands that take whole spaces leave variants out."""
    samples_from_table: bool = False
    """Whether a profile draws its non-reference networks from the shipped table (a space too
    large to sample uniformly with meaning, such as FBNet's 9**22) rather than the space."""

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

    def check_sizes(self, **sizes: int) -> None:
        """Refuses size keywords (of `size_defaults`) that `build` cannot use.

        Raises:
            InputError: naming the keyword, its value and what would be accepted.
        """
        for key, value in sizes.items():
            if key not in self.size_defaults:
                raise InputError(
                    f"search space {self.name!r} has no size {key!r}; it takes "
                    f"{', '.join(self.size_defaults) or 'none'}"
                )
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise InputError(f"{self.name} {key} must be a positive integer, got {value!r}")

    @property
    def has_table(self) -> bool:
        """Whether the space ships a latency table (and so can be profiled and predicted)."""
        return self.index_column is not None

    def table_archs(self) -> tuple[Any, ...]:
        """The architectures of the shipped latency table, in `index_column` (row) order."""
        raise NoSpaceTableError(f"search space {self.name!r} ships no latency table")

    def table_index(self, arch: Any) -> int | None:
        """The `index_column` value of `arch`; None for an architecture not in the table."""
        raise NoSpaceTableError(f"search space {self.name!r} ships no latency table")

    def predictor_features(self, archs: Sequence[Any]) -> np.ndarray:
        """The MetaPredictor's input features of `archs`, (N, F) float32."""
        raise NoSpaceTableError(f"search space {self.name!r} has no MetaPredictor features")

    def network_costs(self, archs: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
        """(parameters, MACs) of each architecture's default network: two (N,) int64."""
        raise NoSpaceTableError(f"search space {self.name!r} has no closed-form network costs")


class NoSpaceTableError(InputError):
    """A question (table, predictor features) that a search space cannot answer."""


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
    return space_class(name)(**kwargs)


def list_spaces(where: Callable[[type[SearchSpace]], bool] | None = None) -> list[str]:
    """The registered space names, sorted; with `where`, those whose class it accepts.

    For example ``list_spaces(lambda cls: cls.index_column is not None)``: the spaces with a
    shipped latency table (what ``hwnas profile`` and the MetaPredictor accept).
    """
    return sorted(name for name, cls in _SPACES.items() if where is None or where(cls))


def table_spaces() -> list[str]:
    """The registered spaces that ship a latency table, sorted."""
    return list_spaces(lambda cls: cls.index_column is not None)


def cell_spaces(variants: bool = True) -> list[str]:
    """The registered spaces whose networks stack a searched cell, each before its variants.

    Those with a `SearchSpace.depth_keyword`; without `variants`, reduced variants left out.
    """
    names = list_spaces(
        lambda cls: cls.depth_keyword is not None and (variants or cls.variant_of is None)
    )
    return sorted(names, key=lambda name: (_SPACES[name].variant_of or name, name))


def space_class(name: str) -> type[SearchSpace]:
    """The class registered as `name`, without building an instance."""
    try:
        return _SPACES[name]
    except KeyError:
        raise UnknownSpaceError(
            f"unknown search space {name!r}; registered spaces: {', '.join(list_spaces())}"
        ) from None
