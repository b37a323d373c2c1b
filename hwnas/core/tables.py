"""Loaders for the measured tables shipped with hwnas (NB201/FBNet latency, NB201 accuracy).

The tables are real measurements; see `hwnas/data/README.md` for where each number comes from.
Every loader returns a `MeasuredTable` keyed by the architecture string.
"""

from __future__ import annotations

import csv
import functools
import json
import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from hwnas.errors import InputError

SPACES = ("nb201", "fbnet")
ATTRIBUTION = {
    "nb201": "latency: HELP repository (HayeonLee/HELP, MIT licence); "
    "accuracy: NATS-Bench topology space (hp=200, seed mean)",
    "fbnet": "latency: HELP repository (HayeonLee/HELP, data/fbnet, MIT licence)",
}


class DataFileError(InputError):
    """A data file that is missing, malformed or not of the expected layout."""


class UnknownColumnError(InputError, KeyError):
    """A device or metric column that the table does not have."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0])


@dataclass(frozen=True)
class MeasuredTable:
    """A wide table of measurements: one row per architecture, one column per device/metric.

    Attributes:
        archs: The architecture strings, in file order.
        indices: The benchmark index of each row, (N,) int64.
        columns: The value columns (device settings or accuracy metrics).
        values: (N, len(columns)) float64.
        source: Where the table was read from.
    """

    archs: tuple[str, ...]
    indices: np.ndarray
    columns: tuple[str, ...]
    values: np.ndarray
    source: str

    def __len__(self) -> int:
        return len(self.archs)

    def _column_index(self, name: str) -> int:
        try:
            return self.columns.index(name)
        except ValueError:
            raise UnknownColumnError(
                f"{self.source} has no column {name!r}; its columns are: {', '.join(self.columns)}"
            ) from None

    def column(self, name: str) -> np.ndarray:
        """The values of one column in row order, (N,) float64."""
        return self.values[:, self._column_index(name)]

    def by_arch(self, name: str) -> dict[str, float]:
        """One column keyed by architecture string."""
        return dict(zip(self.archs, self.column(name).tolist()))

    @functools.cached_property
    def row_of(self) -> dict[str, int]:
        """The row number of each architecture string."""
        return {arch: i for i, arch in enumerate(self.archs)}


def _data_file(space: str, name: str) -> Path:
    if space not in SPACES:
        raise DataFileError(f"unknown search space {space!r}; shipped spaces are {SPACES}")
    return Path(str(resources.files("hwnas.data").joinpath(space, name)))


def read_wide_csv(path: str | Path, index_column: str) -> MeasuredTable:
    """Reads a wide CSV `index_column, arch, <value columns>...`.

    Raises:
        DataFileError: naming the file, line and value that are wrong.
    """
    path = Path(path)
    try:
        handle = path.open(newline="", encoding="utf-8")
    except OSError as err:
        raise DataFileError(f"cannot read data file {path}: {err.strerror}") from err
    with handle:
        reader = csv.reader(handle)
        try:
            header = next(reader)
        except StopIteration:
            raise DataFileError(f"{path} is empty; expected a header line") from None
        except (csv.Error, UnicodeDecodeError) as err:
            raise DataFileError(f"{path} is not a readable CSV file: {err}") from err
        if header[:2] != [index_column, "arch"] or len(header) < 3:
            raise DataFileError(
                f"{path}: header is {header[:3]}..., expected '{index_column},arch,' "
                "followed by one column per device or metric"
            )
        columns = tuple(header[2:])
        archs, indices, rows = [], [], []
        try:
            for line_no, row in enumerate(reader, start=2):
                if not row:
                    continue
                if len(row) != len(header):
                    raise DataFileError(
                        f"{path}, line {line_no}: {len(row)} fields, expected {len(header)}"
                    )
                try:
                    indices.append(int(row[0]))
                    values = [float(v) for v in row[2:]]
                except ValueError as err:
                    raise DataFileError(f"{path}, line {line_no}: {err}") from None
                if not all(math.isfinite(v) for v in values):
                    raise DataFileError(f"{path}, line {line_no}: a value is not finite")
                archs.append(row[1])
                rows.append(values)
        except (csv.Error, UnicodeDecodeError) as err:
            raise DataFileError(f"{path} is not a readable CSV file: {err}") from err
    if not rows:
        raise DataFileError(f"{path} has a header but no data rows")
    if len(set(archs)) != len(archs):
        raise DataFileError(f"{path} lists some architecture more than once")
    indices_array = np.asarray(indices, dtype=np.int64)
    values = np.asarray(rows, dtype=np.float64)
    indices_array.flags.writeable = False  # loaders are cached: callers share these arrays
    values.flags.writeable = False
    return MeasuredTable(
        archs=tuple(archs),
        indices=indices_array,
        columns=columns,
        values=values,
        source=str(path),
    )


@functools.cache
def load_latency_table(space: str = "nb201") -> MeasuredTable:
    """The shipped latency table (milliseconds) of `space`, one column per device setting."""
    return read_wide_csv(_data_file(space, "latency_ms.csv"), f"{space}_index")


@functools.cache
def load_accuracy_table() -> MeasuredTable:
    """The shipped NAS-Bench-201 test accuracy table (percent) for CIFAR-10/100, ImageNet16-120."""
    return read_wide_csv(_data_file("nb201", "accuracy.csv"), "nb201_index")


@functools.cache
def reference_indices(space: str = "nb201") -> tuple[int, ...]:
    """The benchmark indices of the 10 reference architectures (the device embedding's inputs)."""
    path = _data_file(space, "reference_archs.json")
    indices = json.loads(path.read_text(encoding="utf-8"))
    return tuple(int(i) for i in indices)


@functools.cache
def reference_archs(space: str = "nb201") -> tuple[str, ...]:
    """The architecture strings of the 10 reference architectures, in embedding order."""
    table = load_latency_table(space)
    row_of_index = {int(idx): row for row, idx in enumerate(table.indices)}
    return tuple(table.archs[row_of_index[i]] for i in reference_indices(space))


def nb201_index_archs() -> tuple[str, ...]:
    """NAS-Bench-201 architecture strings ordered by their index 0..15624."""
    table = load_accuracy_table()
    if not np.array_equal(table.indices, np.arange(len(table))):
        raise DataFileError(f"{table.source}: rows are not in index order 0..{len(table) - 1}")
    return table.archs
