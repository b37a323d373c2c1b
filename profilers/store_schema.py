"""The SQL of the measurement store: tables, schema version, migrations, upserts.

Schema versions: 1, measurements; 2, adds the ``failures`` table; 3, adds the ``rounds`` table
(one row per timed round of a cell, with its disturbance probe and host state) and the
round summary columns of ``measurements`` (empty in rows written before rounds existed); 4,
adds the ``kernels`` table (one row per network: the kernels the runtime ran for it and their
times, ``profilers.kernels.NetworkKernels`` as JSON). ``MIGRATIONS[v]`` takes a store from
version ``v`` to ``v + 1``.
"""

from __future__ import annotations

MAGIC = "hwnas-measurement-store"
SCHEMA_VERSION = 4

SQLITE_HEADER = b"SQLite format 3\x00"
KEY_COLUMNS = ("key", "device", "runtime", "precision", "batch_size")
STATS_COLUMNS = ("median_ms", "p90_ms", "p99_ms", "mean_ms", "cov", "n", "stop_reason")
ENERGY_COLUMNS = ("energy_mj", "energy_net_mj", "power_w", "energy_reason")
INFO_COLUMNS = ("fingerprint", "runtime_info", "created_at")
ROUND_SUMMARY_COLUMNS = (
    "rounds", "rounds_kept", "disturbed_rounds", "retimed_rounds",
    "ci_low_ms", "ci_high_ms", "ci_confidence", "round_spread", "unstable",
)  # fmt: skip
COLUMNS = KEY_COLUMNS + STATS_COLUMNS + ENERGY_COLUMNS + INFO_COLUMNS + ROUND_SUMMARY_COLUMNS
ROUND_COLUMNS = (
    KEY_COLUMNS
    + ("round",)
    + STATS_COLUMNS
    + ("probe_ratio", "disturbed", "info", "fingerprint", "runtime_info", "created_at")
)
KERNEL_COLUMNS = KEY_COLUMNS + ("profile", "fingerprint", "runtime_info", "created_at")
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

ROUNDS_TABLE = f"""
CREATE TABLE rounds (
    key TEXT NOT NULL,
    device TEXT NOT NULL,
    runtime TEXT NOT NULL,
    precision TEXT NOT NULL,
    batch_size INTEGER NOT NULL,
    round INTEGER NOT NULL,
    median_ms REAL NOT NULL,
    p90_ms REAL NOT NULL,
    p99_ms REAL NOT NULL,
    mean_ms REAL NOT NULL,
    cov REAL NOT NULL,
    n INTEGER NOT NULL,
    stop_reason TEXT NOT NULL,
    probe_ratio REAL,
    disturbed INTEGER NOT NULL,
    info TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    runtime_info TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY ({", ".join(KEY_COLUMNS)}, round)
)
"""

KERNELS_TABLE = f"""
CREATE TABLE kernels (
    key TEXT NOT NULL,
    device TEXT NOT NULL,
    runtime TEXT NOT NULL,
    precision TEXT NOT NULL,
    batch_size INTEGER NOT NULL,
    profile TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    runtime_info TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY ({", ".join(KEY_COLUMNS)})
)
"""

_SUMMARY_TYPES = {
    "rounds": "INTEGER", "rounds_kept": "INTEGER", "disturbed_rounds": "INTEGER",
    "retimed_rounds": "INTEGER", "ci_low_ms": "REAL", "ci_high_ms": "REAL",
    "ci_confidence": "REAL", "round_spread": "REAL", "unstable": "INTEGER",
}  # fmt: skip
_ADD_SUMMARY = ";".join(
    f"ALTER TABLE measurements ADD COLUMN {name} {_SUMMARY_TYPES[name]}"
    for name in ROUND_SUMMARY_COLUMNS
)

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
{_ADD_SUMMARY};
CREATE INDEX measurements_device_runtime ON measurements (device, runtime);
INSERT INTO hwnas_meta (name, value) VALUES ('magic', '{MAGIC}');
{FAILURES_TABLE};
{ROUNDS_TABLE};
{KERNELS_TABLE};
PRAGMA user_version = {SCHEMA_VERSION};
"""

MIGRATIONS = {
    1: f"{FAILURES_TABLE}; PRAGMA user_version = 2;",
    2: f"{_ADD_SUMMARY}; {ROUNDS_TABLE}; PRAGMA user_version = 3;",
    3: f"{KERNELS_TABLE}; PRAGMA user_version = 4;",
}
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

UPSERT_ROUND = (
    f"INSERT INTO rounds ({', '.join(ROUND_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in ROUND_COLUMNS)}) "
    f"ON CONFLICT ({', '.join(KEY_COLUMNS)}, round) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in ROUND_COLUMNS if c not in KEY_COLUMNS + ("round",))
)

UPSERT_KERNELS = (
    f"INSERT INTO kernels ({', '.join(KERNEL_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in KERNEL_COLUMNS)}) "
    f"ON CONFLICT ({', '.join(KEY_COLUMNS)}) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in KERNEL_COLUMNS if c not in KEY_COLUMNS)
)
