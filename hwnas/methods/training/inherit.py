"""Weight inheritance, once-for-all style: a chosen NB201 cell starts from its supernet slice.

A `NB201Supernet` and a `NB201Network` share their macro skeleton: the stem, the residual
reduction blocks, the final BN-ReLU and the classifier map one to one, and each cell of the
network takes, on every live edge, the weights of the chosen operation on that edge of the
same cell of the supernet (Cai et al., "Once-for-All", ICLR 2020: subnets inherit the
supernet's weights). A supernet trained on grey images (1 input channel) gives a network that
sees the grey image repeated to 3 channels (`DeployableNetwork`): its stem takes the
supernet's kernel divided by 3 on each channel, which computes the same convolution.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from hwnas.core.spaces.nb201 import EDGES
from hwnas.core.spaces.nb201_net import NB201Cell, NB201Network
from hwnas.errors import InputError

_STEM = "stem.0.weight"


class SupernetShapeError(InputError):
    """A supernet whose shape (channels, cells, classes) differs from the network's."""


def _shape(network: NB201Network) -> dict[str, int]:
    cells = sum(isinstance(layer, NB201Cell) for layer in network.cells)
    return {
        "channels": int(network.stem[0].out_channels),
        "cells_per_stage": cells // 3,
        "num_classes": int(network.classifier.out_features),
    }


def supernet_slice(
    network: NB201Network, supernet_state: dict[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """The state dict of `network` cut from a supernet's state (see the module docstring)."""
    sliced: dict[str, torch.Tensor] = {}
    for key in network.state_dict():
        parts = key.split(".")
        source = key
        if parts[0] == "cells" and isinstance(network.cells[int(parts[1])], NB201Cell):
            layer, position = int(parts[1]), int(parts[3])  # cells.{layer}.ops.{k}.{rest}
            edge = EDGES.index(network.cells[layer].edges[position])
            op = network.arch.ops[edge]
            source = ".".join(["cells", str(layer), "edges", str(edge), "ops", op, *parts[4:]])
        tensor = supernet_state[source]
        repeat = network.stem[0].in_channels // tensor.shape[1] if key == _STEM else 1
        if repeat > 1:
            tensor = tensor.repeat(1, repeat, 1, 1) / repeat
        sliced[key] = tensor.clone()
    return sliced


def inherit_from_supernet(network: NB201Network, supernet_dir: str | Path) -> dict[str, Any]:
    """Load into `network` its slice of the supernet saved in `supernet_dir`.

    Returns:
        What was inherited: the folder, the supernet's shape and its training data.

    Raises:
        SupernetShapeError: the supernet's channels, cells per stage or classes differ from
            the network's, or its input channels cannot be repeated to the network's.
        SupernetFolderError: the folder is missing, damaged or not a supernet.
    """
    from hwnas.methods.modnas.supernet import load_supernet_state

    if not isinstance(network, NB201Network):
        raise SupernetShapeError(
            f"--init-from needs an NB201 network (the supernet's space), got "
            f"{type(network).__name__}"
        )
    meta, state = load_supernet_state(supernet_dir)
    want = _shape(network)
    have = {key: int(meta.get(key, -1)) for key in want}
    if have != want:
        differ = ", ".join(f"{k} {have[k]} (network {want[k]})" for k in want if have[k] != want[k])
        raise SupernetShapeError(
            f"{supernet_dir}: the supernet has {differ}; train with --channels "
            f"{have['channels']} --cells {have['cells_per_stage']} on data of "
            f"{have['num_classes']} classes, or use a supernet of this network's shape"
        )
    in_channels = int(meta.get("in_channels", 3))
    if network.stem[0].in_channels % in_channels:
        raise SupernetShapeError(
            f"{supernet_dir}: a supernet of {in_channels} input channels cannot seed a network "
            f"of {network.stem[0].in_channels}"
        )
    network.load_state_dict(supernet_slice(network, state))
    config = meta.get("config", {})
    return {"supernet": str(supernet_dir), **have, "data": config.get("data")}
