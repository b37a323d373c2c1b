"""Search spaces: immutable architecture values, encodings, samplers and network builders."""

import hwnas.core.spaces.darts_space  # noqa: F401 - registers "darts" and "s1".."s4"; no torch
import hwnas.core.spaces.lrnn  # noqa: F401 - registers the "lrnn" space; imports no torch
from hwnas.core.spaces.base import (
    NoSpaceTableError,
    SearchSpace,
    UnknownSpaceError,
    cell_spaces,
    create_space,
    list_spaces,
    register_space,
    space_class,
    table_spaces,
)
from hwnas.core.spaces.fbnet import FBNetArch, FBNetSpace, parse_fbnet_arch
from hwnas.core.spaces.nb201 import (
    ArchIndexError,
    ArchStringError,
    NB201Arch,
    NB201Space,
    parse_arch,
)

__all__ = [
    "ArchIndexError",
    "ArchStringError",
    "FBNetArch",
    "FBNetSpace",
    "NB201Arch",
    "NB201Space",
    "NoSpaceTableError",
    "SearchSpace",
    "UnknownSpaceError",
    "cell_spaces",
    "create_space",
    "list_spaces",
    "parse_arch",
    "parse_fbnet_arch",
    "register_space",
    "space_class",
    "table_spaces",
]
