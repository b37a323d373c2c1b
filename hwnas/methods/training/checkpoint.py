"""A training's checkpoint folder: everything a killed run needs to go on bit for bit.

``checkpoint/`` in a training's out dir, rewritten after every epoch:

- ``weights.safetensors``: the network's state after the last finished epoch;
- ``best.safetensors``: the state of the epoch with the best validation accuracy so far;
- ``optimizer.safetensors``: the optimiser's per-parameter tensors (momentum, Adam moments);
- ``rng.safetensors``: torch's CPU (and CUDA) generator states;
- ``state.json``: the optimiser's other state and parameter groups, the scheduler, the
  gradient scaler, Python's and NumPy's generator states, the sampler position (the next
  epoch, at its first batch), the best epoch, the per-epoch history and the run's key;
- ``meta.json``: the sha256 of each of those files, checked on load.

No pickle anywhere. The folder is written whole under a temporary name and renamed into place
(the previous one kept as ``checkpoint.old`` until the rename is done), so a SIGKILL at any
moment leaves a complete checkpoint of some finished epoch.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hwnas.core.trained import file_sha256
from hwnas.errors import InputError

FOLDER = "checkpoint"
FORMAT = "hwnas-checkpoint"
VERSION = 1
_FILES = ("weights.safetensors", "best.safetensors", "optimizer.safetensors", "rng.safetensors")


class CheckpointError(InputError):
    """A checkpoint that is damaged or was written by another run."""


@dataclass
class Checkpoint:
    """The state of a training after `epoch` finished epochs (1-based count)."""

    epoch: int
    weights: dict[str, torch.Tensor]
    best_weights: dict[str, torch.Tensor]
    best_epoch: int
    best_val_accuracy: float
    optimizer: dict[str, Any]
    scheduler: dict[str, Any]
    scaler: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)
    run_key: dict[str, Any] = field(default_factory=dict)
    rng: dict[str, Any] = field(default_factory=dict)


def capture_rng() -> dict[str, Any]:
    """The global generators' states (torch CPU/CUDA, NumPy, Python)."""
    tensors = {"torch_cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, state in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"torch_cuda_{i}"] = state
    numpy_state = np.random.get_state(legacy=False)
    numpy_state["state"] = {k: np.asarray(v).tolist() for k, v in numpy_state["state"].items()}
    version, internal, gauss = random.getstate()
    return {
        "tensors": tensors,
        "numpy": numpy_state,
        "python": [version, list(internal), gauss],
    }


def restore_rng(rng: dict[str, Any]) -> None:
    """Set the global generators to `capture_rng`'s states."""
    tensors = rng["tensors"]
    torch.set_rng_state(tensors["torch_cpu"])
    cuda = [tensors[f"torch_cuda_{i}"] for i in range(len(tensors) - 1)]
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)
    state = dict(rng["numpy"])
    state["state"] = {
        k: np.asarray(v, dtype=np.uint64) if isinstance(v, list) else v
        for k, v in state["state"].items()
    }
    np.random.set_state(state)
    version, internal, gauss = rng["python"]
    random.setstate((version, tuple(internal), gauss))


def _split_optimizer(state: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    tensors, rest = {}, {}
    for pid, values in state["state"].items():
        rest[str(pid)] = {}
        for key, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{pid}/{key}"] = value.detach().contiguous().cpu()
            else:
                rest[str(pid)][key] = value
    return tensors, {"state": rest, "param_groups": state["param_groups"]}


def _join_optimizer(tensors: dict[str, torch.Tensor], rest: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {int(pid): dict(v) for pid, v in rest["state"].items()}
    for name, tensor in tensors.items():
        pid, key = name.split("/", 1)
        state.setdefault(int(pid), {})[key] = tensor
    return {"state": state, "param_groups": rest["param_groups"]}


def _cpu(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().contiguous().cpu() for k, v in state.items()}


def save_checkpoint(out_dir: str | Path, checkpoint: Checkpoint) -> Path:
    """Write `checkpoint` to `out_dir`/checkpoint, atomically (see the module docstring)."""
    from safetensors.torch import save_file

    out_dir = Path(out_dir)
    final = out_dir / FOLDER
    tmp = Path(tempfile.mkdtemp(prefix=f".{FOLDER}.", dir=out_dir))
    try:
        optimizer_tensors, optimizer_rest = _split_optimizer(checkpoint.optimizer)
        rng = checkpoint.rng or capture_rng()
        save_file(_cpu(checkpoint.weights), str(tmp / "weights.safetensors"))
        save_file(_cpu(checkpoint.best_weights), str(tmp / "best.safetensors"))
        save_file(optimizer_tensors, str(tmp / "optimizer.safetensors"))
        save_file(_cpu(rng["tensors"]), str(tmp / "rng.safetensors"))
        state = {
            "epoch": checkpoint.epoch,
            "sampler": {"epoch": checkpoint.epoch, "position": 0},
            "best_epoch": checkpoint.best_epoch,
            "best_val_accuracy": checkpoint.best_val_accuracy,
            "optimizer": optimizer_rest,
            "scheduler": checkpoint.scheduler,
            "scaler": checkpoint.scaler,
            "rng": {"numpy": rng["numpy"], "python": rng["python"]},
            "history": checkpoint.history,
            "run_key": checkpoint.run_key,
        }
        (tmp / "state.json").write_text(json.dumps(state) + "\n", encoding="utf-8")
        sums = {name: file_sha256(tmp / name) for name in (*_FILES, "state.json")}
        meta = {"format": FORMAT, "version": VERSION, "epoch": checkpoint.epoch, "sha256": sums}
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        for name in (*_FILES, "state.json", "meta.json"):
            with open(tmp / name, "rb+") as handle:
                os.fsync(handle.fileno())
        old = out_dir / f"{FOLDER}.old"
        if final.exists():
            shutil.rmtree(old, ignore_errors=True)
            os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def checkpoint_folder(out_dir: str | Path) -> Path | None:
    """The checkpoint folder of `out_dir` (or the previous one a kill left), None if none."""
    for name in (FOLDER, f"{FOLDER}.old"):
        folder = Path(out_dir) / name
        if (folder / "meta.json").is_file():
            return folder
    return None


def load_checkpoint(out_dir: str | Path) -> Checkpoint | None:
    """The checkpoint of `out_dir`, its files checked against their sha256; None if none."""
    from safetensors.torch import load_file

    folder = checkpoint_folder(out_dir)
    if folder is None:
        return None
    try:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        if meta.get("format") != FORMAT or meta.get("version") != VERSION:
            raise CheckpointError(f"{folder}/meta.json: not a {FORMAT} v{VERSION} checkpoint")
        for name, expected in meta["sha256"].items():
            if file_sha256(folder / name) != expected:
                raise CheckpointError(
                    f"{folder / name}: sha256 differs from meta.json: the checkpoint is "
                    "damaged; rerun with --force to start over"
                )
        state = json.loads((folder / "state.json").read_text(encoding="utf-8"))
        tensors = {name: load_file(str(folder / name)) for name in _FILES}
    except (OSError, KeyError, json.JSONDecodeError) as err:
        raise CheckpointError(
            f"{folder}: unreadable checkpoint ({err}); rerun with --force to start over"
        ) from err
    return Checkpoint(
        epoch=int(state["epoch"]),
        weights=tensors["weights.safetensors"],
        best_weights=tensors["best.safetensors"],
        best_epoch=int(state["best_epoch"]),
        best_val_accuracy=float(state["best_val_accuracy"]),
        optimizer=_join_optimizer(tensors["optimizer.safetensors"], state["optimizer"]),
        scheduler=state["scheduler"],
        scaler=state["scaler"],
        history=state["history"],
        run_key=state["run_key"],
        rng={"tensors": tensors["rng.safetensors"], **state["rng"]},
    )
