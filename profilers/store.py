"""The measurement store: an SQLite database (WAL mode), one row per measured setting.

Each ``add`` commits at once, so a killed campaign loses no finished measurement and resumes by
skipping what the store already holds. The file carries a magic string and a schema version so
that a foreign or damaged file is refused with a clear message instead of being written into.
"""

from __future__ import annotations

import csv
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from profilers.errors import StoreError
from profilers.measurement import Measurement
from profilers.stats import LatencyStats

MAGIC = "hwnas-measurement-store"
SCHEMA_VERSION = 1

_SQLITE_HEADER = b"SQLite format 3\x00"
_KEY_COLUMNS = ("key", "device", "runtime", "precision", "batch_size")
_STATS_COLUMNS = ("median_ms", "p90_ms", "p99_ms", "mean_ms", "cov", "n", "stop_reason")
_ENERGY_COLUMNS = ("energy_mj", "energy_net_mj", "power_w", "energy_reason")
_INFO_COLUMNS = ("fingerprint", "runtime_info", "created_at")
_COLUMNS = _KEY_COLUMNS + _STATS_COLUMNS + _ENERGY_COLUMNS + _INFO_COLUMNS

_SCHEMA = f"""
CREATE TABLE hwnas_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE measurements (
    key TEXT NOT NULL,
    device TEXT NOT NULL,
    runtime TEXT NOT NULL,
    precision TEXT NOT NULL,
    batch_size INTEGER NOT NULL,
    median_ms REAL NOT NULL,
    p90_ms REAL NOT NULL,
    p99_ms REAL NOT NULL,
    mean_ms REAL NOT NULL,
    cov REAL NOT NULL,
    n INTEGER NOT NULL,
    stop_reason TEXT NOT NULL,
    energy_mj REAL,
    energy_net_mj REAL,
    power_w REAL,
    energy_reason TEXT,
    fingerprint TEXT NOT NULL,
    runtime_info TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY ({", ".join(_KEY_COLUMNS)})
);
CREATE INDEX measurements_device_runtime ON measurements (device, runtime);
INSERT INTO hwnas_meta (name, value) VALUES ('magic', '{MAGIC}');
PRAGMA user_version = {SCHEMA_VERSION};
"""

_UPSERT = (
    f"INSERT INTO measurements ({', '.join(_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in _COLUMNS)}) "
    f"ON CONFLICT ({', '.join(_KEY_COLUMNS)}) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS if c not in _KEY_COLUMNS)
)

_WHAT_TO_DO = "Move it aside or pass another store path (--store)."

CSV_COLUMNS = (
    "arch", "latency_ms", "p90_ms", "p99_ms", "mean_ms", "cov", "n", "stop_reason",
    "device", "runtime", "precision", "batch_size",
    "energy_mj", "energy_net_mj", "power_w", "energy_reason", "created_at",
)  # fmt: skip


class MeasurementStore:
    """Measurements on disk, keyed by (key, device, runtime, precision, batch_size).

    Args:
        path: The SQLite file.
        create: Create the file and its parent folders if it does not exist; with False, a
            missing (or empty) file is an error and nothing is created, for stores that are
            only read.

    Raises:
        StoreError: If the file is not an SQLite database, is a database of something else,
            was written by a newer hwnas, or is damaged; with ``create=False``, if there is no
            store at ``path``.
    """

    def __init__(self, path: str | Path, *, create: bool = True) -> None:
        self.path = Path(path)
        self._conn: sqlite3.Connection | None = None
        self._check_file(create)
        if create:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            target, uri = str(self.path), False
        else:  # mode=rw: SQLite itself refuses to create the file
            target, uri = f"{self.path.resolve().as_uri()}?mode=rw", True
        try:
            conn = sqlite3.connect(target, timeout=30.0, isolation_level=None, uri=uri)
        except sqlite3.Error as exc:
            raise self._fail(f"SQLite cannot open it ({exc})") from exc
        try:
            self._open_schema(conn)
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    def _fail(self, problem: str) -> StoreError:
        return StoreError(
            f"{self.path} is not a usable hwnas measurement store: {problem}. {_WHAT_TO_DO}"
        )

    def _check_file(self, create: bool) -> None:
        if self.path.is_dir():
            raise self._fail("it is a folder")
        size = self.path.stat().st_size if self.path.exists() else None
        if not create and not size:
            problem = "the file does not exist" if size is None else "the file is empty"
            raise StoreError(
                f"no measurement store at {self.path}: {problem}. Check the path, or write the "
                "store first (hwnas profile --store PATH)"
            )
        if not size:
            return
        with self.path.open("rb") as handle:
            header = handle.read(len(_SQLITE_HEADER))
        if header != _SQLITE_HEADER:
            raise self._fail(f"it is not an SQLite database (it starts with {header[:8]!r})")

    def _open_schema(self, conn: sqlite3.Connection) -> None:
        # Read-only checks come first, so that a foreign or damaged file is left untouched.
        try:
            check = conn.execute("PRAGMA quick_check").fetchall()
            if [row[0] for row in check] != ["ok"]:
                problems = "; ".join(str(row[0]) for row in check[:3])
                raise self._fail(f"the database is damaged ({problems})")
            ours = self._check_schema(conn)
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise self._fail(f"SQLite refused WAL journal mode (got {mode!r})")
            if ours:
                return
            conn.execute("BEGIN IMMEDIATE")
            try:
                if not self._check_schema(conn):  # another process may have created it
                    self._create(conn)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        except sqlite3.OperationalError as exc:  # locked, unreadable, no space: not damage
            raise StoreError(
                f"{self.path}: SQLite cannot use the measurement store ({exc}); check the file's "
                "permissions and that no other process holds it locked"
            ) from exc
        except sqlite3.DatabaseError as exc:
            raise self._fail(f"the database is damaged or truncated ({exc})") from exc

    def _check_schema(self, conn: sqlite3.Connection) -> bool:
        """Return True if the database holds our schema, False if it is empty; else fail."""
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if not tables and version == 0:
            return False
        magic = None
        if "hwnas_meta" in tables:
            row = conn.execute("SELECT value FROM hwnas_meta WHERE name = 'magic'").fetchone()
            magic = row[0] if row else None
        if magic != MAGIC:
            raise self._fail(
                "it is an SQLite database of something else (no hwnas_meta magic; tables: "
                f"{sorted(tables)[:5]})"
            )
        if version > SCHEMA_VERSION:
            raise self._fail(
                f"it has schema version {version}, newer than this hwnas reads "
                f"({SCHEMA_VERSION}); upgrade hwnas"
            )
        if version < SCHEMA_VERSION:
            raise self._fail(f"it has unknown old schema version {version}")
        return True

    @staticmethod
    def _create(conn: sqlite3.Connection) -> None:
        for statement in _SCHEMA.split(";"):
            if statement.strip():
                conn.execute(statement)

    # -- writing -------------------------------------------------------------------------

    def add(self, measurement: Measurement) -> None:
        """Insert or replace the row for the measurement's key, committed at once."""
        if not isinstance(measurement, Measurement):
            raise TypeError(f"add() takes a Measurement, got {type(measurement).__name__}")
        m, s = measurement, measurement.latency
        row = (
            m.key, m.device, m.runtime, m.precision, m.batch_size,
            s.median_ms, s.p90_ms, s.p99_ms, s.mean_ms, s.cov, s.n, s.stop_reason,
            m.energy_mj, m.energy_net_mj, m.power_w, m.energy_reason,
            json.dumps(m.fingerprint, sort_keys=True), json.dumps(m.runtime_info, sort_keys=True),
            m.created_at,
        )  # fmt: skip
        conn = self._connection()
        try:
            conn.execute(_UPSERT, row)  # autocommit: durable when this returns
        except sqlite3.Error as exc:  # disk full, locked past the timeout, read-only, I/O error
            raise StoreError(
                f"{self.path}: could not save the measurement of key {m.key!r} on {m.device!r} "
                f"({exc}); the measurements saved before it are kept. Free disk space or stop "
                "the other process holding the store, then run again to resume"
            ) from exc

    # -- reading -------------------------------------------------------------------------

    def get(
        self, key: str, device: str, runtime: str, precision: str = "fp32", batch_size: int = 1
    ) -> Measurement | None:
        """Return the stored measurement for this setting, or None."""
        cursor = self._connection().execute(
            f"SELECT {', '.join(_COLUMNS)} FROM measurements WHERE "
            + " AND ".join(f"{c} = ?" for c in _KEY_COLUMNS),
            (key, device, runtime, precision, batch_size),
        )
        row = cursor.fetchone()
        return None if row is None else self._from_row(row)

    def has(
        self, key: str, device: str, runtime: str, precision: str = "fp32", batch_size: int = 1
    ) -> bool:
        """Return whether a measurement for this setting is stored."""
        cursor = self._connection().execute(
            "SELECT 1 FROM measurements WHERE " + " AND ".join(f"{c} = ?" for c in _KEY_COLUMNS),
            (key, device, runtime, precision, batch_size),
        )
        return cursor.fetchone() is not None

    def __contains__(self, item: object) -> bool:
        """Support ``(key, device, runtime[, precision[, batch_size]]) in store``."""
        if not isinstance(item, tuple) or not 3 <= len(item) <= 5:
            raise TypeError(
                f"use `(key, device, runtime[, precision[, batch_size]]) in store`, got {item!r}"
            )
        return self.has(*item)

    def measurements(
        self,
        device: str | None = None,
        runtime: str | None = None,
        precision: str | None = None,
        batch_size: int | None = None,
    ) -> list[Measurement]:
        """Return stored measurements in insertion order; each filter that is not None applies."""
        return list(self._select(device, runtime, precision, batch_size))

    def __len__(self) -> int:
        return self._connection().execute("SELECT COUNT(*) FROM measurements").fetchone()[0]

    def export_csv(
        self,
        path: str | Path,
        device: str | None = None,
        runtime: str | None = None,
        precision: str | None = None,
        batch_size: int | None = None,
    ) -> int:
        """Write measurements to CSV, ``arch,latency_ms`` (median) first; return the row count.

        The filters are those of ``measurements``. The remaining columns are ``CSV_COLUMNS``;
        fingerprints stay in the store.
        """
        rows = self.measurements(device, runtime, precision, batch_size)
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(CSV_COLUMNS)
            for m in rows:
                s = m.latency
                writer.writerow([
                    m.key, s.median_ms, s.p90_ms, s.p99_ms, s.mean_ms, s.cov, s.n, s.stop_reason,
                    m.device, m.runtime, m.precision, m.batch_size,
                    m.energy_mj, m.energy_net_mj, m.power_w, m.energy_reason, m.created_at,
                ])  # fmt: skip
        return len(rows)

    def _select(
        self,
        device: str | None,
        runtime: str | None,
        precision: str | None,
        batch_size: int | None,
    ) -> Iterator[Measurement]:
        filters = {
            "device": device,
            "runtime": runtime,
            "precision": precision,
            "batch_size": batch_size,
        }
        where = [f"{column} = ?" for column, value in filters.items() if value is not None]
        params = [value for value in filters.values() if value is not None]
        query = f"SELECT {', '.join(_COLUMNS)} FROM measurements"
        if where:
            query += " WHERE " + " AND ".join(where)
        for row in self._connection().execute(query + " ORDER BY rowid", params).fetchall():
            yield self._from_row(row)

    def _from_row(self, row: tuple[Any, ...]) -> Measurement:
        data = dict(zip(_COLUMNS, row, strict=True))
        try:
            stats = LatencyStats(**{c: data.pop(c) for c in _STATS_COLUMNS})
            data["fingerprint"] = json.loads(data["fingerprint"])
            data["runtime_info"] = json.loads(data["runtime_info"])
            return Measurement(latency=stats, **data)
        except (ValueError, TypeError) as exc:
            raise StoreError(
                f"{self.path}: the row for key {data['key']!r} on {data['device']!r} holds an "
                f"invalid value ({exc}); it was edited outside hwnas. Delete or fix that row"
            ) from exc

    # -- lifetime ------------------------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError(f"measurement store {self.path} is closed; open it again")
        return self._conn

    def close(self) -> None:
        """Close the database; idempotent."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> MeasurementStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._conn is None else "open"
        return f"MeasurementStore({str(self.path)!r}, {state})"
