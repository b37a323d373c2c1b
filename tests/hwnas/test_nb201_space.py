"""The NAS-Bench-201 architecture value: string, index, encoding, sampling, mutation."""

import csv
from pathlib import Path

import numpy as np
import pytest

from hwnas.core.spaces import (
    ArchIndexError,
    ArchStringError,
    NB201Arch,
    UnknownSpaceError,
    create_space,
    list_spaces,
)
from hwnas.core.spaces.nb201 import (
    FEATURES,
    NUM_ARCHS,
    OPS,
    all_codes,
    encode,
    encode_codes,
    one_hot,
)

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"


def test_parse_and_format_round_trip():
    arch = NB201Arch.from_string(EXAMPLE)
    assert arch.ops == (
        "nor_conv_3x3",
        "nor_conv_3x3",
        "avg_pool_3x3",
        "skip_connect",
        "nor_conv_3x3",
        "skip_connect",
    )
    assert str(arch) == EXAMPLE
    assert NB201Arch.from_string(f"  {EXAMPLE}\n") == arch


def test_every_index_round_trips():
    seen = set()
    for index in range(NUM_ARCHS):
        arch = NB201Arch.from_index(index)
        assert arch.index == index
        text = str(arch)
        assert NB201Arch.from_string(text) == arch
        seen.add(text)
    assert len(seen) == NUM_ARCHS


def test_index_agrees_with_the_latency_table():
    # The index is built from accuracy.csv (NATS-Bench); latency_ms.csv (HELP) is independent.
    name = "latency_ms.csv"
    path = REPO.parent / "shared" / "data" / "nb201" / name
    if not path.exists():  # the shipped copy is the same file
        path = REPO / "hwnas" / "data" / "nb201" / name
    with path.open() as handle:
        for row in csv.DictReader(handle):
            arch = NB201Arch.from_index(int(row["nb201_index"]))
            assert str(arch) == row["arch"]
            assert NB201Arch.from_string(row["arch"]).index == int(row["nb201_index"])


def test_code_is_a_bijection():
    codes = [NB201Arch.from_code(c).code for c in range(0, NUM_ARCHS, 7)]
    assert codes == list(range(0, NUM_ARCHS, 7))
    assert sorted(all_codes().tolist()) == list(range(NUM_ARCHS))


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "empty"),
        ("|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|", "found 2 node group(s)"),
        ("nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|", "node 1"),
        (
            "|nor_conv_3x3~0|+|none~0|+|none~0|none~1|none~2|",
            "node 2 ('|none~0|') has 1 edge(s), expected 2",
        ),
        ("|conv_5x5~0|+|none~0|none~1|+|none~0|none~1|none~2|", "unknown operation 'conv_5x5'"),
        ("|nor_conv3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|", "did you mean 'nor_conv_3x3'"),
        ("|none~0|+|none~0|none~2|+|none~0|none~1|none~2|", "must read from node 1 (write none~1)"),
        ("|none0|+|none~0|none~1|+|none~0|none~1|none~2|", "has no '~'"),
        ("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|+|none~0|", "found 4 node group(s)"),
    ],
)
def test_malformed_string_names_the_part(text, fragment):
    with pytest.raises(ArchStringError) as info:
        NB201Arch.from_string(text)
    message = str(info.value)
    assert fragment in message
    assert "|op~0|+|op~0|op~1|+|op~0|op~1|op~2|" in message  # what was expected


def test_non_string_and_bad_ops_rejected():
    with pytest.raises(ArchStringError):
        NB201Arch.from_string(42)
    with pytest.raises(ArchStringError, match="6 edges"):
        NB201Arch(("none",) * 5)
    with pytest.raises(ArchStringError, match="unknown operation"):
        NB201Arch(("none",) * 5 + ("conv",))


@pytest.mark.parametrize("bad", [-1, NUM_ARCHS, 1.5, True, "3"])
def test_bad_index(bad):
    with pytest.raises(ArchIndexError):
        NB201Arch.from_index(bad)


def test_value_semantics():
    a = NB201Arch.from_string(EXAMPLE)
    b = NB201Arch.from_string(EXAMPLE)
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    with pytest.raises(AttributeError):
        a.ops = ("none",) * 6
    assert sorted([NB201Arch.from_code(5), NB201Arch.from_code(2)])[0].code == 2


def test_encoding_counts_and_one_hot():
    arch = NB201Arch.from_string(EXAMPLE)
    features = encode([arch])
    assert features.shape == (1, len(FEATURES)) == (1, 10) and features.dtype == np.float32
    # EXAMPLE: 3x 3x3 conv, 1 pool, 2 skips; every edge feeds the output.
    counts = dict(zip(OPS, features[0, :5]))
    assert counts == {
        "none": 0,
        "skip_connect": 2,
        "nor_conv_1x1": 0,
        "nor_conv_3x3": 3,
        "avg_pool_3x3": 1,
    }
    np.testing.assert_array_equal(features[0, 5:], features[0, :5])
    edges = one_hot([arch])
    assert edges.shape == (1, 30)
    for edge, op in enumerate(arch.ops):
        block = edges[0, edge * len(OPS) : (edge + 1) * len(OPS)]
        assert block.sum() == 1.0 and block[OPS.index(op)] == 1.0
    codes = np.arange(0, NUM_ARCHS, 97)
    np.testing.assert_array_equal(
        encode_codes(codes), encode([NB201Arch.from_code(int(c)) for c in codes])
    )


def test_live_counts_leave_out_dead_edges():
    # Node 3 only reads the input (skip); nodes 1 and 2 compute a 3x3 and a 1x1 conv for nothing.
    dead = NB201Arch.from_string(
        "|nor_conv_3x3~0|+|none~0|nor_conv_1x1~1|+|skip_connect~0|none~1|none~2|"
    )
    features = encode([dead])[0]
    assert features[:5].tolist() == [3, 1, 1, 1, 0]
    assert features[5:].tolist() == [2, 1, 0, 0, 0]  # the two none edges into node 3, the skip


def test_sampling_is_seeded_and_covers_ops():
    space = create_space("nb201")
    first = [space.sample(np.random.default_rng(3)) for _ in range(3)]
    again = [space.sample(np.random.default_rng(3)) for _ in range(3)]
    assert first == again
    rng = np.random.default_rng(0)
    ops = {op for _ in range(200) for op in space.sample(rng).ops}
    assert ops == set(OPS)


def test_mutation_changes_exactly_one_edge():
    rng = np.random.default_rng(1)
    arch = NB201Arch.from_string(EXAMPLE)
    for _ in range(50):
        child = arch.mutate(rng)
        assert sum(a != b for a, b in zip(arch.ops, child.ops)) == 1
        arch = child


def test_registry():
    assert "nb201" in list_spaces()
    space = create_space("nb201")
    assert space.input_shape == (3, 32, 32)
    refs = space.reference_archs()
    assert [a.index for a in refs] == [11982, 431, 55, 9, 14451, 8636, 9881, 13479, 6196, 1462]
    with pytest.raises(UnknownSpaceError, match="registered spaces: .*nb201"):
        create_space("nb999")
