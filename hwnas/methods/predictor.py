"""MetaPredictor jobs: fit on a latency table, adapt to a new device, predict, save and load.

A model directory holds ``model.safetensors`` (weights) and ``model.json`` (what the weights
mean: space, target, features, reference architectures, training devices and, once adapted,
the device it predicts for). Nothing is pickled.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hwnas.core.integrity import check_finite, record_sha256, verify_sha256
from hwnas.core.spaces import table_spaces
from hwnas.core.tables import MeasuredTable, reference_archs
from hwnas.errors import InputError
from hwnas.methods.predictor_data import (
    TARGETS,
    DeviceData,
    SamplesFileError,
    check_space,
    design_matrix,
    load_table,
    missing_references,
    network_costs,
    parse_archs,
    predictor_features,
    read_samples_csv,
    reference_rows,
    table_devices,
)
from profilers.campaign import file_sha256

__all__ = [
    "TARGETS",
    "DeviceData",
    "FitConfig",
    "PredictorModel",
    "PredictorModelError",
    "SamplesFileError",
    "adapt_model",
    "check_space",
    "design_matrix",
    "fit_model",
    "load_model",
    "load_table",
    "missing_references",
    "network_costs",
    "parse_archs",
    "predictor_features",
    "read_samples_csv",
    "reference_rows",
    "save_model",
    "table_devices",
]

FORMAT = "hwnas-metapredictor"
FORMAT_VERSION = 1
WEIGHTS_FILE = "model.safetensors"


class PredictorModelError(InputError):
    """A model directory that is missing, damaged, or made for something else."""


# -- model directories ------------------------------------------------------------------------


@dataclass
class PredictorModel:
    """A fitted MetaPredictor with what its numbers mean.

    Prediction runs on the weights in numpy (`predictors.film`); `estimator` rebuilds the
    scikit-learn estimator (and imports scikit-learn) only to adapt or refit.

    Attributes:
        params: The `predictors.MetaPredictor` parameters.
        members: Weights of each ensemble member.
        n_features_in: Features plus embedding length.
        space: The search space its features encode.
        target: What it predicts (``latency_ms`` or ``energy_mj``).
        training_devices: Embedding of every device it was trained on, by name.
        device: The device it was adapted to (name, embedding, samples), or None.
        provenance: Where the training data came from.
    """

    params: dict[str, Any]
    members: list[dict[str, np.ndarray]]
    n_features_in: int
    space: str
    target: str
    training_devices: dict[str, Any]
    device: dict[str, Any] | None = None
    provenance: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_estimator(cls, estimator, **fields: Any) -> PredictorModel:
        """Wrap a fitted `predictors.MetaPredictor`."""
        return cls(
            params=estimator.get_params(),
            members=estimator.members_,
            n_features_in=int(estimator.n_features_in_),
            **fields,
        )

    def estimator(self):
        """The fitted `predictors.MetaPredictor` these weights make."""
        from predictors.film import flatten_members
        from predictors.meta import MetaPredictor

        return MetaPredictor(**self.params).load_weights(
            flatten_members(self.members), self.n_features_in
        )

    def embedding_for(self, device: str | None):
        """The embedding of `device` (a training device), or of the adapted device."""
        from predictors.embedding import DeviceEmbedding

        if device is not None:
            if device not in self.training_devices:
                raise PredictorModelError(
                    f"device {device!r} is not one the model was trained on "
                    f"({', '.join(self.training_devices)}); adapt it to a new device with "
                    "hwnas predictor adapt"
                )
            return self.training_devices[device]
        if self.device is None:
            raise PredictorModelError(
                "this model is not adapted to a device: run hwnas predictor adapt with the "
                "device's measurements, or name a training device (--device)"
            )
        return DeviceEmbedding.from_dict(self.device["embedding"])

    def predict(self, archs: Sequence[Any], device: str | None = None) -> np.ndarray:
        """Predicted `target` of each architecture (value or string) on the device, (N,) float64."""
        from predictors.film import ensemble_forward

        archs = [
            parse_archs(self.space, [a], lambda _: "architecture")[0] if isinstance(a, str) else a
            for a in archs
        ]
        embedding = self.embedding_for(device)
        features = predictor_features(self.space, archs)
        z = np.broadcast_to(embedding.array, (len(features), len(embedding.values)))
        return embedding.denormalise(ensemble_forward(self.members, features, z))


def save_model(model: PredictorModel, directory: str | Path) -> Path:
    """Write ``model.safetensors`` and ``model.json`` into `directory` (created if needed)."""
    from safetensors.numpy import save_file

    from predictors.film import flatten_members

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    save_file(flatten_members(model.members), str(directory / WEIGHTS_FILE))
    meta = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "space": model.space,
        "target": model.target,
        "estimator": "MetaPredictor",
        "params": model.params,
        "n_features_in": model.n_features_in,
        "reference_archs": list(reference_archs(model.space)),
        "training_devices": {k: v.to_dict() for k, v in model.training_devices.items()},
        "device": model.device,
        "provenance": model.provenance,
        "sha256": record_sha256(directory, [WEIGHTS_FILE]),
    }
    (directory / "model.json").write_text(json.dumps(meta, indent=2) + "\n")
    return directory


def load_model(directory: str | Path) -> PredictorModel:
    """Read a model directory written by `save_model`.

    Raises:
        PredictorModelError: If a file is missing or is not a MetaPredictor of a known space.
    """
    from predictors.embedding import DeviceEmbedding, EmbeddingError
    from predictors.film import layer_shapes, split_members

    directory = Path(directory)
    meta_path, weights_path = directory / "model.json", directory / WEIGHTS_FILE
    for path in (meta_path, weights_path):
        if not path.is_file():
            raise PredictorModelError(
                f"{directory} is not a predictor model directory: {path.name} is missing "
                "(make one with hwnas predictor fit)"
            )
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise PredictorModelError(f"{meta_path} is not readable JSON: {err}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise PredictorModelError(f"{meta_path} is not a {FORMAT} model description")
    if meta.get("version") != FORMAT_VERSION:
        raise PredictorModelError(
            f"{meta_path} has format version {meta.get('version')!r}; this hwnas reads "
            f"version {FORMAT_VERSION}: fit the model again"
        )
    space = meta.get("space")
    if space not in table_spaces():
        raise PredictorModelError(f"{meta_path}: unknown space {space!r}")
    if list(meta.get("reference_archs", [])) != list(reference_archs(space)):
        raise PredictorModelError(
            f"{meta_path}: its reference architectures differ from this hwnas's {space} ones"
        )
    remedy = "fit or adapt the model again"
    verify_sha256(directory, meta.get("sha256"), [WEIGHTS_FILE], PredictorModelError, remedy)
    try:
        from safetensors import SafetensorError
        from safetensors.numpy import load_file

        weights = load_file(str(weights_path))
        check_finite(weights, str(weights_path), PredictorModelError)
        params, n_features_in = dict(meta["params"]), int(meta["n_features_in"])
        embedding_dim = int(params["embedding_dim"])
        shapes = layer_shapes(n_features_in - embedding_dim, embedding_dim, int(params["hidden"]))
        members = split_members(weights, int(params["n_members"]), shapes)
        devices = {k: DeviceEmbedding.from_dict(v) for k, v in meta["training_devices"].items()}
    except (KeyError, TypeError, ValueError, EmbeddingError, OSError, SafetensorError) as err:
        raise PredictorModelError(f"{directory}: damaged model files: {err}") from None
    return PredictorModel(
        params=params,
        members=members,
        n_features_in=n_features_in,
        space=space,
        target=meta.get("target", "latency_ms"),
        training_devices=devices,
        device=meta.get("device"),
        provenance=meta.get("provenance", {}),
    )


def adapt_model(
    model: PredictorModel,
    samples: dict[str, float],
    device_name: str = "new-device",
    adapt_steps: int | str = "auto",
) -> PredictorModel:
    """`model` adapted to a device measured on `samples` (the 10 references and any others).

    Args:
        adapt_steps: Fine-tuning steps, 0 for zero-shot (the embedding alone), or ``"auto"``:
            fine-tune for the model's ``adapt_steps`` only if that predicts held-out samples
            of the device better than zero-shot (`predictors.meta.choose_adapt_steps`).

    Raises:
        SamplesFileError: If a reference architecture is missing (all missing are listed).
    """
    from predictors.embedding import DeviceEmbedding

    missing = missing_references(model.space, samples)
    if missing:
        raise SamplesFileError(
            f"the samples lack {len(missing)} of the {len(reference_archs(model.space))} "
            f"reference architectures; measure these and add them: {', '.join(missing)}"
        )
    embedding = DeviceEmbedding.from_reference([samples[a] for a in reference_archs(model.space)])
    texts = list(samples)
    archs = parse_archs(model.space, texts, lambda i: f"sample {texts[i]}")
    X = design_matrix(predictor_features(model.space, archs), embedding)
    y = embedding.normalise([samples[a] for a in texts])
    estimator = model.estimator()
    evidence: dict[str, Any] = {}
    if adapt_steps == "auto":
        from predictors.meta import choose_adapt_steps

        refs = set(reference_archs(model.space))
        extra = [i for i, text in enumerate(texts) if text not in refs]
        adapt_steps, evidence = choose_adapt_steps(estimator, X, y, extra, estimator.adapt_steps)
    if not (isinstance(adapt_steps, int) and adapt_steps >= 0):
        raise InputError(f"adapt_steps must be 'auto' or an integer >= 0, got {adapt_steps!r}")
    estimator.set_params(adapt_steps=adapt_steps)
    adapted = estimator.adapt(X, y)
    return PredictorModel.from_estimator(
        adapted,
        space=model.space,
        target=model.target,
        training_devices=model.training_devices,
        device={
            "name": device_name,
            "embedding": embedding.to_dict(),
            "n_samples": len(samples),
            "adapt_steps": int(adapted.adapt_steps),
            "adapt_choice": evidence,
        },
        provenance=model.provenance,
    )


# -- fitting on a table -----------------------------------------------------------------------


@dataclass(frozen=True)
class FitConfig:
    """MetaPredictor settings of `fit_model` (see `predictors.MetaPredictor`)."""

    hidden: int = 256
    epochs: int = 10
    n_members: int = 1
    adapt_steps: int = 100
    adapt_learning_rate: float = 3e-4
    random_state: int = 0

    def __post_init__(self) -> None:
        for name in ("hidden", "epochs", "n_members"):
            if getattr(self, name) < 1:
                raise InputError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.adapt_steps < 0:
            raise InputError(f"adapt_steps must be >= 0, got {self.adapt_steps}")

    def estimator(self, embedding_dim: int):
        from predictors.meta import MetaPredictor

        return MetaPredictor(embedding_dim=embedding_dim, **asdict(self))


def fit_model(
    space: str,
    table: MeasuredTable,
    config: FitConfig | None = None,
    devices: Sequence[str] | None = None,
    target: str = "latency_ms",
) -> PredictorModel:
    """A MetaPredictor trained on every (architecture, device) cell of `table`.

    Args:
        devices: Which device columns to train on (default: all).
    """
    if target not in TARGETS:
        raise InputError(f"unknown target {target!r}; expected one of {TARGETS}")
    refs = reference_rows(space, table)
    archs = parse_archs(space, table.archs, lambda i: f"{table.source}, row {i + 2}")
    features = predictor_features(space, archs)
    data = table_devices(table, refs)
    if devices is not None:
        unknown = sorted(set(devices) - {d.name for d in data})
        if unknown:
            raise InputError(f"{table.source} has no device columns {unknown}")
        data = [d for d in data if d.name in set(devices)]
    X = np.concatenate([design_matrix(features, d.embedding) for d in data])
    y = np.concatenate([d.embedding.normalise(d.values) for d in data])
    estimator = (config or FitConfig()).estimator(len(refs)).fit(X, y)
    return PredictorModel.from_estimator(
        estimator,
        space=space,
        target=target,
        training_devices={d.name: d.embedding for d in data},
        provenance={"data": table.source, "data_sha256": file_sha256(table.source)},
    )
