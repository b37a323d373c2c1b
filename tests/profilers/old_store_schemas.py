"""The SQL that hwnas wrote before schema 3 (rounds), copied verbatim, to test migrations."""

V2_SCHEMA = """
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
    PRIMARY KEY (key, device, runtime, precision, batch_size)
);
CREATE INDEX measurements_device_runtime ON measurements (device, runtime);
INSERT INTO hwnas_meta (name, value) VALUES ('magic', 'hwnas-measurement-store');
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
    PRIMARY KEY (key, device, runtime, precision, batch_size)
);
PRAGMA user_version = 2;
"""

V2_ROW = (
    "INSERT INTO measurements VALUES ('a', 'rpi5', 'onnxruntime', 'fp32', 1, 1.0, 1.1, 1.2, 1.05, "
    "0.01, 50, 'converged', NULL, NULL, NULL, 'no energy meter on this device', '{}', '{}', "
    "'2026-01-01T00:00:00+00:00')"
)


def write_v2_store(path, *, v1: bool = False) -> None:
    """Write a store as hwnas with schema 2 (or 1: no failures table) did, with one row 'a'."""
    import sqlite3

    with sqlite3.connect(path) as conn:
        conn.executescript(V2_SCHEMA)
        conn.execute(V2_ROW)
        if v1:
            conn.execute("DROP TABLE failures")
            conn.execute("PRAGMA user_version = 1")
    conn.close()
