"""The FBNet layer-wise space as a registered search space.

The architecture value, its string, encodings and costs live in `hwnas.core.spaces.fbnet_arch`
(re-exported here); the network in `hwnas.core.spaces.fbnet_net`.
"""

from __future__ import annotations

import numpy as np

from hwnas.core.spaces.base import SearchSpace, register_space
from hwnas.core.spaces.fbnet_arch import (
    _OP_INDEX,
    FBNET_C,
    FEATURES,
    NUM_ARCHS,
    NUM_LAYERS,
    ONE_HOT_FEATURES,
    OPS,
    SKIP,
    SUMMARY_FEATURES,
    ArchIndexError,
    ArchStringError,
    FBNetArch,
    block_spec,
    encode,
    encode_indices,
    one_hot,
    one_hot_indices,
    op_index_matrix,
    parse_fbnet_arch,
)
from hwnas.core.spaces.fbnet_macro import DEFAULT_MACRO, FBNetMacro, get_macro, total_costs

__all__ = [
    "ArchIndexError",
    "ArchStringError",
    "block_spec",
    "encode",
    "encode_indices",
    "FBNET_C",
    "FBNetArch",
    "FBNetSpace",
    "FEATURES",
    "NUM_ARCHS",
    "NUM_LAYERS",
    "one_hot",
    "ONE_HOT_FEATURES",
    "one_hot_indices",
    "op_index_matrix",
    "OPS",
    "parse_fbnet_arch",
    "SKIP",
    "SUMMARY_FEATURES",
]


@register_space("fbnet")
class FBNetSpace(SearchSpace):
    """The FBNet layer-wise space with its HW-NAS-Bench network.

    The shipped latencies do not state their input size; ``cifar100`` (32x32) is the default
    because they fit it better: e.g. ``pixel3`` (HW-NAS-Bench's, an exact sum of per-layer
    costs) has per-layer costs correlating 0.95 with this setting's per-layer MACs and 0.91
    with the ``imagenet`` ones, and GPU latency barely grows from batch 1 to 64.

    Args:
        macro: The input setting of `hwnas.core.spaces.fbnet_macro.MACROS`: ``cifar100`` (32x32, the
            default) or ``imagenet`` (224x224).
        input_size: Input side in pixels, if not the setting's own.
    """

    input_shape = (3, 32, 32)
    index_column = "fbnet_index"
    samples_from_table = True

    def __init__(self, macro: str | FBNetMacro = DEFAULT_MACRO, input_size: int | None = None):
        self.macro = get_macro(macro)
        if input_size is not None and input_size < 1:
            raise ValueError(f"input_size must be positive, got {input_size}")
        self.input_size = input_size or self.macro.input_size
        self.input_shape = (3, self.input_size, self.input_size)

    def parse(self, text: str) -> FBNetArch:
        return FBNetArch.from_string(text)

    def sample(self, rng: np.random.Generator) -> FBNetArch:
        return FBNetArch.sample(rng)

    def mutate(self, arch: FBNetArch, rng: np.random.Generator) -> FBNetArch:
        return arch.mutate(rng)

    def encode(self, archs) -> np.ndarray:
        return encode(list(archs))

    def one_hot(self, archs) -> np.ndarray:
        """`one_hot` of `archs`, (N, 198) float32."""
        return one_hot(list(archs))

    def costs(self, archs, num_classes: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(parameters, MACs) of each network at this space's input size: two (N,) int64.

        Closed forms, equal to `hwnas.core.complexity` on the built networks, without building them.
        """
        return total_costs(op_index_matrix(list(archs)), self.macro, self.input_size, num_classes)

    def summary(self, archs) -> np.ndarray:
        """Three whole-network features, (N, 3) float32: `SUMMARY_FEATURES` names them.

        MACs and parameters (millions, at this space's setting and input size) and the number
        of skip layers. On the shipped table, a ridge regression on these three ranks a
        device's networks far better from 10-20 samples than one on `encode` or `one_hot`
        (mean Spearman over the 13 devices about 0.80 at k=10 against 0.22 and 0.17).
        """
        indices = op_index_matrix(list(archs))
        params, macs = total_costs(indices, self.macro, self.input_size)
        skips = (indices == _OP_INDEX[SKIP]).sum(axis=1)
        return np.stack([macs / 1e6, params / 1e6, skips], axis=1).astype(np.float32)

    def build(self, arch: FBNetArch, num_classes: int | None = None):
        from hwnas.core.spaces.fbnet_net import FBNetNetwork

        return FBNetNetwork(arch, self.macro, num_classes)

    def reference_archs(self) -> tuple[FBNetArch, ...]:
        from hwnas.core.tables import reference_archs

        return tuple(FBNetArch.from_string(a) for a in reference_archs("fbnet"))

    def table_archs(self) -> tuple[FBNetArch, ...]:
        """The 5,000 networks of the shipped latency table, in `fbnet_index` (row) order."""
        from hwnas.core.tables import load_latency_table

        return tuple(FBNetArch.from_string(a) for a in load_latency_table("fbnet").archs)

    def table_index(self, arch: FBNetArch) -> int | None:
        """The `fbnet_index` of `arch` in the shipped table; None for the other 9**22 - 5,000."""
        from hwnas.core.tables import load_latency_table

        table = load_latency_table("fbnet")
        row = table.row_of.get(str(arch))
        return None if row is None else int(table.indices[row])

    def predictor_features(self, archs) -> np.ndarray:
        """The MetaPredictor's features, (N, 91) float32.

        Per layer, skip, 5x5 kernel, expansion / 6 and grouped (88), and the network's MACs
        (per 100 M), parameters (per 3 M) and skip count (per 22), since whole-network costs
        rank FBNet networks well.
        """
        summary = self.summary(archs) / np.array([100.0, 3.0, 22.0], dtype=np.float32)
        return np.concatenate([self.encode(archs), summary], axis=1).astype(np.float32)

    def network_costs(self, archs) -> tuple[np.ndarray, np.ndarray]:
        """(parameters, MACs) of each network at this space's setting (`costs`)."""
        return self.costs(list(archs))
