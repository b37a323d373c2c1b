"""The network a profile times when it is not a shipped table's setting: the one that will ship.

`hwnas profile` by default times each space's bare network at the setting of the shipped
latency tables (NB201: 3x32x32 input, 16 channels, 5 cells per stage). A network trained on
other data is another network: 8x8 grey digits, fewer cells. `NetworkSetting` describes that
network exactly as `hwnas train` builds it (`hwnas.core.deployable.DeployableNetwork`: the
input preprocessing, channel repeat, optional resize and normalisation, in the graph, then the
searched network of the given size), so what is timed is what ships.

Measurements of a setting are stored under the key ``ARCH@LABEL`` (`store_key`): never mixed
with the table setting's bare ``ARCH`` rows or another setting's, and left out of
`hwnas generate --store`, which reads the table setting.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hwnas.errors import InputError

KEY_SEPARATOR = "@"
_NORMALISATION = (0.5, 0.25)
"""Mean and deviation the timed graphs normalise with: the values change no operation or
shape (a trained model's own are data statistics), only non-trivial ones keep an exporter
from folding the subtraction and division away."""


@dataclass(frozen=True)
class NetworkSetting:
    """The deployable network of a space at a data set's image shape and a network size.

    Attributes:
        input_shape: (C, H, W) of the images the file takes, as the data holds them.
        num_classes: Classifier outputs.
        sizes: The space's size keywords of `build` (NB201: ``channels``, ``cells_per_stage``).
        input_size: Side the images are resized to inside the network; None: the data's own.
    """

    input_shape: tuple[int, int, int]
    num_classes: int
    sizes: Mapping[str, int] = field(default_factory=dict)
    input_size: int | None = None

    def __post_init__(self) -> None:
        shape = tuple(self.input_shape)
        if len(shape) != 3 or any(isinstance(v, bool) or int(v) != v or v < 1 for v in shape):
            raise InputError(f"input shape must be 3 positive integers (C, H, W), got {shape}")
        object.__setattr__(self, "input_shape", tuple(int(v) for v in shape))
        if self.num_classes < 1:
            raise InputError(f"num_classes must be >= 1, got {self.num_classes}")
        if self.input_size is not None and self.input_size < 1:
            raise InputError(f"input size must be >= 1, got {self.input_size}")
        if self.input_size is not None and shape[1] == shape[2] == self.input_size:
            object.__setattr__(self, "input_size", None)  # the data's own side: no resize
        sizes = dict(sorted(self.sizes.items()))
        for key, value in sizes.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(f"network size {key} must be a positive integer, got {value!r}")
        object.__setattr__(self, "sizes", sizes)

    @property
    def label(self) -> str:
        """A short name of the setting, usable in store keys and folder names, e.g.
        ``1x8x8-classes10-cells_per_stage1-channels16``."""
        parts = ["x".join(str(v) for v in self.input_shape), f"classes{self.num_classes}"]
        parts += [f"{key}{value}" for key, value in self.sizes.items()]
        if self.input_size is not None:
            parts.append(f"resize{self.input_size}")
        return "-".join(parts)

    def store_key(self, arch: Any) -> str:
        """The measurement store's key of `arch` in this setting."""
        return f"{arch}{KEY_SEPARATOR}{self.label}"

    def network_input(self, space_name: str) -> tuple[int, int, int]:
        """(C, H, W) the searched network sees: the space's channels, the (resized) side."""
        from hwnas.core.spaces import create_space

        channels = int(create_space(space_name).input_shape[0])
        _, height, width = self.input_shape
        if self.input_size is not None:
            height = width = self.input_size
        return (channels, height, width)

    def model_spec(self, space_name: str, arch: Any):
        """The `TrainedModelSpec` of `arch` in this setting, untrained (for timing)."""
        from hwnas.core.trained import TrainedModelSpec

        network_input = self.network_input(space_name)
        if network_input[0] % self.input_shape[0]:
            raise InputError(
                f"{self.input_shape[0]}-channel images cannot feed the {network_input[0]}-channel "
                f"{space_name} network"
            )
        mean, std = _NORMALISATION
        return TrainedModelSpec(
            space=space_name,
            arch=str(arch),
            input_shape=self.input_shape,
            num_classes=self.num_classes,
            class_names=tuple(str(i) for i in range(self.num_classes)),
            mean=(mean,) * network_input[0],
            std=(std,) * network_input[0],
            network_input=network_input,
            network=dict(self.sizes),
            trained=False,
        )

    def build(self, space_name: str, arch: Any):
        """The deployable network of `arch` (fresh weights) and the (C, H, W) it takes."""
        from hwnas.core.deployable import build_deployable

        return build_deployable(self.model_spec(space_name, arch)), self.input_shape

    @classmethod
    def of_model(cls, spec) -> NetworkSetting:
        """The setting of a trained model's spec (`hwnas.core.trained.TrainedModelSpec`)."""
        resized = tuple(spec.network_input[1:]) != tuple(spec.input_shape[1:])
        side = spec.network_input[1]
        if resized and spec.network_input[1] != spec.network_input[2]:
            raise InputError(
                f"model input {spec.network_input} is not square; profiles resize to squares"
            )
        return cls(
            input_shape=tuple(spec.input_shape),
            num_classes=spec.num_classes,
            sizes=dict(spec.network),
            input_size=side if resized else None,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "input_shape": list(self.input_shape),
            "num_classes": self.num_classes,
            "sizes": dict(self.sizes),
            "input_size": self.input_size,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NetworkSetting:
        return cls(
            input_shape=tuple(data["input_shape"]),
            num_classes=int(data["num_classes"]),
            sizes=dict(data.get("sizes") or {}),
            input_size=data.get("input_size"),
        )


def split_key(key: str) -> tuple[str, str | None]:
    """A store key as (architecture string, setting label or None for the table setting)."""
    arch, sep, label = key.partition(KEY_SEPARATOR)
    return arch, (label if sep else None)
