"""A table of bad inputs across the subcommands: each ends in one line on stderr naming what is
wrong, exit code 2, no traceback, and no input file changed (issue 21)."""

from __future__ import annotations

import hashlib
import sqlite3

import pytest

from hwnas.cli import main
from hwnas.core.tables import reference_archs

ARCH = "|nor_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|skip_connect~0|none~1|avg_pool_3x3~2|"


@pytest.fixture
def files(tmp_path):
    """Input files of the table, made fresh per test: name -> path."""
    refs = reference_archs("nb201")
    good = "arch,latency_ms\n" + "".join(f"{a},{0.3 + 0.05 * i}\n" for i, a in enumerate(refs))
    made = {
        "latencies": good,
        "huge": good.replace(f"{refs[3]},{0.3 + 0.05 * 3}", f"{refs[3]},1e300"),
        "tiny": good.replace(f"{refs[3]},{0.3 + 0.05 * 3}", f"{refs[3]},1e-300"),
        "nan": good.replace(f"{refs[3]},{0.3 + 0.05 * 3}", f"{refs[3]},nan"),
        "noheader": "\n".join(refs) + "\n",
        "twice": good + f"{refs[0]},0.5\n",
        "badarch": good + "|conv_9x9~0|+|none~0|none~1|+|none~0|none~1|none~2|,0.4\n",
    }
    paths = {}
    for name, text in made.items():
        paths[name] = tmp_path / f"{name}.csv"
        paths[name].write_text(text)
    binary = tmp_path / "binary.csv"
    binary.write_bytes(bytes(range(256)) * 8)
    paths["binary"] = binary
    sqlite_files = (
        ("emptydb", "VACUUM"),
        ("foreigndb", "CREATE TABLE photos (id INTEGER)"),
        ("walcopy", "PRAGMA journal_mode = WAL"),  # a store's main file copied without -wal
    )
    for name, sql in sqlite_files:
        paths[name] = tmp_path / f"{name}.sqlite"
        conn = sqlite3.connect(paths[name])
        conn.execute(sql)  # a real SQLite file: without tables, or of another program
        conn.commit()
        conn.close()
    return paths


CASES = [
    # (argv with {file} placeholders, text the one-line error must hold)
    (["generate", "--device-latencies", "{huge}", "--latency-budget-ms", "1"], "physical range"),
    (["generate", "--device-latencies", "{tiny}", "--latency-budget-ms", "1"], "physical range"),
    (["generate", "--device-latencies", "{nan}", "--latency-budget-ms", "1"], "finite positive"),
    (["generate", "--device-latencies", "{noheader}", "--latency-budget-ms", "1"], "header"),
    (["generate", "--device-latencies", "{twice}", "--latency-budget-ms", "1"], "second time"),
    (["generate", "--device-latencies", "{badarch}", "--latency-budget-ms", "1"], "line 12"),
    (["generate", "--device-latencies", "{binary}", "--latency-budget-ms", "1"], "binary.csv"),
    (["modnas", "generate", "--device-latencies", "{huge}"], "physical range"),
    (["modnas", "generate", "--device-latencies", "{latencies}", "--n", "100000000"], "at most"),
    (
        ["modnas", "generate", "--device-latencies", "{latencies}", "--model", "{latencies}"],
        "not a MODNAS model directory",
    ),  # fmt: skip
    (["predictor", "predict", "--model", "{latencies}", "--archs", "{latencies}"], "predictor"),
    (["export", "--arch", "|nor_conv_3x3~0|+|", "--out", "{out}"], "|nor_conv_3x3~0|+|"),
    (
        ["darts", "search", "--max-images", "5", "--batch-size", "64", "--out", "{out}"],
        "no step would run",
    ),
    (
        ["profile", "--device", "no-such-board", "--samples", "0", "--out", "{out}"],
        "unknown device 'no-such-board'",
    ),  # fmt: skip
    (["profile", "--samples", "99999999999", "--out", "{out}"], "at most 15615"),
    (["profile", "--space", "fbnet", "--samples", "5000", "--out", "{out}"], "at most 4990"),
    (["predictor", "evaluate", "--ks", "99999", "--methods", "ridge"], "at most 15623"),
    (["generate", "--store", "{emptydb}", "--latency-budget-ms", "1"], "without the hwnas tables"),
    (["generate", "--store", "{foreigndb}", "--latency-budget-ms", "1"], "something else"),
    (["generate", "--store", "{walcopy}", "--latency-budget-ms", "1"], "without its -wal file"),
]


def _fill(argv, files, tmp_path):
    names = {**{k: str(v) for k, v in files.items()}, "out": str(tmp_path / "out")}
    return [a.format(**names) if a.startswith("{") else a for a in argv]


def _digests(files):
    return {name: hashlib.sha256(path.read_bytes()).hexdigest() for name, path in files.items()}


@pytest.mark.parametrize(
    "argv, expected", CASES, ids=lambda c: " ".join(c[:3]) if isinstance(c, list) else None
)
def test_bad_input_is_one_clear_line_and_changes_nothing(tmp_path, capsys, files, argv, expected):
    before = _digests(files)
    code = main(_fill(argv, files, tmp_path))
    out, err = capsys.readouterr()
    assert code == 2, (out, err)
    assert "Traceback" not in err and err.count("\n") == 1, err
    assert err.startswith(f"hwnas {argv[0]}: error: ") and expected in err, err
    assert _digests(files) == before
