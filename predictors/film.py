"""The MetaPredictor's network in numpy: weight layout and forward pass (no torch, no sklearn).

An architecture tower ``a = MLP(x)``, a device tower giving a FiLM modulation
``(g, b) = MLP(z)`` (Perez et al., AAAI 2018), and a head ``y = MLP(a * (1 + g) + b)``.
`predictors.meta` trains the same network in torch; prediction needs only this module, so a
saved model answers for a whole search space in milliseconds after a light import.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

LAYERS = ("arch.0", "arch.2", "device.0", "device.2", "head.0", "head.2")
"""Linear layers in torch ``state_dict`` naming (``.weight`` (out, in) and ``.bias`` (out,))."""


def layer_shapes(features: int, embedding: int, hidden: int) -> dict[str, tuple[int, ...]]:
    """Shape of every weight of one network, keyed ``<layer>.weight`` / ``<layer>.bias``."""
    dims = {
        "arch.0": (hidden, features),
        "arch.2": (hidden, hidden),
        "device.0": (hidden, embedding),
        "device.2": (2 * hidden, hidden),
        "head.0": (hidden, hidden),
        "head.2": (1, hidden),
    }
    shapes: dict[str, tuple[int, ...]] = {}
    for layer in LAYERS:
        shapes[f"{layer}.weight"] = dims[layer]
        shapes[f"{layer}.bias"] = (dims[layer][0],)
    return shapes


def flatten_members(members: Sequence[Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Ensemble weights as one flat dict keyed ``member<i>.<weight name>`` (for safetensors)."""
    return {f"member{i}.{k}": v for i, member in enumerate(members) for k, v in member.items()}


def split_members(
    weights: Mapping[str, np.ndarray], n_members: int, shapes: Mapping[str, tuple[int, ...]]
) -> list[dict[str, np.ndarray]]:
    """Inverse of `flatten_members`, checking every weight is there with its shape.

    Raises:
        ValueError: Naming the missing or misshapen weight.
    """
    members = []
    for i in range(n_members):
        member = {}
        for name, shape in shapes.items():
            key = f"member{i}.{name}"
            if key not in weights:
                raise ValueError(f"weights lack {key!r}")
            array = np.asarray(weights[key], dtype=np.float32)
            if array.shape != tuple(shape):
                raise ValueError(f"{key!r} has shape {array.shape}, expected {tuple(shape)}")
            member[name] = array
        members.append(member)
    return members


def _linear(w: Mapping[str, np.ndarray], layer: str, x: np.ndarray) -> np.ndarray:
    return x @ w[f"{layer}.weight"].T + w[f"{layer}.bias"]


def forward(w: Mapping[str, np.ndarray], x: np.ndarray, z: np.ndarray) -> np.ndarray:
    """One network's output for features x (N, F) and embeddings z (N, R): (N,) float64."""
    relu = np.maximum
    a = relu(_linear(w, "arch.2", relu(_linear(w, "arch.0", x), 0)), 0)
    film = _linear(w, "device.2", relu(_linear(w, "device.0", z), 0))
    gain, shift = np.split(film, 2, axis=-1)
    h = relu(_linear(w, "head.0", a * (1 + gain) + shift), 0)
    return _linear(w, "head.2", h)[:, 0].astype(np.float64)


def ensemble_forward(
    members: Sequence[Mapping[str, np.ndarray]], x: np.ndarray, z: np.ndarray
) -> np.ndarray:
    """The mean of `forward` over the ensemble's members: (N,) float64."""
    x = np.asarray(x, dtype=np.float32)
    z = np.asarray(z, dtype=np.float32)
    return np.mean([forward(w, x, z) for w in members], axis=0)
