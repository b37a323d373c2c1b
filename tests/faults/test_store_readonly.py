"""Reading commands never write: a store opened to read is opened read-only (issue 21).

`hwnas generate --store` on an empty SQLite file wrote the hwnas schema into it. Each case
here compares the file's sha256 before and after, and a store copied without its `-wal`
file is named as such.
"""

from __future__ import annotations

import hashlib
import shutil
import sqlite3

import pytest

from hwnas.cli import main
from hwnas.core.tables import reference_archs
from profilers import LatencyStats, Measurement, MeasurementStore, StoreError
from tests.profilers.old_store_schemas import write_v2_store

GENERATE = ["generate", "--latency-budget-ms", "1", "--store"]


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _row(key, median_ms=1.0, device="ci-box"):
    stats = LatencyStats(
        median_ms=median_ms,
        p90_ms=median_ms * 1.1,
        p99_ms=median_ms * 1.2,
        mean_ms=median_ms * 1.05,
        cov=0.01,
        n=9,
        stop_reason="ok",
    )
    return Measurement(
        key=key,
        device=device,
        runtime="onnxruntime",
        precision="fp32",
        batch_size=1,
        latency=stats,
        energy_reason="no meter",
        fingerprint={},
        runtime_info={},
    )


def _empty_wal_database(path):
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode = WAL")  # writes the header, no table
    conn.close()
    return path


def _empty_database(path):
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 0")
    conn.execute("VACUUM")  # a 1-page database file without tables
    conn.close()
    return path


def _foreign_database(path):
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE photos (id INTEGER, name TEXT)")
        conn.execute("INSERT INTO photos VALUES (1, 'cat')")
    conn.close()
    return path


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (_empty_database, "without the hwnas tables"),
        (_empty_wal_database, "copied without its -wal file"),
        (_foreign_database, "of something else"),
    ],
)
def test_generate_store_leaves_a_file_that_is_not_a_store_unchanged(
    tmp_path, capsys, make, expected
):
    path = make(tmp_path / "other.sqlite")
    before, files = _sha(path), {p.name for p in tmp_path.iterdir()}
    assert main([*GENERATE, str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert str(path) in err and expected in err, err
    assert _sha(path) == before
    with sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True) as conn:
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master")}
    conn.close()
    assert "measurements" not in tables and "hwnas_meta" not in tables
    made = {p.name for p in tmp_path.iterdir()} - set(files)
    assert made <= {path.name + "-wal", path.name + "-shm"}  # SQLite's own, for a WAL file
    assert all((tmp_path / name).stat().st_size == 0 for name in made if name.endswith("-wal"))


def test_a_store_copied_without_its_wal_file_is_named_as_such(tmp_path):
    """The writer still holds its rows (and tables) in the WAL when the main file is copied."""
    original, copy = tmp_path / "store.sqlite", tmp_path / "copy" / "store.sqlite"
    copy.parent.mkdir()
    with MeasurementStore(original) as store:
        store.add(_row("a"))
        shutil.copyfile(original, copy)  # the -wal and -shm files are left behind
    before = _sha(copy)
    for create in (False, True):
        with pytest.raises(StoreError) as info:
            MeasurementStore(copy, create=create)
        message = str(info.value)
        assert "copied without its -wal file" in message and "store.sqlite-wal" in message
        assert "wal_checkpoint" in message and "\n" not in message
        assert _sha(copy) == before
    with MeasurementStore(original, create=False) as store:  # closed cleanly: nothing lost
        assert [m.key for m in store.measurements()] == ["a"]


def test_an_old_schema_is_read_without_migrating_the_file(tmp_path):
    path = tmp_path / "v2.sqlite"
    write_v2_store(path)
    before = _sha(path)
    with MeasurementStore(path, create=False) as store:
        assert [m.key for m in store.measurements()] == ["a"]
        assert store.rounds() == []
    assert _sha(path) == before
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 2
    conn.close()


def test_a_reader_cannot_write(tmp_path):
    path = tmp_path / "s.sqlite"
    with MeasurementStore(path) as store:
        store.add(_row("a"))
    before = _sha(path)
    with MeasurementStore(path, create=False) as store, pytest.raises(StoreError):
        store.add(_row("b"))
    assert _sha(path) == before


def test_generate_reads_a_store_and_leaves_it_unchanged(tmp_path, capsys):
    path = tmp_path / "s.sqlite"
    with MeasurementStore(path) as store:
        for i, arch in enumerate(reference_archs("nb201")):
            store.add(_row(str(arch), 0.3 + 0.05 * i))
    before = _sha(path)
    assert main([*GENERATE, str(path)]) == 0, capsys.readouterr()
    assert _sha(path) == before
