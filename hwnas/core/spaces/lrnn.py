"""The LRNN search space as a registered search space; importing it does not import torch.

The architecture value, its string and encoding live in `hwnas.core.spaces.lrnn_arch`
(re-exported here); the network in `hwnas.core.spaces.lrnn_layers`.
"""

from __future__ import annotations

import numpy as np

from hwnas.core.spaces.base import SearchSpace, register_space
from hwnas.core.spaces.lrnn_arch import (
    _REFERENCES,
    EIGEN_RANGES,
    FEATURES,
    LAYERS,
    MLP_RATIO,
    PREFIX,
    RECURRENCES,
    STATES,
    WIDTHS,
    LRNNArch,
    LRNNArchError,
    _all_archs,
    delta_heads,
    encode,
    macs_per_token,
    parse_lrnn_arch,
    state_floats,
)

__all__ = [
    "delta_heads",
    "EIGEN_RANGES",
    "encode",
    "FEATURES",
    "LAYERS",
    "LRNNArch",
    "LRNNArchError",
    "LRNNSpace",
    "macs_per_token",
    "MLP_RATIO",
    "parse_lrnn_arch",
    "PREFIX",
    "RECURRENCES",
    "state_floats",
    "STATES",
    "WIDTHS",
]


@register_space("lrnn")
class LRNNSpace(SearchSpace):
    """Linear RNNs over token sequences; the built network maps token ids (B, T) to logits.

    ``input_shape`` is the sequence length timed by default: (T,) int64 token ids, not floats.
    """

    input_shape = (256,)
    input_dtype = "int64"

    def parse(self, text: str) -> LRNNArch:
        return LRNNArch.from_string(text)

    def sample(self, rng: np.random.Generator) -> LRNNArch:
        return LRNNArch.sample(rng)

    def mutate(self, arch: LRNNArch, rng: np.random.Generator) -> LRNNArch:
        return arch.mutate(rng)

    def encode(self, archs) -> np.ndarray:
        return encode(list(archs))

    def build(self, arch: LRNNArch, vocab_size: int = 2, num_classes: int = 2, **kwargs):
        """An `hwnas.core.spaces.lrnn_layers.LRNNModel`.

        ``kwargs`` go to `LRNNConfig` (e.g. ``scan``).
        """
        from hwnas.core.spaces.lrnn_layers import LRNNConfig, LRNNModel

        return LRNNModel(LRNNConfig(arch, vocab_size, num_classes, **kwargs))

    def reference_archs(self) -> tuple[LRNNArch, ...]:
        return tuple(LRNNArch.from_string(text) for text in _REFERENCES)

    def all_archs(self) -> tuple[LRNNArch, ...]:
        """All 256 architectures, in sorted order."""
        return _all_archs()
