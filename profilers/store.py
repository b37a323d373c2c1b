"""The measurement store: an SQLite database (WAL mode), one row per measured setting.

Each ``add`` commits at once, so a killed campaign loses no finished measurement and resumes by
skipping what the store already holds. A model that could not be measured is kept as a row of
the ``failures`` table (``add_failure``), with its error. The file carries a magic string and a
schema version so that a foreign or damaged file is refused with a clear message instead of
being written into; a store of an older schema is migrated when it is opened.
(The SQL is in ``profilers.store_schema``.)
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from profilers import store_csv
from profilers.errors import StoreError
from profilers.failures import MeasurementFailure
from profilers.measurement import Measurement, RoundRecord
from profilers.rounds import RoundsSummary
from profilers.stats import LatencyStats
from profilers.store_schema import (
    COLUMNS,
    FAILURE_COLUMNS,
    KERNEL_COLUMNS,
    KEY_WHERE,
    MAGIC,
    MIGRATIONS,
    ROUND_COLUMNS,
    ROUND_SUMMARY_COLUMNS,
    SCHEMA,
    SCHEMA_VERSION,
    SQLITE_HEADER,
    STATS_COLUMNS,
    UPSERT,
    UPSERT_FAILURE,
    UPSERT_KERNELS,
    UPSERT_ROUND,
)

_WHAT_TO_DO = "Move it aside or pass another store path (--store)."

CSV_COLUMNS = store_csv.CSV_COLUMNS


class MeasurementStore:
    """Measurements on disk, keyed by (key, device, runtime, precision, batch_size).

    Args:
        path: The SQLite file.
        create: Create the file and its parent folders if it does not exist; with False, the
            store is opened read-only (``mode=ro``) for commands that only read: a missing or
            empty file, or an SQLite file without the hwnas tables, is an error and nothing
            is written (a store of an older schema is migrated in memory, not on disk).

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
        else:  # mode=ro: SQLite itself refuses to create or change the file
            target, uri = f"{self.path.resolve().as_uri()}?mode=ro", True
        try:
            conn = sqlite3.connect(target, timeout=30.0, isolation_level=None, uri=uri)
        except sqlite3.Error as exc:
            raise self._fail(f"SQLite cannot open it ({exc})") from exc
        try:
            conn = self._open_schema(conn, create)
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
            header = handle.read(len(SQLITE_HEADER))
        if header != SQLITE_HEADER:
            raise self._fail(f"it is not an SQLite database (it starts with {header[:8]!r})")

    def _open_schema(self, conn: sqlite3.Connection, create: bool) -> sqlite3.Connection:
        """Check the database and bring its schema up to date; return the connection to use."""
        # Read-only checks come first, so that a foreign or damaged file is left untouched.
        try:
            check = conn.execute("PRAGMA quick_check").fetchall()
            if [row[0] for row in check] != ["ok"]:
                problems = "; ".join(str(row[0]) for row in check[:3])
                raise self._fail(f"the database is damaged ({problems})")
            version = self._check_schema(conn)
            if version == 0:
                self._check_not_a_copy_without_wal()
                if not create:
                    raise self._fail("it is an SQLite database without the hwnas tables")
            if not create:
                if version == SCHEMA_VERSION:
                    return conn
                memory = sqlite3.connect(":memory:", isolation_level=None)
                conn.backup(memory)  # an older schema is migrated in memory, the file untouched
                conn.close()
                conn = memory
            else:
                mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if str(mode).lower() != "wal":
                    raise self._fail(f"SQLite refused WAL journal mode (got {mode!r})")
            if version == SCHEMA_VERSION:
                return conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                version = self._check_schema(conn)  # another process may have written it
                if version == 0:
                    self._execute_script(conn, SCHEMA)
                while version < SCHEMA_VERSION and version in MIGRATIONS:
                    self._execute_script(conn, MIGRATIONS[version])
                    version = conn.execute("PRAGMA user_version").fetchone()[0]
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            return conn
        except sqlite3.OperationalError as exc:  # locked, unreadable, no space: not damage
            raise StoreError(
                f"{self.path}: SQLite cannot use the measurement store ({exc}); check the file's "
                "permissions and that no other process holds it locked"
            ) from exc
        except sqlite3.DatabaseError as exc:
            raise self._fail(f"the database is damaged or truncated ({exc})") from exc

    def _check_not_a_copy_without_wal(self) -> None:
        """Refuse a database in WAL mode with no tables and no ``-wal`` file beside it.

        That is what a store copied without its ``-wal`` file looks like while the rows (and
        the tables) were still in the write-ahead log: a killed or running campaign's store.
        """
        with self.path.open("rb") as handle:
            header = handle.read(20)
        wal = self.path.with_name(self.path.name + "-wal")
        no_log = not wal.exists() or wal.stat().st_size == 0  # a reader makes an empty one
        if len(header) == 20 and header[18:20] == b"\x02\x02" and no_log:
            raise self._fail(
                f"it is an SQLite database in WAL mode with no tables and no {wal.name} beside "
                f"it, as a store copied without its -wal file looks (its rows were still in "
                f"the write-ahead log): copy {wal.name} and {self.path.name}-shm with it, or "
                "checkpoint the original first (sqlite3 STORE 'PRAGMA wal_checkpoint(TRUNCATE)')"
            )

    def _check_schema(self, conn: sqlite3.Connection) -> int:
        """Return the schema version of our database (0 if it is empty); else fail."""
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if not tables and version == 0:
            return 0
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
        if version < SCHEMA_VERSION and version not in MIGRATIONS:
            raise self._fail(f"it has unknown old schema version {version}")
        return version

    @staticmethod
    def _execute_script(conn: sqlite3.Connection, script: str) -> None:
        for statement in script.split(";"):
            if statement.strip():
                conn.execute(statement)

    # -- writing -------------------------------------------------------------------------

    def add(self, measurement: Measurement) -> None:
        """Insert or replace the row for the measurement's key, committed at once."""
        if not isinstance(measurement, Measurement):
            raise TypeError(f"add() takes a Measurement, got {type(measurement).__name__}")
        m, s = measurement, measurement.latency
        r = m.rounds
        summary = (
            (None,) * len(ROUND_SUMMARY_COLUMNS)
            if r is None
            else (
                r.rounds, r.rounds_kept, r.disturbed_rounds, r.retimed_rounds,
                r.ci_low_ms, r.ci_high_ms, r.ci_confidence, r.round_spread,
                None if r.unstable is None else int(r.unstable),
            )
        )  # fmt: skip
        row = (
            m.key, m.device, m.runtime, m.precision, m.batch_size,
            s.median_ms, s.p90_ms, s.p99_ms, s.mean_ms, s.cov, s.n, s.stop_reason,
            m.energy_mj, m.energy_net_mj, m.power_w, m.energy_reason,
            json.dumps(m.fingerprint, sort_keys=True), json.dumps(m.runtime_info, sort_keys=True),
            m.created_at, *summary,
        )  # fmt: skip
        # One transaction: the row lands and an earlier failure of the same setting goes.
        self._write(
            [(UPSERT, row), (f"DELETE FROM failures WHERE {KEY_WHERE}", row[:5])],
            f"the measurement of key {m.key!r} on {m.device!r}",
        )

    def add_round(self, record: RoundRecord) -> None:
        """Insert or replace one round of a cell, committed at once (its own transaction)."""
        if not isinstance(record, RoundRecord):
            raise TypeError(f"add_round() takes a RoundRecord, got {type(record).__name__}")
        r, s = record, record.latency
        row = (
            r.key, r.device, r.runtime, r.precision, r.batch_size, r.round,
            s.median_ms, s.p90_ms, s.p99_ms, s.mean_ms, s.cov, s.n, s.stop_reason,
            r.probe_ratio, int(r.disturbed), json.dumps(r.info, sort_keys=True),
            json.dumps(r.fingerprint, sort_keys=True), json.dumps(r.runtime_info, sort_keys=True),
            r.created_at,
        )  # fmt: skip
        self._write([(UPSERT_ROUND, row)], f"round {r.round} of key {r.key!r} on {r.device!r}")

    def rounds(
        self,
        key: str | None = None,
        device: str | None = None,
        runtime: str | None = None,
        precision: str | None = None,
        batch_size: int | None = None,
    ) -> list[RoundRecord]:
        """Return stored rounds, by key and round number; each filter that is not None applies."""
        filters = {"key": key, "device": device, "runtime": runtime}
        filters |= {"precision": precision, "batch_size": batch_size}
        where = [f"{column} = ?" for column, value in filters.items() if value is not None]
        params = [value for value in filters.values() if value is not None]
        query = f"SELECT {', '.join(ROUND_COLUMNS)} FROM rounds"
        if where:
            query += " WHERE " + " AND ".join(where)
        rows = self._connection().execute(query + " ORDER BY key, round", params).fetchall()
        return [self._round_from_row(row) for row in rows]

    def add_failure(self, failure: MeasurementFailure) -> None:
        """Insert or replace the failure row of a model, committed at once."""
        if not isinstance(failure, MeasurementFailure):
            raise TypeError(
                f"add_failure() takes a MeasurementFailure, got {type(failure).__name__}"
            )
        f = failure
        row = (
            f.key, f.device, f.runtime, f.precision, f.batch_size,
            f.stage, f.error_type, f.error, json.dumps(f.fingerprint, sort_keys=True),
            f.created_at,
        )  # fmt: skip
        self._write([(UPSERT_FAILURE, row)], f"the failure of key {f.key!r} on {f.device!r}")

    def add_kernels(
        self,
        key: str,
        setting: tuple[str, str, str, int],
        profile: dict[str, Any],
        fingerprint: dict[str, Any],
        runtime_info: dict[str, Any],
        created_at: str,
    ) -> None:
        """Insert or replace one network's kernel profile, committed at once.

        Args:
            key: The network's key (as its measurement's).
            setting: (device, runtime, precision, batch size).
            profile: ``profilers.kernels.NetworkKernels.to_dict()``.
            fingerprint: The device fingerprint the kernels were timed on.
            runtime_info: The runtime's description (version, threads, optimisation level).
            created_at: ISO time of the profile.
        """
        row = (
            key, *setting, json.dumps(profile), json.dumps(fingerprint, sort_keys=True),
            json.dumps(runtime_info, sort_keys=True), created_at,
        )  # fmt: skip
        self._write([(UPSERT_KERNELS, row)], f"the kernel profile of key {key!r}")

    def kernel_profiles(
        self, device: str, runtime: str, precision: str = "fp32", batch_size: int = 1
    ) -> dict[str, dict[str, Any]]:
        """Return the kernel profiles of one setting, by network key.

        Each is a dict of ``profile`` (as stored by `add_kernels`), ``fingerprint``,
        ``runtime_info`` and ``created_at``.
        """
        rows = self._select_rows("kernels", KERNEL_COLUMNS, device, runtime, precision, batch_size)
        profiles = {}
        for row in rows:
            data = dict(zip(KERNEL_COLUMNS, row, strict=True))
            try:
                profiles[data["key"]] = {
                    "profile": json.loads(data["profile"]),
                    "fingerprint": json.loads(data["fingerprint"]),
                    "runtime_info": json.loads(data["runtime_info"]),
                    "created_at": data["created_at"],
                }
            except ValueError as exc:
                raise StoreError(
                    f"{self.path}: the kernel profile of key {data['key']!r} holds invalid JSON "
                    f"({exc}); it was edited outside hwnas. Delete or fix that row"
                ) from exc
        return profiles

    @contextmanager
    def transaction(self, what: str) -> Iterator[sqlite3.Connection]:
        """Hold the store's write lock (``BEGIN IMMEDIATE``) for a read, check and write.

        Inside the block, reads through this store see the rows as they are and no other
        connection can write until the block ends, so a check made there cannot be overtaken
        by another writer; the block commits when it ends and rolls back on any exception.
        The block must not call ``add``, ``add_round`` or ``add_failure`` (they open their own
        transaction).

        Args:
            what: What the block does, for the error message (``"register this writer"``).

        Raises:
            StoreError: If SQLite cannot take the lock or commit (locked past the timeout,
                read-only, disk full).
        """
        conn = self._connection()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: could not {what} ({exc})") from exc

    def _write(self, statements: list[tuple[str, tuple]], what: str) -> None:
        conn = self._connection()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                for sql, params in statements:
                    conn.execute(sql, params)
                conn.execute("COMMIT")  # durable when this returns
            except BaseException:
                if conn.in_transaction:  # SQLite rolls back by itself on some errors (disk full)
                    conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:  # disk full, locked past the timeout, read-only, I/O error
            raise StoreError(
                f"{self.path}: could not save {what} ({exc}); the measurements saved before it "
                "are kept. Free disk space or stop the other process holding the store, then run "
                "again to resume"
            ) from exc

    # -- reading -------------------------------------------------------------------------

    def get(
        self, key: str, device: str, runtime: str, precision: str = "fp32", batch_size: int = 1
    ) -> Measurement | None:
        """Return the stored measurement for this setting, or None."""
        cursor = self._connection().execute(
            f"SELECT {', '.join(COLUMNS)} FROM measurements WHERE {KEY_WHERE}",
            (key, device, runtime, precision, batch_size),
        )
        row = cursor.fetchone()
        return None if row is None else self._from_row(row)

    def get_failure(
        self, key: str, device: str, runtime: str, precision: str = "fp32", batch_size: int = 1
    ) -> MeasurementFailure | None:
        """Return the stored failure for this setting, or None."""
        row = (
            self._connection()
            .execute(
                f"SELECT {', '.join(FAILURE_COLUMNS)} FROM failures WHERE {KEY_WHERE}",
                (key, device, runtime, precision, batch_size),
            )
            .fetchone()
        )
        return None if row is None else self._failure_from_row(row)

    def failures(
        self,
        device: str | None = None,
        runtime: str | None = None,
        precision: str | None = None,
        batch_size: int | None = None,
    ) -> list[MeasurementFailure]:
        """Return stored failures in insertion order; each filter that is not None applies."""
        rows = self._select_rows(
            "failures", FAILURE_COLUMNS, device, runtime, precision, batch_size
        )
        return [self._failure_from_row(row) for row in rows]

    def has(
        self, key: str, device: str, runtime: str, precision: str = "fp32", batch_size: int = 1
    ) -> bool:
        """Return whether a measurement for this setting is stored."""
        cursor = self._connection().execute(
            f"SELECT 1 FROM measurements WHERE {KEY_WHERE}",
            (key, device, runtime, precision, batch_size),
        )
        return cursor.fetchone() is not None

    def has_failure(
        self, key: str, device: str, runtime: str, precision: str = "fp32", batch_size: int = 1
    ) -> bool:
        """Return whether a failure for this setting is stored."""
        cursor = self._connection().execute(
            f"SELECT 1 FROM failures WHERE {KEY_WHERE}",
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
        return store_csv.write_long_csv(path, rows)

    def export_wide_csv(
        self,
        path: str | Path,
        *,
        runtime: str,
        precision: str = "fp32",
        batch_size: int = 1,
        devices: list[str] | None = None,
        index: store_csv.IndexOf | None = None,
        index_column: str = "nb201_index",
    ) -> int:
        """Write median latencies as one row per model, one column per device; return the rows.

        The layout of the shipped literature tables (``nb201_index,arch,<device>...``): a cell
        is empty where that device has no measurement (not measured, or failed).

        Args:
            path: The CSV file to write.
            runtime: Whose measurements.
            precision: At which precision.
            batch_size: At which batch size.
            devices: Device columns in this order; default every device in the store, sorted.
            index: Maps a key to its index in the search space (first column, rows sorted by
                it); without it there is no index column and rows keep insertion order.
            index_column: Name of the index column.
        """
        rows = self.measurements(runtime=runtime, precision=precision, batch_size=batch_size)
        return store_csv.write_wide_csv(
            path, rows, devices=devices, index=index, index_column=index_column
        )

    def _select(
        self,
        device: str | None,
        runtime: str | None,
        precision: str | None,
        batch_size: int | None,
    ) -> Iterator[Measurement]:
        for row in self._select_rows(
            "measurements", COLUMNS, device, runtime, precision, batch_size
        ):
            yield self._from_row(row)

    def _select_rows(
        self,
        table: str,
        columns: tuple[str, ...],
        device: str | None,
        runtime: str | None,
        precision: str | None,
        batch_size: int | None,
    ) -> list[tuple[Any, ...]]:
        filters = {
            "device": device,
            "runtime": runtime,
            "precision": precision,
            "batch_size": batch_size,
        }
        where = [f"{column} = ?" for column, value in filters.items() if value is not None]
        params = [value for value in filters.values() if value is not None]
        query = f"SELECT {', '.join(columns)} FROM {table}"
        if where:
            query += " WHERE " + " AND ".join(where)
        return self._connection().execute(query + " ORDER BY rowid", params).fetchall()

    def _from_row(self, row: tuple[Any, ...]) -> Measurement:
        data = dict(zip(COLUMNS, row, strict=True))
        try:
            summary = {c: data.pop(c) for c in ROUND_SUMMARY_COLUMNS}
            if summary["rounds"] is not None:
                unstable = summary["unstable"]
                summary["unstable"] = None if unstable is None else bool(unstable)
                data["rounds"] = RoundsSummary(**summary)
            stats = LatencyStats(**{c: data.pop(c) for c in STATS_COLUMNS})
            data["fingerprint"] = json.loads(data["fingerprint"])
            data["runtime_info"] = json.loads(data["runtime_info"])
            return Measurement(latency=stats, **data)
        except (ValueError, TypeError) as exc:
            raise StoreError(
                f"{self.path}: the row for key {data['key']!r} on {data['device']!r} holds an "
                f"invalid value ({exc}); it was edited outside hwnas. Delete or fix that row"
            ) from exc

    def _round_from_row(self, row: tuple[Any, ...]) -> RoundRecord:
        data = dict(zip(ROUND_COLUMNS, row, strict=True))
        try:
            stats = LatencyStats(**{c: data.pop(c) for c in STATS_COLUMNS})
            for name in ("info", "fingerprint", "runtime_info"):
                data[name] = json.loads(data[name])
            return RoundRecord(latency=stats, **data)
        except (ValueError, TypeError) as exc:
            raise StoreError(
                f"{self.path}: round {data.get('round')} of key {data['key']!r} holds an invalid "
                f"value ({exc}); it was edited outside hwnas. Delete or fix that row"
            ) from exc

    def _failure_from_row(self, row: tuple[Any, ...]) -> MeasurementFailure:
        data = dict(zip(FAILURE_COLUMNS, row, strict=True))
        try:
            data["fingerprint"] = json.loads(data["fingerprint"])
            return MeasurementFailure(**data)
        except (ValueError, TypeError) as exc:
            raise StoreError(
                f"{self.path}: the failure row for key {data['key']!r} on {data['device']!r} "
                f"holds an invalid value ({exc}); it was edited outside hwnas. Delete or fix it"
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
