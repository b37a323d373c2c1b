"""The members of a NES pool: their specification, network, folder, predictions and data.

A member directory ``<pool>/<id>/`` holds ``member.json`` (what rebuilds the network, how it
was trained, its metrics), ``model.safetensors`` (its weights) and ``predictions.safetensors``
(its softmax on the validation and test splits, so ensemble selection never runs a network).
It is written in a sibling temporary directory and renamed into place, so a killed build
leaves either a finished member or none; `hwnas.methods.nes.pool.build_pool` skips finished
members.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hwnas.core.datasets import Dataset, ImageData
from hwnas.core.serialize import SerializeError, from_json, to_json
from hwnas.errors import InputError
from hwnas.methods.nes.train import TrainConfig

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


def pool_spaces() -> list[str]:
    """The search spaces whose networks a pool can hold.

    Registered spaces with a depth in cells (`SearchSpace.depth_keyword`), reduced variants
    (RobustDARTS's S1-S4) left out.
    """
    from hwnas.core.spaces import cell_spaces

    return cell_spaces(variants=False)


def check_pool_space(space: str) -> None:
    """Refuses a space a pool cannot hold.

    Raises:
        PoolError: naming the space and the spaces a pool can hold.
    """
    if space not in pool_spaces():
        raise PoolError(f"unknown NES space {space!r}; expected one of {', '.join(pool_spaces())}")


def parse_member_arch(space: str, arch: Any):
    """The architecture value of `arch` in `space`.

    Parsed from its canonical string (a DARTS `Genotype` may also be given as its `to_dict`
    dict); a value is returned as it is.

    Raises:
        PoolError: for an unknown space; the space's own error for a malformed architecture.
    """
    from hwnas.core.spaces import create_space
    from hwnas.core.spaces.darts_genotype import Genotype

    check_pool_space(space)
    searched = create_space(space)
    if isinstance(arch, dict):
        arch = Genotype.from_dict(arch, space=space)
    if not isinstance(arch, str):
        arch = str(arch)
    return searched.parse(arch)


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
        from hwnas.core.spaces import create_space

        searched = create_space(self.space)
        try:
            searched.check_sizes(**{"channels": self.channels, searched.depth_keyword: self.cells})
        except InputError as err:
            raise PoolError(str(err)) from None

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
        """The spec as JSON values (`hwnas.core.serialize.to_json`, unversioned: it is nested)."""
        return to_json(self, versioned=False)

    @classmethod
    def from_dict(cls, data: dict, source: str = "member spec") -> MemberSpec:
        """The spec of `to_dict`.

        Raises:
            PoolError: naming `source` and the missing, unknown or bad field.
        """
        try:
            return from_json(cls, data, source=source)
        except SerializeError as err:
            raise PoolError(str(err)) from None

    def with_seed(self, seed: int) -> MemberSpec:
        """The same network with another initialisation seed."""
        return MemberSpec(**{**self.to_dict(), "seed": seed, "input_shape": self.input_shape})


def build_member(spec: MemberSpec):
    """The untrained network of `spec`, initialised from `spec.seed`; outputs logits (B, classes).

    Built by the space (`SearchSpace.build`): NB201's `NB201Network` with `cells` cells per
    stage, DARTS's `DartsNetwork` with `cells` cells in all; the stem reads `input_shape[0]`
    channels.
    """
    import torch

    from hwnas.core.spaces import create_space

    torch.manual_seed(spec.seed)
    space = create_space(spec.space)
    sizes = {"channels": spec.channels, space.depth_keyword: spec.cells}
    return space.build(
        spec.arch_value, num_classes=spec.num_classes, in_channels=spec.input_shape[0], **sizes
    )


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
            "train": to_json(train, versioned=False) if train else None,
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
    """The three splits of NES.

    Members train on `train`, selection reads `valid`, reports read `test`.
    """

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
        """A digest of the three splits' images and labels.

        A pool is only resumed on the data it was built on.
        """
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
