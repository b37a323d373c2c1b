"""What the MetaPredictor reads: architecture features, device tables, a device's samples."""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hwnas.core.measured import check_measured_value, check_outliers
from hwnas.core.spaces import ArchStringError, create_space, table_spaces
from hwnas.core.tables import MeasuredTable, load_latency_table, read_wide_csv, reference_archs
from hwnas.errors import InputError

TARGETS = ("latency_ms", "energy_mj")


class SamplesFileError(InputError):
    """A samples file (CSV ``arch,<target>``) that cannot be used."""


# -- features ---------------------------------------------------------------------------------


def predictor_features(space: str, archs: Sequence[Any]) -> np.ndarray:
    """The MetaPredictor's input features of `archs` in `space`, (N, F) float32.

    The space's own `SearchSpace.predictor_features`: for NB201 the one-hot edges and the
    operation counts, for FBNet the per-layer properties and the whole-network costs.
    """
    check_space(space)
    return create_space(space).predictor_features(archs)


def network_costs(space: str, archs: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    """(parameters, MACs) of each architecture's network: the proxies of the baselines."""
    check_space(space)
    return create_space(space).network_costs(archs)


def parse_archs(space: str, texts: Sequence[str], where: Callable[[int], str]) -> list[Any]:
    """Parse architecture strings of `space`; an error names ``where(i)`` of the bad one."""
    parser = create_space(space)
    archs = []
    for i, text in enumerate(texts):
        try:
            archs.append(parser.parse(text))
        except ArchStringError as err:
            raise InputError(f"{where(i)}: {err}") from None
    return archs


# -- training data ----------------------------------------------------------------------------


def load_table(space: str, data: str | Path | None = None) -> MeasuredTable:
    """The shipped table of `space`, or a user's wide CSV ``<space>_index,arch,<device>...``."""
    check_space(space)
    if data is None:
        return load_latency_table(space)
    return read_wide_csv(data, f"{space}_index")


def check_space(space: str) -> None:
    """Refuses a space without a shipped table: the MetaPredictor learns from one.

    Raises:
        InputError: naming the space and the spaces the MetaPredictor knows.
    """
    if space not in table_spaces():
        raise InputError(
            f"unknown space {space!r}; the MetaPredictor knows {tuple(table_spaces())}"
        )


@dataclass(frozen=True)
class DeviceData:
    """One device's measurements of a table's architectures, with its embedding."""

    name: str
    values: np.ndarray
    embedding: Any  # predictors.embedding.DeviceEmbedding


def table_devices(table: MeasuredTable, reference_rows: Sequence[int]) -> list[DeviceData]:
    """Every device column of `table` with the embedding from its reference rows."""
    from predictors.embedding import DeviceEmbedding, EmbeddingError

    devices = []
    for column in table.columns:
        values = table.column(column)
        try:
            embedding = DeviceEmbedding.from_reference(values[list(reference_rows)])
        except EmbeddingError as err:
            raise InputError(f"{table.source}, device {column!r}: {err}") from None
        if np.any(values <= 0):
            raise InputError(f"{table.source}, device {column!r}: a value is not positive")
        devices.append(DeviceData(column, values, embedding))
    return devices


def reference_rows(space: str, table: MeasuredTable) -> list[int]:
    """Rows of `table` holding the space's reference architectures, in reference order."""
    rows = table.row_of
    missing = [arch for arch in reference_archs(space) if arch not in rows]
    if missing:
        raise InputError(
            f"{table.source} lacks {len(missing)} of the {space} reference architectures "
            "(they form every device's embedding): " + ", ".join(missing)
        )
    return [rows[arch] for arch in reference_archs(space)]


def design_matrix(features: np.ndarray, embedding) -> np.ndarray:
    """Rows ``[features | embedding]`` for one device, (N, F + R) float32."""
    tiled = np.broadcast_to(embedding.array, (len(features), len(embedding.values)))
    return np.concatenate([features, tiled], axis=1).astype(np.float32)


# -- samples of a new device ------------------------------------------------------------------


def read_samples_csv(path: str | Path, space: str, target: str = "latency_ms") -> dict[str, float]:
    """Rows ``arch,<target>`` of one device, keyed by canonical architecture string.

    Raises:
        SamplesFileError: Naming the file, the line and what is wrong there.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise SamplesFileError(f"cannot read samples file {path}: {err}") from None
    reader = csv.DictReader(text.splitlines())
    if reader.fieldnames is None or not {"arch", target} <= set(reader.fieldnames):
        raise SamplesFileError(
            f"{path}: the header must name the columns 'arch' and '{target}', "
            f"found {reader.fieldnames}"
        )
    parser = create_space(space)
    samples: dict[str, float] = {}
    for line, row in enumerate(reader, start=2):
        try:
            arch = str(parser.parse(row["arch"] or ""))
        except ArchStringError as err:
            raise SamplesFileError(
                f"{path}, line {line}: not a {space} architecture: {err}"
            ) from None
        try:
            value = float(row[target])
        except (TypeError, ValueError):
            raise SamplesFileError(
                f"{path}, line {line}: {target} {row[target]!r} is not a number"
            ) from None
        check_measured_value(value, target, f"{path}, line {line}", SamplesFileError)
        if arch in samples:
            raise SamplesFileError(f"{path}, line {line}: {arch} appears a second time")
        samples[arch] = value
    if not samples:
        raise SamplesFileError(f"{path} has a header but no rows")
    check_outliers(samples, target, str(path), SamplesFileError)
    return samples


def missing_references(space: str, samples: dict[str, float]) -> list[str]:
    """The reference architectures of `space` that `samples` does not hold."""
    return [arch for arch in reference_archs(space) if arch not in samples]
