"""The SQL of the measurement store: tables, schema version, migrations, upserts.

Schema versions: 1, measurements; 2, adds the ``failures`` table. ``MIGRATIONS[v]`` takes a
store from version ``v`` to ``v + 1``.
"""

from __future__ import annotations

MAGIC = "hwnas-measurement-store"
SCHEMA_VERSION = 2

SQLITE_HEADER = b"SQLite format 3\x00"
KEY_COLUMNS = ("key", "device", "runtime", "precision", "batch_size")
STATS_COLUMNS = ("median_ms", "p90_ms", "p99_ms", "mean_ms", "cov", "n", "stop_reason")
ENERGY_COLUMNS = ("energy_mj", "energy_net_mj", "power_w", "energy_reason")
INFO_COLUMNS = ("fingerprint", "runtime_info", "created_at")
COLUMNS = KEY_COLUMNS + STATS_COLUMNS + ENERGY_COLUMNS + INFO_COLUMNS
FAILURE_COLUMNS = KEY_COLUMNS + ("stage", "error_type", "error", "fingerprint", "created_at")
KEY_WHERE = " AND ".join(f"{c} = ?" for c in KEY_COLUMNS)

FAILURES_TABLE = f"""
CREATE TABLE failures (
    key TEXT NOT NULL,
    device TEXT NOT NULL,
    runtime TEXT NOT NULL,
    precision TEXT NOT NULL,
    batch_size INTEGER NOT NULL,
    stage TEXT NOT NULL,
    error_type TEXT NOT NULL,
    error TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY ({", ".join(KEY_COLUMNS)})
)
"""

SCHEMA = f"""
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
    PRIMARY KEY ({", ".join(KEY_COLUMNS)})
);
CREATE INDEX measurements_device_runtime ON measurements (device, runtime);
INSERT INTO hwnas_meta (name, value) VALUES ('magic', '{MAGIC}');
{FAILURES_TABLE};
PRAGMA user_version = {SCHEMA_VERSION};
"""

MIGRATIONS = {1: f"{FAILURES_TABLE}; PRAGMA user_version = 2;"}
"""SQL taking a store from the key's schema version to the next one."""

UPSERT_FAILURE = (
    f"INSERT INTO failures ({', '.join(FAILURE_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in FAILURE_COLUMNS)}) "
    f"ON CONFLICT ({', '.join(KEY_COLUMNS)}) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in FAILURE_COLUMNS if c not in KEY_COLUMNS)
)

UPSERT = (
    f"INSERT INTO measurements ({', '.join(COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in COLUMNS)}) "
    f"ON CONFLICT ({', '.join(KEY_COLUMNS)}) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in COLUMNS if c not in KEY_COLUMNS)
)
