"""The FBNet network in PyTorch, as HW-NAS-Bench builds it for its hardware measurements.

Follows `FBNet_Infer` of HW-NAS-Bench (Li et al., ICLR 2021; `hw_nas_bench_api/fbnet_models`):

- stem: 3x3 conv (16 channels, stride 1 or 2 by setting) -> BN -> ReLU;
- 22 searchable layers (`hwnas.core.spaces.fbnet_macro` gives channels and strides). A block
  ``k{k}_e{e}[_g2]`` is 1x1 conv to e * C_in channels (2 groups for ``_g2``) -> BN -> ReLU
  [-> channel shuffle for ``_g2``] -> depthwise k x k conv with the layer's stride -> BN ->
  ReLU -> 1x1 conv to C_out (2 groups for ``_g2``) -> BN, plus the input when the stride is 1
  and C_in == C_out. ``skip`` is the identity, or 1x1 conv -> BN -> ReLU where the stride is 2
  or the channels change;
- head: 1x1 conv to 1504 (``cifar100``) or 1984 (``imagenet``) channels -> BN -> ReLU, global
  average pooling, linear classifier.
"""

from __future__ import annotations

import torch
from torch import nn

from hwnas.core.spaces.fbnet_arch import FBNetArch
from hwnas.core.spaces.fbnet_macro import (
    STAGE_CHANNELS,
    STEM_CHANNELS,
    FBNetMacro,
    LayerShape,
    block_spec,
    get_macro,
    layer_shapes,
)


class ConvBNReLU(nn.Sequential):
    """Conv2d (no bias) -> BatchNorm2d -> ReLU, padded to keep ceil(size / stride)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1, groups: int = 1):
        super().__init__(
            nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, groups=groups, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=False),
        )


class ChannelShuffle(nn.Module):
    """Interleaves the channels of `groups` groups (ShuffleNet): (B, C, H, W) -> same shape."""

    def __init__(self, groups: int) -> None:
        super().__init__()
        self.groups = groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.unflatten(1, (self.groups, -1)).transpose(1, 2).flatten(1, 2)


class InvertedResidual(nn.Module):
    """The FBNet block: expand, (shuffle), depthwise, project, residual where shapes allow."""

    def __init__(self, shape: LayerShape, kernel: int, expansion: int, groups: int) -> None:
        super().__init__()
        hidden = shape.c_in * expansion
        self.expand = ConvBNReLU(shape.c_in, hidden, 1, groups=groups)
        self.shuffle = ChannelShuffle(groups) if groups > 1 else nn.Identity()
        self.depthwise = ConvBNReLU(hidden, hidden, kernel, shape.stride, groups=hidden)
        self.project = nn.Sequential(
            nn.Conv2d(hidden, shape.c_out, 1, groups=groups, bias=False),
            nn.BatchNorm2d(shape.c_out),
        )
        self.residual = shape.stride == 1 and shape.c_in == shape.c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.project(self.depthwise(self.shuffle(self.expand(x))))
        return out + x if self.residual else out


def make_layer(op: str, shape: LayerShape) -> nn.Module:
    """The module of one layer choice at `shape`."""
    spec = block_spec(op)
    if spec is not None:
        return InvertedResidual(shape, spec.kernel, spec.expansion, spec.groups)
    if shape.stride == 1 and shape.c_in == shape.c_out:
        return nn.Identity()
    return ConvBNReLU(shape.c_in, shape.c_out, 1, shape.stride)


class FBNetNetwork(nn.Module):
    """One FBNet network; input (B, 3, H, W) with any H, W; output logits (B, classes).

    Args:
        arch: The 22 layer choices.
        macro: ``cifar100`` (default), ``imagenet`` or an `FBNetMacro`: strides and head width.
        num_classes: Classifier outputs; the setting's own (100 or 1000) if None.
    """

    def __init__(
        self,
        arch: FBNetArch,
        macro: str | FBNetMacro = "cifar100",
        num_classes: int | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(arch, FBNetArch):
            raise TypeError(f"expected an FBNetArch, got {type(arch).__name__}")
        macro = get_macro(macro)
        num_classes = macro.num_classes if num_classes is None else num_classes
        if num_classes < 1:
            raise ValueError(f"num_classes must be positive, got {num_classes}")
        self.arch = arch
        self.macro = macro
        self.stem = ConvBNReLU(3, STEM_CHANNELS, 3, macro.stem_stride)
        self.layers = nn.Sequential(
            *(make_layer(op, shape) for op, shape in zip(arch.ops, layer_shapes(macro)))
        )
        self.head = ConvBNReLU(STAGE_CHANNELS[-1], macro.head_channels, 1)
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(macro.head_channels, num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        """He (fan-out) convolutions, unit BatchNorm, small classifier: HW-NAS-Bench's choice."""
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, std=0.001)
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.head(self.layers(self.stem(x)))
        return self.classifier(torch.flatten(self.global_pooling(features), 1))
