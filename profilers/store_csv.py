"""CSV exports of measurements: long (one row per measurement) and wide (one column per device).

The wide layout is that of the published tables shipped in ``hwnas/data``
(``nb201_index,arch,<device>...``, median latency in ms), so a profiled device can be put
next to the literature devices by any tool that reads them.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from profilers.errors import StoreError
from profilers.measurement import Measurement

IndexOf = Mapping[str, int] | Callable[[str], int]
"""A key's index in its search space: a mapping, or a function of the key."""

CSV_COLUMNS = (
    "arch", "latency_ms", "p90_ms", "p99_ms", "mean_ms", "cov", "n", "stop_reason",
    "device", "runtime", "precision", "batch_size",
    "energy_mj", "energy_net_mj", "power_w", "energy_reason", "created_at",
    "rounds", "ci_low_ms", "ci_high_ms", "disturbed_rounds", "unstable",
)  # fmt: skip
"""The long CSV's columns; the last five are empty for a measurement taken in one window."""


def write_long_csv(path: str | Path, rows: Iterable[Measurement]) -> int:
    """Write one line per measurement with ``CSV_COLUMNS``; return the number of lines."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        for m in rows:
            s, r = m.latency, m.rounds
            summary = (
                ["", "", "", "", ""]
                if r is None
                else [
                    r.rounds, r.ci_low_ms, r.ci_high_ms, r.disturbed_rounds,
                    "" if r.unstable is None else int(r.unstable),
                ]
            )  # fmt: skip
            writer.writerow([
                m.key, s.median_ms, s.p90_ms, s.p99_ms, s.mean_ms, s.cov, s.n, s.stop_reason,
                m.device, m.runtime, m.precision, m.batch_size,
                m.energy_mj, m.energy_net_mj, m.power_w, m.energy_reason, m.created_at,
                *summary,
            ])  # fmt: skip
            count += 1
    return count


def write_wide_csv(
    path: str | Path,
    rows: Iterable[Measurement],
    *,
    devices: list[str] | None = None,
    index: IndexOf | None = None,
    index_column: str = "nb201_index",
) -> int:
    """Write median latencies, one row per key and one column per device; return the rows.

    Args:
        path: The CSV file.
        rows: Measurements of one runtime, precision and batch size.
        devices: Device columns in order; default the devices of ``rows``, sorted. A device
            without measurements gets an empty column; keys measured on none of them are left
            out.
        index: A key's index (first column; rows sorted by it); None leaves the column out
            and keeps the keys in the order they first appear.
        index_column: Name of the index column.

    Raises:
        StoreError: If ``rows`` mix runtimes, precisions or batch sizes (one cell per device
            and key), or ``index`` cannot place a key.
    """
    rows = list(rows)
    settings = {(m.runtime, m.precision, m.batch_size) for m in rows}
    if len(settings) > 1:
        raise StoreError(
            f"a wide CSV holds one setting per device, got {sorted(settings)}; "
            "choose a runtime, precision and batch size"
        )
    columns = list(devices) if devices is not None else sorted({m.device for m in rows})
    table: dict[str, dict[str, float]] = {}
    for m in rows:
        if m.device in columns:
            table.setdefault(m.key, {})[m.device] = m.latency.median_ms
    keys = list(table)
    if index is not None:
        lookup = index.__getitem__ if isinstance(index, Mapping) else index
        try:
            indices = {key: int(lookup(key)) for key in keys}
        except (KeyError, ValueError, TypeError) as exc:
            raise StoreError(
                f"cannot give every stored key an {index_column} ({type(exc).__name__}: {exc}); "
                "the store holds keys of another search space"
            ) from exc
        keys.sort(key=indices.__getitem__)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(([index_column] if index is not None else []) + ["arch", *columns])
        for key in keys:
            cells = [table[key].get(device, "") for device in columns]
            writer.writerow(([indices[key]] if index is not None else []) + [key, *cells])
    return len(keys)
