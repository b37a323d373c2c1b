"""Trained models as folders: the network that ships, its weights and what it was trained on.

A model folder holds:

- `model.safetensors`: the weights of the *deployable* network (`DeployableNetwork`): the
  searched network plus the input preprocessing (resize, channel repeat, normalisation), so
  the exported graph takes images exactly as the training data holds them.
- `model.json`: a `TrainedModelSpec` (architecture, network size, input shape, classes,
  normalisation, data fingerprint, training configuration) and the sha256 of every weights
  file, checked on load.

Each file is written atomically (a temporary file renamed into place), the weights before
`model.json`, so a killed run leaves a folder that loads or one whose sha256 check says so.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hwnas.errors import InputError
from profilers.profile import file_sha256  # noqa: F401 - one implementation, used here too

SPEC_FILE = "model.json"
WEIGHTS_FILE = "model.safetensors"
FORMAT_VERSION = 1


class TrainedModelError(InputError):
    """A model folder that is missing, damaged, or made for something else."""


@dataclass(frozen=True)
class TrainedModelSpec:
    """What a trained model is: enough to rebuild its network and feed it data.

    Attributes:
        space: Registered search space of the architecture (`nb201`, `fbnet`, `darts`).
        arch: The architecture's canonical string (a DARTS genotype as its JSON text).
        input_shape: (C, H, W) of the images the file takes, as the training data holds them.
        num_classes: Classifier outputs.
        class_names: One name per class, in label order.
        mean: Per-channel mean subtracted inside the network (after any resize and repeat).
        std: Per-channel deviation divided inside the network.
        network_input: (C, H, W) the searched network sees after the preprocessing; differs
            from `input_shape` where images are resized or grey images repeated to 3 channels.
        network: Size of the network (`channels`, `cells`, space-specific keys).
        data: The training data: its spec string and fingerprint (sha256 of the arrays).
        training: The training configuration (epochs, optimiser, schedule, seed...).
        trained: False for a network with fresh random weights (timing only).
    """

    space: str
    arch: str
    input_shape: tuple[int, int, int]
    num_classes: int
    class_names: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    network_input: tuple[int, int, int]
    network: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    trained: bool = True

    def __post_init__(self) -> None:
        if len(self.input_shape) != 3 or len(self.network_input) != 3:
            raise TrainedModelError(
                f"input shapes must be (C, H, W), got {self.input_shape} and {self.network_input}"
            )
        if self.num_classes < 1 or len(self.class_names) != self.num_classes:
            raise TrainedModelError(
                f"{self.num_classes} classes but {len(self.class_names)} class names"
            )
        if len(self.mean) != self.network_input[0] or len(self.std) != self.network_input[0]:
            raise TrainedModelError(
                f"mean/std need one value per network input channel ({self.network_input[0]}), "
                f"got {len(self.mean)} and {len(self.std)}"
            )
        if self.network_input[0] % self.input_shape[0]:
            raise TrainedModelError(
                f"{self.input_shape[0]}-channel images cannot be repeated to the network's "
                f"{self.network_input[0]} channels"
            )
        if any(not s > 0 for s in self.std):
            raise TrainedModelError(f"std must be positive, got {self.std}")

    def to_json(self) -> dict[str, Any]:
        return {"format_version": FORMAT_VERSION, **asdict(self)}

    @classmethod
    def from_json(cls, data: dict[str, Any], source: str = "model.json") -> TrainedModelSpec:
        if data.get("format_version") != FORMAT_VERSION:
            raise TrainedModelError(
                f"{source}: format_version {data.get('format_version')!r}, this hwnas reads "
                f"{FORMAT_VERSION}"
            )
        fields = {k: v for k, v in data.items() if k not in ("format_version", "sha256")}
        try:
            for key in ("input_shape", "network_input", "class_names", "mean", "std"):
                fields[key] = tuple(fields[key])
            return cls(**fields)
        except (KeyError, TypeError) as err:
            raise TrainedModelError(f"{source}: not a hwnas model description ({err})") from err


def _replace_atomically(path: Path, write) -> None:
    """Run `write(tmp)` on a temporary file beside `path`, fsync it, then rename it to `path`."""
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def save_trained_model(out_dir: str | Path, state_dict: dict, spec: TrainedModelSpec) -> Path:
    """Write `state_dict` (of the deployable network) and `spec` into `out_dir`, atomically.

    Each file is written to a temporary name and renamed into place, weights first and
    `model.json` (which records the weights' sha256) last, so a reader finds either the old
    model or the new one (a mismatch in between is caught by `load_state_dict`). Other files
    of `out_dir` (a training's checkpoint and log) are left alone.
    """
    from safetensors.torch import save_file

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().contiguous().cpu() for k, v in state_dict.items()}
    _replace_atomically(out / WEIGHTS_FILE, lambda tmp: save_file(tensors, str(tmp)))
    meta = {**spec.to_json(), "sha256": {WEIGHTS_FILE: file_sha256(out / WEIGHTS_FILE)}}
    text = json.dumps(meta, indent=2) + "\n"
    _replace_atomically(out / SPEC_FILE, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    return out


def read_spec(model_dir: str | Path) -> tuple[TrainedModelSpec, dict[str, str]]:
    """The spec of a model folder and the sha256 it records per weights file."""
    path = Path(model_dir) / SPEC_FILE
    if not path.is_file():
        raise TrainedModelError(
            f"{model_dir}: no {SPEC_FILE}; a trained model folder is made by `hwnas train`"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise TrainedModelError(f"{path}: not valid JSON ({err})") from err
    if not isinstance(data, dict):
        raise TrainedModelError(f"{path}: expected a JSON object")
    return TrainedModelSpec.from_json(data, str(path)), dict(data.get("sha256") or {})


def load_state_dict(model_dir: str | Path) -> tuple[TrainedModelSpec, dict]:
    """The spec and weights of a model folder, the weights checked against their sha256."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    spec, sums = read_spec(model_dir)
    weights = Path(model_dir) / WEIGHTS_FILE
    if not weights.is_file():
        raise TrainedModelError(f"{weights}: missing")
    expected = sums.get(WEIGHTS_FILE)
    if expected is None:
        raise TrainedModelError(
            f"{Path(model_dir) / SPEC_FILE}: records no sha256 of {WEIGHTS_FILE}"
        )
    actual = file_sha256(weights)
    if actual != expected:
        raise TrainedModelError(
            f"{weights}: sha256 {actual[:12]}... differs from the {expected[:12]}... recorded "
            "in model.json: the file was changed or damaged; train or copy it again"
        )
    try:
        return spec, load_file(str(weights))
    except SafetensorError as err:
        raise TrainedModelError(f"{weights}: unreadable safetensors ({err})") from err
