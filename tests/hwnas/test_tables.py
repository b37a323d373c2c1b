"""Loaders of the shipped measured tables, and their errors on corrupt files."""

import filecmp
from pathlib import Path

import numpy as np
import pytest

from hwnas.core.tables import (
    DataFileError,
    UnknownColumnError,
    load_accuracy_table,
    load_latency_table,
    read_wide_csv,
    reference_archs,
    reference_indices,
)

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared" / "data"
SHIPPED = REPO / "hwnas" / "data"


@pytest.mark.skipif(
    not SHARED.is_dir(), reason=f"no shared data folder beside the repository ({SHARED})"
)
@pytest.mark.parametrize(
    "name",
    [
        "nb201/latency_ms.csv",
        "nb201/accuracy.csv",
        "nb201/reference_archs.json",
        "fbnet/latency_ms.csv",
        "fbnet/reference_archs.json",
    ],
)
def test_shipped_copy_is_unchanged(name):
    assert filecmp.cmp(SHARED / name, SHIPPED / name, shallow=False)


def test_attribution_is_shipped():
    text = (SHIPPED / "README.md").read_text()
    assert "HayeonLee/HELP" in text and "NATS-Bench" in text
    assert "HayeonLee/HELP" in (SHIPPED / "nb201" / "README.md").read_text()


def test_nb201_latency_table():
    table = load_latency_table("nb201")
    assert len(table) == 15625 and table.values.shape == (15625, 13)
    assert "gold_6240" in table.columns and "pixel3" in table.columns
    by_arch = table.by_arch("gold_6240")
    first = "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|"
    assert by_arch[first] == pytest.approx(6.614499092102051)
    assert np.all(table.values > 0)


def test_accuracy_and_fbnet_tables():
    acc = load_accuracy_table()
    assert acc.columns == ("cifar10_test_acc", "cifar100_test_acc", "imagenet16_120_test_acc")
    assert 90 < acc.column("cifar10_test_acc").max() < 95
    fbnet = load_latency_table("fbnet")
    assert len(fbnet) == 5000 and len(fbnet.archs[0].split("-")) == 22


def test_reference_archs():
    assert reference_indices("nb201") == (11982, 431, 55, 9, 14451, 8636, 9881, 13479, 6196, 1462)
    assert len(reference_archs("fbnet")) == 10


def test_unknown_column_lists_the_known_ones():
    with pytest.raises(UnknownColumnError, match="no column 'jetson_nano'.*gold_6240"):
        load_latency_table("nb201").column("jetson_nano")


def test_unknown_space():
    with pytest.raises(DataFileError, match="unknown search space"):
        load_latency_table("darts")


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("", "is empty"),
        ("idx,arch,dev\n0,a,1.0\n", "expected 'nb201_index,arch,'"),
        ("nb201_index,arch,dev\n", "no data rows"),
        ("nb201_index,arch,dev\n0,a,1.0\n1,b\n", "line 3: 2 fields, expected 3"),
        ("nb201_index,arch,dev\n0,a,fast\n", "line 2"),
        ("nb201_index,arch,dev\n0,a,nan\n", "not finite"),
        ("nb201_index,arch,dev\n0,a,1\n1,a,2\n", "more than once"),
    ],
)
def test_corrupt_table_is_reported(tmp_path, content, fragment):
    path = tmp_path / "t.csv"
    path.write_text(content)
    with pytest.raises(DataFileError, match=fragment) as info:
        read_wide_csv(path, "nb201_index")
    assert str(path) in str(info.value)


def test_binary_garbage_and_missing_file(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes(b"\xff\xfe\x00garbage\x81")
    with pytest.raises(DataFileError, match="not a readable CSV"):
        read_wide_csv(path, "nb201_index")
    with pytest.raises(DataFileError, match="cannot read data file"):
        read_wide_csv(tmp_path / "missing.csv", "nb201_index")
