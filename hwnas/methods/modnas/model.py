"""A trained MODNAS model on disk: the hypernetwork, its predictor, and what they mean.

A model directory holds ``modnas.json`` (format, objectives, hypernetwork shape, training
settings and devices, provenance), ``hypernetwork.safetensors``, the frozen MetaPredictor it
was trained against in ``predictor/`` (a `hwnas predictor` model directory), and in surrogate
mode ``surrogate.safetensors``. Loading needs numpy and safetensors only, never torch, so
`hwnas generate` answers in well under a second; `hypernetwork_module` rebuilds the torch
module for further training.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hwnas.core.integrity import check_finite, record_sha256, verify_sha256
from hwnas.errors import InputError
from hwnas.methods.modnas.preferences import CELL_SHAPE, LOG_FLOOR

FORMAT = "hwnas-modnas"
FORMAT_VERSION = 1
HYPERNETWORK_FILE = "hypernetwork.safetensors"
SURROGATE_FILE = "surrogate.safetensors"
PREDICTOR_DIR = "predictor"


class ModnasModelError(InputError):
    """A MODNAS model directory that is missing, damaged, or made for something else."""


def shipped_model_dir() -> Path:
    """The NB201 model that ships with hwnas (``hwnas modnas train`` reproduces it)."""
    from importlib import resources

    return Path(str(resources.files("hwnas.data").joinpath("modnas_nb201")))


@dataclass
class ModnasModel:
    """A loaded MODNAS model.

    Attributes:
        meta: The contents of ``modnas.json``.
        hypernetwork: Hypernetwork weights by ``state_dict`` name (float32 arrays).
        predictor: The frozen `hwnas.methods.predictor.PredictorModel`.
        directory: Where it was read from.
    """

    meta: dict[str, Any]
    hypernetwork: dict[str, np.ndarray]
    predictor: Any
    directory: Path | None = None
    surrogate: dict[str, np.ndarray] | None = field(default=None, repr=False)

    @property
    def objectives(self) -> list[str]:
        """The objectives in preference-vector order (accuracy first)."""
        return list(self.meta["objectives"])

    @property
    def dataset(self) -> str:
        """The NAS-Bench-201 dataset whose accuracy the model trades against latency."""
        return str(self.meta["dataset"])

    def ratio_quantile(self, confidence: float) -> float:
        """The predictor's true / predicted latency quantile at `confidence`.

        On the training devices (`hwnas.methods.modnas.evaluate.latency_ratio_quantiles`); 1 if
        the model has none.
        """
        error = self.meta.get("predictor_error")
        if not error:
            return 1.0
        return float(np.interp(confidence, error["levels"], error["ratio_quantiles"]))

    def logits(self, preferences: np.ndarray, embedding: np.ndarray) -> np.ndarray:
        """Cell logits for each preference on a device: (P, 6, 5), numpy only."""
        spec = self.meta["hypernetwork"]
        return hypernetwork_logits(self.hypernetwork, preferences, embedding, float(spec["bound"]))

    def hypernetwork_module(self):
        """The hypernetwork as a torch module (imports torch)."""
        import torch

        from hwnas.methods.modnas.hypernetwork import MetaHypernetwork

        spec = self.meta["hypernetwork"]
        module = MetaHypernetwork(
            int(spec["n_objectives"]),
            int(spec["embedding_dim"]),
            int(spec["hidden"]),
            float(spec["bound"]),
        )
        state = {k: torch.from_numpy(v.copy()) for k, v in self.hypernetwork.items()}
        module.load_state_dict(state)
        return module.eval()


def hypernetwork_logits(
    weights: Mapping[str, np.ndarray], preference: np.ndarray, embedding: np.ndarray, bound: float
) -> np.ndarray:
    """`MetaHypernetwork.forward` on saved weights in numpy: (B, 6, 5) float32 logits."""

    def linear(layer: str, x: np.ndarray) -> np.ndarray:
        return x @ weights[f"{layer}.weight"].T + weights[f"{layer}.bias"]

    relu = lambda x: np.maximum(x, 0)  # noqa: E731
    preference = np.atleast_2d(np.asarray(preference, dtype=np.float32))
    width = weights["device.0.weight"].shape[1]
    embedding = np.broadcast_to(np.asarray(embedding, dtype=np.float32), (len(preference), width))
    film = linear("device.2", relu(linear("device.0", embedding)))
    gain, shift = np.split(film, 2, axis=-1)
    features = np.concatenate([preference, np.log(preference + LOG_FLOOR)], axis=1)
    h = linear("preference.2", relu(linear("preference.0", features)))
    h = relu(h * (1 + gain) + shift)
    out = linear("head.3", relu(linear("head.1", h)))
    logits = np.einsum("bm,bmek->bek", preference, out.reshape(len(preference), -1, *CELL_SHAPE))
    return (bound * np.tanh(logits / bound)).astype(np.float32)


def save_modnas_model(
    directory: str | Path,
    meta: dict[str, Any],
    hypernetwork,
    predictor,
    surrogate=None,
) -> Path:
    """Write a model directory (created if needed); returns it.

    Args:
        meta: What the model is: objectives, dataset, hypernetwork shape, training settings.
        hypernetwork: The trained `MetaHypernetwork`.
        predictor: The `PredictorModel` it was trained against.
        surrogate: The `SurrogateAccuracy` of surrogate mode, or None.
    """
    from safetensors.numpy import save_file

    from hwnas.methods.predictor import save_model

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    save_file(hypernetwork.numpy_weights(), str(directory / HYPERNETWORK_FILE))
    if surrogate is not None:
        weights = {k: v.detach().cpu().numpy().copy() for k, v in surrogate.state_dict().items()}
        save_file(weights, str(directory / SURROGATE_FILE))
    save_model(predictor, directory / PREDICTOR_DIR)
    sha256 = record_sha256(directory, [HYPERNETWORK_FILE, SURROGATE_FILE])
    full = {"format": FORMAT, "version": FORMAT_VERSION, **meta, "sha256": sha256}
    (directory / "modnas.json").write_text(json.dumps(full, indent=2) + "\n")
    return directory


def load_modnas_model(directory: str | Path | None = None) -> ModnasModel:
    """Read a model directory (default: the shipped NB201 model).

    Raises:
        ModnasModelError: naming the missing or damaged file and how to make a model.
    """
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    from hwnas.methods.predictor import PredictorModelError, load_model

    directory = Path(directory) if directory is not None else shipped_model_dir()
    meta_path = directory / "modnas.json"
    for path in (meta_path, directory / HYPERNETWORK_FILE):
        if not path.is_file():
            raise ModnasModelError(
                f"{directory} is not a MODNAS model directory: {path.name} is missing "
                "(make one with hwnas modnas train)"
            )
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ModnasModelError(f"{meta_path} is not readable JSON: {err}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModnasModelError(f"{meta_path} is not a {FORMAT} model description")
    if meta.get("version") != FORMAT_VERSION:
        raise ModnasModelError(
            f"{meta_path} has format version {meta.get('version')!r}; this hwnas reads "
            f"version {FORMAT_VERSION}: train the model again (hwnas modnas train)"
        )
    remedy = "train the model again (hwnas modnas train)"
    weights_files = [HYPERNETWORK_FILE, SURROGATE_FILE]
    verify_sha256(directory, meta.get("sha256"), weights_files, ModnasModelError, remedy)
    try:
        hypernetwork = load_file(str(directory / HYPERNETWORK_FILE))
        check_finite(hypernetwork, str(directory / HYPERNETWORK_FILE), ModnasModelError)
        surrogate_path = directory / SURROGATE_FILE
        surrogate = load_file(str(surrogate_path)) if surrogate_path.is_file() else None
        if surrogate is not None:
            check_finite(surrogate, str(surrogate_path), ModnasModelError)
        spec = meta["hypernetwork"]
        n_objectives = int(spec["n_objectives"])
        if len(meta["objectives"]) != n_objectives:
            raise ValueError(f"{len(meta['objectives'])} objectives for {n_objectives} inputs")
    except (SafetensorError, OSError, KeyError, TypeError, ValueError) as err:
        raise ModnasModelError(f"{directory}: damaged model files: {err}") from None
    try:
        predictor = load_model(directory / PREDICTOR_DIR)
    except PredictorModelError as err:
        raise ModnasModelError(f"{directory}: its predictor: {err}") from None
    return ModnasModel(meta, hypernetwork, predictor, directory, surrogate)
