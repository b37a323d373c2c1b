"""The network that ships: preprocessing and the searched network in one module, one graph.

`DeployableNetwork` takes images exactly as the training data holds them (for the built-in
image sets, float32 pixels in [0, 1], (N, C, H, W)): grey images are repeated to the network's
channels, images of another size are resized (bilinear), and the per-channel normalisation is
applied, all inside the module, so the exported ONNX file carries them.
"""

from __future__ import annotations

import inspect
import json

import torch
import torch.nn.functional as F
from torch import nn

from hwnas.core.trained import TrainedModelError, TrainedModelSpec, load_state_dict


class DeployableNetwork(nn.Module):
    """Preprocessing + network: input (B, *spec.input_shape), output logits (B, classes)."""

    def __init__(self, network: nn.Module, spec: TrainedModelSpec) -> None:
        super().__init__()
        self.network = network
        self.input_shape = tuple(spec.input_shape)
        self.network_input = tuple(spec.network_input)
        c = self.network_input[0]
        self.register_buffer("mean", torch.tensor(spec.mean, dtype=torch.float32).view(1, c, 1, 1))
        self.register_buffer("std", torch.tensor(spec.std, dtype=torch.float32).view(1, c, 1, 1))

    def preprocess(self, x: torch.Tensor) -> torch.Tensor:
        """Raw images (B, *input_shape) to the normalised network input (B, *network_input)."""
        c_in, c_net = self.input_shape[0], self.network_input[0]
        if c_in != c_net:
            x = x.repeat(1, c_net // c_in, 1, 1)
        if self.input_shape[1:] != self.network_input[1:]:
            x = F.interpolate(x, size=self.network_input[1:], mode="bilinear", align_corners=False)
        return (x - self.mean) / self.std

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.network(self.preprocess(x))


def build_network(spec: TrainedModelSpec) -> nn.Module:
    """The searched network of `spec` (fresh weights), built by its registered space.

    `spec.network` holds the size keywords: those the space's constructor takes (FBNet's
    `macro`) configure the space, the others (NB201's `channels`, `cells_per_stage`) go to
    its `build`.

    Raises:
        TrainedModelError: an unknown space, or an architecture or size it cannot build.
    """
    from hwnas.core.spaces import UnknownSpaceError, create_space

    try:
        space = create_space(spec.space)
    except UnknownSpaceError as err:
        raise TrainedModelError(f"model.json: {err}") from None
    accepted = inspect.signature(type(space).__init__).parameters
    space_kwargs = {k: v for k, v in spec.network.items() if k in accepted and k != "self"}
    build_kwargs = {k: v for k, v in spec.network.items() if k not in space_kwargs}
    try:
        if space_kwargs:
            space = create_space(spec.space, **space_kwargs)
        arch = space.parse(spec.arch)
        return space.build(arch, num_classes=spec.num_classes, **build_kwargs)
    except (ValueError, TypeError) as err:
        raise TrainedModelError(
            f"model.json: cannot build {spec.space} architecture {spec.arch!r} with "
            f"{spec.network}: {err}"
        ) from err


def build_deployable(spec: TrainedModelSpec) -> DeployableNetwork:
    """A `DeployableNetwork` for `spec` with fresh weights."""
    return DeployableNetwork(build_network(spec), spec)


def load_trained_model(model_dir) -> tuple[DeployableNetwork, TrainedModelSpec]:
    """The deployable network of a model folder with its checked weights, in eval mode."""
    spec, state = load_state_dict(model_dir)
    model = build_deployable(spec)
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise TrainedModelError(
            f"{model_dir}: weights do not fit the network of model.json "
            f"(missing {json.dumps(missing[:3])}, unexpected {json.dumps(unexpected[:3])})"
        )
    return model.eval(), spec
