"""The FBNet macro-architecture: stages, per-layer shapes, and closed-form parameter/MAC counts.

The FBNet space (Wu et al., "FBNet", CVPR 2019, Table 1) is a fixed skeleton of 22 searchable
layers: a 3x3 stem of 16 channels, then stages of 16, 24, 32, 64, 112, 184 and 352 channels
with 1, 4, 4, 4, 4, 4 and 1 layers, a 1x1 head conv, global average pooling and a classifier.
Stage strides and head width follow HW-NAS-Bench (Li et al., ICLR 2021), whose
`hw_nas_bench_api/fbnet_models` defines two settings:

- ``cifar100``: 32x32 input, stem stride 1, stage strides 1,1,2,2,1,2,1, head 1504, 100 classes
  (HW-NAS-Bench calls it an unofficial CIFAR setting).
- ``imagenet``: 224x224 input, stem stride 2, stage strides 1,2,2,2,1,2,1, head 1984, 1000
  classes (the FBNet paper's).

The counts here are closed forms of the network `hwnas.core.spaces.fbnet_net` builds, using the
convention of `hwnas.core.complexity` (a MAC per multiply-accumulate of convolutions and linear
layers; parameters include BatchNorm weight and bias); a test checks them against that module.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

OPS: tuple[str, ...] = (
    "k3_e1",
    "k3_e1_g2",
    "k3_e3",
    "k3_e6",
    "k5_e1",
    "k5_e1_g2",
    "k5_e3",
    "k5_e6",
    "skip",
)
"""The 9 layer choices, in HW-NAS-Bench's order (its `op_idx_list` values index this tuple)."""

SKIP = "skip"
STEM_CHANNELS = 16
STAGE_CHANNELS: tuple[int, ...] = (16, 24, 32, 64, 112, 184, 352)
STAGE_DEPTHS: tuple[int, ...] = (1, 4, 4, 4, 4, 4, 1)
NUM_LAYERS = sum(STAGE_DEPTHS)


@dataclass(frozen=True)
class BlockSpec:
    """What a non-skip layer choice is: an inverted-residual block.

    Attributes:
        kernel: Side of the depthwise convolution.
        expansion: Hidden channels are `expansion` times the block's input channels.
        groups: Groups of both 1x1 convolutions (2 adds a channel shuffle).
    """

    kernel: int
    expansion: int
    groups: int


def block_spec(op: str) -> BlockSpec | None:
    """The block of a layer choice such as ``k5_e1_g2``; None for ``skip``."""
    if op == SKIP:
        return None
    parts = op.split("_")
    groups = int(parts[2][1:]) if len(parts) == 3 else 1
    return BlockSpec(kernel=int(parts[0][1:]), expansion=int(parts[1][1:]), groups=groups)


@dataclass(frozen=True)
class FBNetMacro:
    """One input setting of the FBNet skeleton (resolution, strides, head width, classes)."""

    name: str
    input_size: int
    num_classes: int
    stem_stride: int
    stage_strides: tuple[int, ...]
    head_channels: int

    def __post_init__(self) -> None:
        if len(self.stage_strides) != len(STAGE_CHANNELS):
            raise ValueError(
                f"stage_strides needs {len(STAGE_CHANNELS)} values, got {self.stage_strides}"
            )
        if any(s not in (1, 2) for s in (self.stem_stride, *self.stage_strides)):
            raise ValueError("strides must be 1 or 2")
        if min(self.input_size, self.num_classes, self.head_channels) < 1:
            raise ValueError("input_size, num_classes and head_channels must be positive")


MACROS: dict[str, FBNetMacro] = {
    "cifar100": FBNetMacro("cifar100", 32, 100, 1, (1, 1, 2, 2, 1, 2, 1), 1504),
    "imagenet": FBNetMacro("imagenet", 224, 1000, 2, (1, 2, 2, 2, 1, 2, 1), 1984),
}
DEFAULT_MACRO = "cifar100"


def get_macro(name: str | FBNetMacro) -> FBNetMacro:
    """The setting called `name` (or `name` itself when it is already a setting)."""
    if isinstance(name, FBNetMacro):
        return name
    try:
        return MACROS[name]
    except KeyError:
        raise ValueError(
            f"unknown FBNet setting {name!r}; choose one of {', '.join(MACROS)}"
        ) from None


@dataclass(frozen=True)
class LayerShape:
    """Where a searchable layer sits: channels in/out, stride, input side (square maps)."""

    c_in: int
    c_out: int
    stride: int
    size_in: int

    @property
    def size_out(self) -> int:
        return -(-self.size_in // self.stride)  # every conv pads to ceil(size / stride)


def layer_shapes(macro: str | FBNetMacro, input_size: int | None = None) -> tuple[LayerShape, ...]:
    """The 22 searchable layers' shapes for `macro` at `input_size` (its default if None)."""
    macro = get_macro(macro)
    size = -(-(input_size or macro.input_size) // macro.stem_stride)
    shapes, c_in = [], STEM_CHANNELS
    for channels, depth, stage_stride in zip(STAGE_CHANNELS, STAGE_DEPTHS, macro.stage_strides):
        for i in range(depth):
            shape = LayerShape(c_in, channels, stage_stride if i == 0 else 1, size)
            shapes.append(shape)
            size, c_in = shape.size_out, channels
    return tuple(shapes)


def layer_cost(op: str, shape: LayerShape) -> tuple[int, int]:
    """(parameters, MACs) of one layer choice at `shape`; `skip` is free unless it projects."""
    out_pixels = shape.size_out**2
    spec = block_spec(op)
    if spec is None:
        if shape.stride == 1 and shape.c_in == shape.c_out:
            return 0, 0
        return shape.c_in * shape.c_out + 2 * shape.c_out, out_pixels * shape.c_in * shape.c_out
    hidden = shape.c_in * spec.expansion
    expand = hidden * shape.c_in // spec.groups
    depthwise = hidden * spec.kernel**2
    project = shape.c_out * hidden // spec.groups
    params = expand + depthwise + project + 2 * (2 * hidden + shape.c_out)
    macs = shape.size_in**2 * expand + out_pixels * (depthwise + project)
    return params, macs


@functools.cache
def cost_tables(
    macro: str | FBNetMacro = DEFAULT_MACRO,
    input_size: int | None = None,
    num_classes: int | None = None,
) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Per-layer costs and the fixed part of the network.

    Returns:
        (params (22, 9), MACs (22, 9), fixed params, fixed MACs): entry [l, k] is the cost of
        choice `OPS[k]` at layer l; the fixed part is stem, head conv and classifier.
    """
    macro = get_macro(macro)
    shapes = layer_shapes(macro, input_size)
    table = np.array([[layer_cost(op, s) for op in OPS] for s in shapes], dtype=np.int64)
    classes = num_classes or macro.num_classes
    stem_side = shapes[0].size_in
    head_side = shapes[-1].size_out
    head = macro.head_channels
    fixed_params = (
        (3 * 9 * STEM_CHANNELS + 2 * STEM_CHANNELS)
        + (STAGE_CHANNELS[-1] * head + 2 * head)
        + (head * classes + classes)
    )
    fixed_macs = (
        stem_side**2 * STEM_CHANNELS * 27
        + head_side**2 * head * STAGE_CHANNELS[-1]
        + head * classes
    )
    table.flags.writeable = False  # cached: every caller shares it
    return table[..., 0], table[..., 1], fixed_params, fixed_macs


def total_costs(
    op_indices: np.ndarray,
    macro: str | FBNetMacro = DEFAULT_MACRO,
    input_size: int | None = None,
    num_classes: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(parameters, MACs) of many networks from their (N, 22) choice indices: two (N,) int64."""
    params, macs, fixed_params, fixed_macs = cost_tables(macro, input_size, num_classes)
    op_indices = np.asarray(op_indices, dtype=np.intp)
    layers = np.arange(NUM_LAYERS)
    return (
        params[layers, op_indices].sum(axis=1) + fixed_params,
        macs[layers, op_indices].sum(axis=1) + fixed_macs,
    )
