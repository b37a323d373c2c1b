"""The pool of NES: independently trained base learners, each saved as a resumable member.

A member directory ``<pool>/<id>/`` holds ``member.json`` (what rebuilds the network, how it
was trained, its metrics), ``model.safetensors`` (its weights) and ``predictions.safetensors``
(its softmax on the validation and test splits, so ensemble selection never runs a network).
It is written in a sibling temporary directory and renamed into place, so a killed build
leaves either a finished member or none; `build_pool` skips finished members.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hwnas.core.datasets import Dataset, ImageData
from hwnas.errors import InputError
from hwnas.methods.nes.train import TrainConfig

SPACES: tuple[str, ...] = ("nb201", "darts")
"""The search spaces whose networks a pool can hold."""
FORMAT = "hwnas-nes-member"
FORMAT_VERSION = 1
MEMBER_FILE, WEIGHTS_FILE, PREDICTIONS_FILE = (
    "member.json",
    "model.safetensors",
    "predictions.safetensors",
)
BACKENDS: tuple[str, ...] = ("local", "ray")


class PoolError(InputError):
    """A member specification, member directory or pool setting that cannot be used."""


def parse_member_arch(space: str, arch: Any):
    """The architecture value of `arch` in `space`: an `NB201Arch` for ``nb201``, a DARTS
    `Genotype` (from its string or `to_dict` dict) for ``darts``.

    Raises:
        PoolError: for an unknown space; the space's own error for a malformed architecture.
    """
    if space == "nb201":
        from hwnas.core.spaces.nb201 import NB201Arch

        return arch if isinstance(arch, NB201Arch) else NB201Arch.from_string(arch)
    if space == "darts":
        from hwnas.core.spaces.darts_genotype import Genotype

        if isinstance(arch, Genotype):
            genotype = arch
        elif isinstance(arch, dict):
            genotype = Genotype.from_dict(arch, space="darts")
        else:
            genotype = Genotype.from_string(arch)
        if genotype.space != "darts":
            raise PoolError(f"{genotype} is a genotype of space {genotype.space!r}, not 'darts'")
        return genotype
    raise PoolError(f"unknown NES space {space!r}; expected one of {', '.join(SPACES)}")


@dataclass(frozen=True)
class MemberSpec:
    """Everything that builds one base learner, before training.

    Attributes:
        space: ``nb201`` or ``darts``.
        arch: The architecture's canonical string (a DARTS genotype may be given as its dict).
        seed: Seed of the weight initialisation and of the batch order.
        num_classes: Classes of the classifier.
        input_shape: (C, H, W) of one input image.
        channels: Channels of the first stage (nb201) or of the first cells (darts).
        cells: Cells per stage (nb201) or cells in all, two of them reductions (darts).
    """

    space: str
    arch: str
    seed: int
    num_classes: int
    input_shape: tuple[int, int, int]
    channels: int = 8
    cells: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "arch", str(parse_member_arch(self.space, self.arch)))
        shape = tuple(int(v) for v in self.input_shape)
        if len(shape) != 3 or min(shape) < 1:
            raise PoolError(f"input_shape must be (C, H, W) of positive sizes, got {shape}")
        object.__setattr__(self, "input_shape", shape)
        if self.num_classes < 2 or self.channels < 1 or self.cells < 1:
            raise PoolError(
                "need num_classes >= 2 and positive channels and cells, got "
                f"{self.num_classes}, {self.channels}, {self.cells}"
            )
        if self.space == "darts" and self.channels % 2:
            raise PoolError(f"DARTS networks need an even channel count, got {self.channels}")

    @property
    def arch_value(self):
        """The architecture as a value (`NB201Arch` or `Genotype`)."""
        return parse_member_arch(self.space, self.arch)

    @property
    def id(self) -> str:
        """A name derived from the whole specification: the member's directory name."""
        text = json.dumps(self.to_dict(), sort_keys=True)
        return f"{self.space}-{hashlib.sha1(text.encode()).hexdigest()[:12]}"

    def to_dict(self) -> dict:
        return {
            "space": self.space,
            "arch": self.arch,
            "seed": int(self.seed),
            "num_classes": int(self.num_classes),
            "input_shape": list(self.input_shape),
            "channels": int(self.channels),
            "cells": int(self.cells),
        }

    @classmethod
    def from_dict(cls, data: dict, source: str = "member spec") -> MemberSpec:
        """The spec of `to_dict`.

        Raises:
            PoolError: naming `source` for a missing or unknown field.
        """
        known = set(cls.__dataclass_fields__)
        if not isinstance(data, dict) or not {"space", "arch", "seed"} <= set(data):
            raise PoolError(f"{source} needs at least space, arch and seed; got {data!r}")
        unknown = sorted(set(data) - known)
        if unknown:
            raise PoolError(f"{source} has unknown fields {unknown}; known: {sorted(known)}")
        return cls(**{**data, "input_shape": tuple(data.get("input_shape", ()))})

    def with_seed(self, seed: int) -> MemberSpec:
        """The same network with another initialisation seed."""
        return MemberSpec(**{**self.to_dict(), "seed": seed, "input_shape": self.input_shape})


def build_member(spec: MemberSpec):
    """The untrained network of `spec`, initialised from `spec.seed`; outputs logits (B, classes).

    nb201: `NB201Network` (with its stem reading `input_shape[0]` channels); darts:
    `DartsNetwork`.
    """
    import torch
    from torch import nn

    torch.manual_seed(spec.seed)
    in_channels = spec.input_shape[0]
    if spec.space == "nb201":
        from hwnas.core.spaces.nb201_net import NB201Network

        network = NB201Network(spec.arch_value, spec.num_classes, spec.channels, spec.cells)
        if in_channels != 3:
            network.stem[0] = nn.Conv2d(in_channels, spec.channels, 3, padding=1, bias=False)
        return network
    from hwnas.methods.darts.network import DartsNetwork

    return DartsNetwork(spec.arch_value, spec.channels, spec.cells, spec.num_classes, in_channels)


def is_finished(member_dir: str | Path) -> bool:
    """Whether `member_dir` holds a finished member (its description and its weights)."""
    member_dir = Path(member_dir)
    return (member_dir / MEMBER_FILE).is_file() and (member_dir / WEIGHTS_FILE).is_file()


def save_member(
    member_dir: str | Path,
    spec: MemberSpec,
    module,
    metrics: dict,
    predictions: dict[str, np.ndarray] | None = None,
    train: TrainConfig | None = None,
    data_fingerprint: str | None = None,
) -> Path:
    """Writes a member atomically: all files go to a temporary sibling renamed to `member_dir`.

    Args:
        metrics: JSON-ready figures of the trained member (NLL, error, seconds...).
        predictions: Softmax outputs by split name, each (N, classes).
        train: How it was trained, recorded in ``member.json``.
        data_fingerprint: `PoolData.fingerprint` of the splits it was trained and evaluated on.
    """
    from safetensors.numpy import save_file as save_arrays
    from safetensors.torch import save_file

    member_dir = Path(member_dir)
    member_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{member_dir.name}.", dir=member_dir.parent))
    try:
        state = {k: v.detach().contiguous().cpu() for k, v in module.state_dict().items()}
        save_file(state, str(staging / WEIGHTS_FILE))
        if predictions:
            arrays = {k: np.ascontiguousarray(v, np.float32) for k, v in predictions.items()}
            save_arrays(arrays, str(staging / PREDICTIONS_FILE))
        meta = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "id": spec.id,
            "spec": spec.to_dict(),
            "train": train.to_dict() if train else None,
            "data": data_fingerprint,
            "metrics": metrics,
        }
        (staging / MEMBER_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        if member_dir.exists():
            shutil.rmtree(member_dir)
        os.replace(staging, member_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return member_dir


def read_member_json(member_dir: str | Path) -> dict:
    """The ``member.json`` of a finished member.

    Raises:
        PoolError: if the directory is not a finished member or the file is not ours.
    """
    member_dir = Path(member_dir)
    if not is_finished(member_dir):
        raise PoolError(
            f"{member_dir} is not a finished NES member: it needs {MEMBER_FILE} and "
            f"{WEIGHTS_FILE} (rerun the search to finish the pool)"
        )
    try:
        meta = json.loads((member_dir / MEMBER_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise PoolError(f"{member_dir / MEMBER_FILE} is not readable JSON: {err}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise PoolError(f"{member_dir / MEMBER_FILE} is not a {FORMAT} description")
    if meta.get("version") != FORMAT_VERSION:
        raise PoolError(
            f"{member_dir / MEMBER_FILE} has version {meta.get('version')!r}; this hwnas reads "
            f"version {FORMAT_VERSION}"
        )
    return meta


def load_member(member_dir: str | Path):
    """The (spec, network in eval mode) of a finished member directory.

    Raises:
        PoolError: for a missing, foreign or damaged member.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    member_dir = Path(member_dir)
    meta = read_member_json(member_dir)
    spec = MemberSpec.from_dict(meta.get("spec"), source=str(member_dir / MEMBER_FILE))
    module = build_member(spec)
    try:
        module.load_state_dict(load_file(str(member_dir / WEIGHTS_FILE)), strict=True)
    except (SafetensorError, RuntimeError, OSError) as err:
        raise PoolError(
            f"{member_dir / WEIGHTS_FILE} does not fit its member.json: {err}"
        ) from None
    return spec, module.eval()


def load_predictions(member_dir: str | Path) -> dict[str, np.ndarray]:
    """The stored softmax outputs of a member, by split name (``valid``, ``test``)."""
    from safetensors.numpy import load_file

    path = Path(member_dir) / PREDICTIONS_FILE
    if not path.is_file():
        raise PoolError(f"{path} is missing: the member was saved without its predictions")
    return load_file(str(path))


@dataclass(frozen=True)
class PoolData:
    """The three splits of NES: members train on `train`, selection reads `valid`, reports
    read `test`."""

    train: ImageData
    valid: ImageData
    test: ImageData

    @property
    def num_classes(self) -> int:
        return self.train.num_classes

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return self.train.input_shape

    @functools.cached_property
    def fingerprint(self) -> str:
        """A digest of the three splits' images and labels: a pool is only resumed on the
        data it was built on."""
        digest = hashlib.sha256()
        for split in (self.train, self.valid, self.test):
            for array in (split.x, split.y):
                digest.update(str((array.shape, array.dtype.str)).encode())
                digest.update(np.ascontiguousarray(array).tobytes())
        return digest.hexdigest()[:16]


def split_validation(
    dataset: Dataset, valid_fraction: float = 0.2, seed: int = 0, max_train: int | None = None
) -> PoolData:
    """Holds out a seeded `valid_fraction` of `dataset.train` for selection.

    Args:
        max_train: If given, at most this many training images are kept (after the split).
    """
    if not 0 < valid_fraction < 1:
        raise PoolError(f"valid_fraction must lie in (0, 1), got {valid_fraction}")
    train = dataset.train
    order = np.random.default_rng(seed).permutation(len(train))
    cut = int(round(len(train) * valid_fraction))
    if cut < 1 or cut >= len(train):
        raise PoolError(f"{len(train)} training images are too few to hold out a validation split")
    valid_rows, train_rows = np.sort(order[:cut]), np.sort(order[cut:])
    if max_train is not None:
        train_rows = train_rows[:max_train]
    pick = lambda rows: ImageData(train.x[rows], train.y[rows], train.num_classes)  # noqa: E731
    return PoolData(pick(train_rows), pick(valid_rows), dataset.test)


@dataclass(frozen=True)
class PoolMember:
    """A finished member as ensemble selection sees it: its id, spec and stored predictions."""

    id: str
    spec: MemberSpec
    metrics: dict = field(repr=False)
    predictions: dict[str, np.ndarray] = field(repr=False)


def read_pool_member(pool_dir: str | Path, member_id: str) -> PoolMember:
    """The finished member `member_id` of `pool_dir`, with its predictions."""
    member_dir = Path(pool_dir) / member_id
    meta = read_member_json(member_dir)
    spec = MemberSpec.from_dict(meta["spec"], source=str(member_dir / MEMBER_FILE))
    return PoolMember(member_id, spec, meta.get("metrics", {}), load_predictions(member_dir))


@dataclass(frozen=True)
class PoolBuild:
    """What `build_pool` did: the members it trained and those it found finished."""

    trained: tuple[str, ...]
    skipped: tuple[str, ...]
    members: tuple[PoolMember, ...] = field(repr=False)


def build_pool(
    specs: Sequence[MemberSpec],
    data: PoolData,
    train_config: TrainConfig,
    out_dir: str | Path,
    backend: str = "local",
    on_member: Callable[[PoolMember, bool], None] | None = None,
) -> PoolBuild:
    """Trains and saves every spec whose member is not finished in `out_dir`.

    Args:
        specs: The members, in order; duplicates are trained once.
        backend: ``local`` (one after the other, in this process) or ``ray`` (one task per
            member with ``num_cpus=1`` on the running Ray instance, or a local one started
            here; each member is saved by this process as its result arrives).
        on_member: Called with each member and whether it was trained now, as it is ready.

    Returns:
        The members in the order of `specs` (duplicates once).

    Raises:
        PoolError: for an unknown backend or a member that does not fit the data.
    """
    from hwnas.methods.nes.backends import train_and_save, train_on_ray

    if backend not in BACKENDS:
        raise PoolError(f"unknown backend {backend!r}; expected one of {', '.join(BACKENDS)}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in out_dir.glob(".*.*"):
        if stale.is_dir():  # the staging directory of a build that was killed
            shutil.rmtree(stale, ignore_errors=True)
    unique = list(dict.fromkeys(specs))
    for spec in unique:
        if spec.input_shape != data.input_shape or spec.num_classes != data.num_classes:
            raise PoolError(
                f"member {spec.id} is for input {spec.input_shape} and {spec.num_classes} "
                f"classes, but the data has {data.input_shape} and {data.num_classes}"
            )
    done: dict[str, PoolMember] = {}
    skipped = [s for s in unique if is_finished(out_dir / s.id)]
    for spec in skipped:
        _check_resumable(out_dir / spec.id, train_config, data)
        done[spec.id] = read_pool_member(out_dir, spec.id)
        if on_member:
            on_member(done[spec.id], False)
    todo = [s for s in unique if s.id not in done]
    trained = []

    def arrived(spec: MemberSpec) -> None:
        trained.append(spec.id)
        done[spec.id] = read_pool_member(out_dir, spec.id)
        if on_member:
            on_member(done[spec.id], True)

    if backend == "ray" and todo:
        train_on_ray(todo, data, train_config, out_dir, arrived)
    else:
        for spec in todo:
            train_and_save(spec, data, train_config, out_dir)
            arrived(spec)
    return PoolBuild(
        tuple(trained), tuple(s.id for s in skipped), tuple(done[s.id] for s in unique)
    )


def _check_resumable(member_dir: Path, train_config: TrainConfig, data: PoolData) -> None:
    """Refuses to reuse a finished member trained with other settings or on other data."""
    meta = read_member_json(member_dir)
    if meta.get("train") != train_config.to_dict():
        raise PoolError(
            f"{member_dir} was trained with {meta.get('train')}, not {train_config.to_dict()}: "
            "a pool is resumed with the settings it was started with; use another output "
            "folder for other settings"
        )
    if meta.get("data") != data.fingerprint:
        raise PoolError(
            f"{member_dir} was trained on other data (fingerprint {meta.get('data')}, now "
            f"{data.fingerprint}): a pool is resumed on the same data set, split, seed and "
            "training-image cap; use another output folder"
        )
