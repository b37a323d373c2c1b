"""Search spaces: immutable architecture values, encodings, samplers and network builders."""

from hwnas.spaces.base import (
    SearchSpace,
    UnknownSpaceError,
    create_space,
    list_spaces,
    register_space,
)
from hwnas.spaces.nb201 import (
    ArchIndexError,
    ArchStringError,
    NB201Arch,
    NB201Space,
    parse_arch,
)

__all__ = [
    "ArchIndexError",
    "ArchStringError",
    "NB201Arch",
    "NB201Space",
    "SearchSpace",
    "UnknownSpaceError",
    "create_space",
    "list_spaces",
    "parse_arch",
    "register_space",
]
