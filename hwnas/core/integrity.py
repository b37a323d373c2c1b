"""Integrity of saved model folders: sha256 of each weights file, recorded and checked on load.

A damaged weights file can still parse (bytes overwritten inside a tensor) and then answer
NaN or nonsense with exit code 0; its sha256 cannot match. Arrays that still load are also
checked to be finite.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from hwnas.errors import InputError
from profilers.campaign import file_sha256


def record_sha256(directory: str | Path, names: Iterable[str]) -> dict[str, str]:
    """``{name: sha256}`` of the files `names` that exist in `directory`."""
    directory = Path(directory)
    return {name: file_sha256(directory / name) for name in names if (directory / name).is_file()}


def verify_sha256(
    directory: str | Path,
    recorded: Mapping[str, str] | None,
    names: Iterable[str],
    error: type[InputError],
    remedy: str,
) -> None:
    """Raises `error` if a file in `names` differs from the sha256 recorded for it.

    A folder saved before sha256s were recorded (`recorded` None) loads with a warning.
    """
    directory = Path(directory)
    if recorded is None:
        warnings.warn(
            f"{directory}: no sha256 of its weights recorded (saved by an older hwnas), so "
            f"damage cannot be detected; {remedy} to record them",
            stacklevel=3,
        )
        return
    if not isinstance(recorded, Mapping):
        raise error(f"{directory}: its sha256 record is not a mapping of file names to hashes")
    for name in names:
        path = directory / name
        if not path.is_file():
            continue
        expected = recorded.get(name)
        if expected is None:
            raise error(f"{path}: no sha256 recorded for it; {remedy}")
        actual = file_sha256(path)
        if actual != expected:
            raise error(
                f"{path}: sha256 {actual[:12]}... differs from the {str(expected)[:12]}... "
                f"recorded when it was saved: the file was changed or damaged; {remedy}"
            )


def check_finite(arrays: Mapping[str, np.ndarray], where: str, error: type[InputError]) -> None:
    """Raises `error` naming the first weights array holding NaN or infinity."""
    for name, array in arrays.items():
        values = np.asarray(array)
        if values.dtype.kind in "fc" and not np.isfinite(values).all():
            raise error(f"{where}: weights {name!r} hold NaN or infinity: the file is damaged")
