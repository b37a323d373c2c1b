"""The FBNet architecture value: string, codes, errors, sampling, mutation, encodings, space."""

import csv
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from hwnas.core.spaces import (
    ArchIndexError,
    ArchStringError,
    FBNetArch,
    FBNetSpace,
    create_space,
    list_spaces,
    parse_fbnet_arch,
)
from hwnas.core.spaces.fbnet import (
    FEATURES,
    NUM_ARCHS,
    ONE_HOT_FEATURES,
    OPS,
    SUMMARY_FEATURES,
    encode,
    encode_indices,
    one_hot,
    op_index_matrix,
)
from hwnas.core.tables import load_latency_table

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "hwnas" / "data" / "fbnet"
FBNET_C = "k3_e1-k3_e6-k3_e1-k3_e1-skip-k5_e6-k5_e3-k5_e6-k3_e6-k5_e6-k5_e3-k5_e6-k5_e6-k5_e6-k5_e6-k5_e6-k5_e3-k5_e6-k5_e6-k5_e6-k5_e6-k3_e6"


def _table_rows():
    with (DATA / "latency_ms.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_choices_are_hw_nas_bench_primitives_in_order():
    # HW-NAS-Bench's PRIMITIVES; its op_idx_list values index this order.
    assert OPS == (
        "k3_e1", "k3_e1_g2", "k3_e3", "k3_e6", "k5_e1", "k5_e1_g2", "k5_e3", "k5_e6", "skip"
    )  # fmt: skip
    assert NUM_ARCHS == 9**22


def test_every_table_string_round_trips_and_the_table_uses_every_choice():
    rows = _table_rows()
    assert len(rows) == 5000
    seen, used = set(), Counter()
    for row in rows:
        arch = FBNetArch.from_string(row["arch"])
        assert str(arch) == row["arch"]
        assert FBNetArch.from_indices(arch.op_indices) == arch
        seen.add(arch)
        used.update(arch.ops)
    assert len(seen) == 5000
    assert set(used) == set(OPS)


def test_space_reads_the_shipped_tables():
    space = create_space("fbnet")
    table = load_latency_table("fbnet")
    assert len(table.columns) == 13
    archs = space.table_archs()
    assert [str(a) for a in archs] == list(table.archs)
    assert np.array_equal(table.indices, np.arange(5000))  # fbnet_index is the row number
    references = space.reference_archs()
    indices = json.loads((DATA / "reference_archs.json").read_text())
    assert [str(a) for a in references] == [table.archs[i] for i in indices]
    assert [space.table_index(a) for a in references] == indices
    assert space.table_index(FBNetArch(("skip",) * 22)) is None


def test_code_round_trips_beyond_int64():
    assert FBNetArch.from_code(0).ops == ("k3_e1",) * 22
    top = FBNetArch.from_code(NUM_ARCHS - 1)
    assert top.ops == ("skip",) * 22 and top.code == NUM_ARCHS - 1 > np.iinfo(np.int64).max
    arch = FBNetArch.from_string(FBNET_C)
    assert FBNetArch.from_code(arch.code) == arch
    # layer 0 is the least significant base-9 digit
    assert FBNetArch.from_indices([1] + [0] * 21).code == 1
    assert FBNetArch.from_indices([0, 1] + [0] * 20).code == 9


def test_value_semantics():
    a = parse_fbnet_arch(FBNET_C)
    b = FBNetArch.from_string(f"  {FBNET_C}\n")
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    assert FBNetArch.from_code(3) < FBNetArch.from_code(4)
    with pytest.raises(AttributeError):
        a.ops = ("skip",) * 22
    assert "op_indices" not in repr(a)


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ("", ["the string is empty"]),
        ("   ", ["the string is empty"]),
        ("-".join(["k3_e1"] * 21), ["found 21 layer choice(s), expected 22"]),
        ("-".join(["k3_e1"] * 23), ["found 23 layer choice(s), expected 22"]),
        (",".join(["k3_e1"] * 22), ["found 1 layer choice(s)", "joined by '-', not ','"]),
        ("-".join(["k3_e1"] * 2 + ["k7_e6"] + ["k3_e1"] * 19), ["layer 3 of 22", "'k7_e6'"]),
        ("-".join(["k3e6"] + ["skip"] * 21), ["layer 1 of 22", "did you mean 'k3_e6'"]),
        ("-".join(["skip"] * 21 + ["identity"]), ["layer 22 of 22", "did you mean 'skip'"]),
        ("-".join(["skip"] * 4 + ["K5_E1_G2"] + ["skip"] * 17), ["layer 5 of 22", "'k5_e1_g2'"]),
        ("-".join(["skip"] * 9 + [""] + ["skip"] * 12), ["layer 10 of 22 is empty"]),
    ],
)
def test_malformed_strings_say_what_is_wrong(text, fragments):
    with pytest.raises(ArchStringError) as info:
        FBNetArch.from_string(text)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message
    assert "k3_e1_g2" in message  # the error lists the choices


def test_bad_values_and_indices():
    with pytest.raises(ArchStringError, match="expected an architecture string"):
        FBNetArch.from_string(None)
    with pytest.raises(ArchStringError, match="22 layers, got 3"):
        FBNetArch(("skip",) * 3)
    with pytest.raises(ArchStringError, match="unknown layer choice"):
        FBNetArch(("skip",) * 21 + ("conv",))
    for bad in ([9] + [0] * 21, [-1] + [0] * 21, [0.5] + [0] * 21, [0] * 21):
        with pytest.raises(ArchIndexError):
            FBNetArch.from_indices(bad)
    for bad in (-1, NUM_ARCHS, "3", True):
        with pytest.raises(ArchIndexError):
            FBNetArch.from_code(bad)


def test_sampling_is_seeded_and_uniform_per_layer():
    space = create_space("fbnet")
    first = [space.sample(np.random.default_rng(7)) for _ in range(3)]
    assert len(set(first)) == 1  # same seed, same network
    rng_a, rng_b = np.random.default_rng(11), np.random.default_rng(11)
    run_a = [space.sample(rng_a) for _ in range(50)]
    assert run_a == [space.sample(rng_b) for _ in range(50)]
    assert len(set(run_a)) == 50
    many = [space.sample(rng_a) for _ in range(900)]
    counts = np.bincount(op_index_matrix(many).ravel(), minlength=9)
    expected = 900 * 22 / 9
    assert np.all(np.abs(counts - expected) < 0.1 * expected), counts


def test_mutation_changes_exactly_one_layer():
    space = create_space("fbnet")
    rng = np.random.default_rng(3)
    arch = FBNetArch.from_string(FBNET_C)
    for _ in range(200):
        child = space.mutate(arch, rng)
        differs = [a != b for a, b in zip(arch.ops, child.ops)]
        assert sum(differs) == 1
    assert str(arch) == FBNET_C
    children = [space.mutate(arch, np.random.default_rng(5)) for _ in range(2)]
    assert children[0] == children[1]


def test_encode_values_by_hand():
    ops = ["skip", "k5_e1_g2", "k3_e6", "k5_e3"] + ["k3_e1"] * 18
    arch = FBNetArch(tuple(ops))
    features = encode([arch])
    assert features.shape == (1, 88) and features.dtype == np.float32
    layers = features.reshape(22, 4)  # skip, kernel5, expansion / 6, grouped
    np.testing.assert_allclose(layers[0], [1, 0, 0, 0])
    np.testing.assert_allclose(layers[1], [0, 1, 1 / 6, 1])
    np.testing.assert_allclose(layers[2], [0, 0, 1, 0])
    np.testing.assert_allclose(layers[3], [0, 1, 0.5, 0])
    np.testing.assert_allclose(layers[4], [0, 0, 1 / 6, 0])
    assert len(FEATURES) == 88 and FEATURES[5] == "layer1:kernel5"


def test_one_hot_and_its_relation_to_encode():
    archs = create_space("fbnet").table_archs()[:300]
    hot = one_hot(archs)
    assert hot.shape == (300, 198) and hot.dtype == np.float32
    assert np.all(hot.sum(axis=1) == 22)
    indices = op_index_matrix(archs)
    assert np.array_equal(hot.reshape(300, 22, 9).argmax(axis=2), indices)
    assert ONE_HOT_FEATURES[9 + 8] == "layer1:skip"
    # the compact features are a fixed linear map of the one-hot ones
    per_choice = encode_indices(np.arange(9)[:, None].repeat(22, axis=1))[:, :4]
    np.testing.assert_allclose(
        encode(archs).reshape(300, 22, 4), hot.reshape(300, 22, 9) @ per_choice
    )
    assert encode([]).shape == (0, 88) and one_hot([]).shape == (0, 198)


def test_encode_refuses_strings():
    with pytest.raises(TypeError, match="FBNetArch.from_string"):
        encode([FBNET_C])


def test_registry_and_settings():
    assert "fbnet" in list_spaces()
    space = create_space("fbnet")
    assert isinstance(space, FBNetSpace) and space.name == "fbnet"
    assert space.input_shape == (3, 32, 32)
    assert create_space("fbnet", macro="imagenet").input_shape == (3, 224, 224)
    assert create_space("fbnet", macro="imagenet", input_size=64).input_shape == (3, 64, 64)
    with pytest.raises(ValueError, match="unknown FBNet setting 'cifar10'"):
        create_space("fbnet", macro="cifar10")
    with pytest.raises(ValueError, match="input_size"):
        create_space("fbnet", input_size=0)


def test_summary_features():
    space = create_space("fbnet")
    archs = [FBNetArch.from_string(FBNET_C), FBNetArch(("skip",) * 22)]
    summary = space.summary(archs)
    assert summary.shape == (2, 3) and summary.dtype == np.float32
    assert SUMMARY_FEATURES == ("macs_m", "params_m", "skips")
    params, macs = space.costs(archs)
    np.testing.assert_allclose(summary[:, 0], macs / 1e6, rtol=1e-6)
    np.testing.assert_allclose(summary[:, 1], params / 1e6, rtol=1e-6)
    assert summary[:, 2].tolist() == [1, 22]
    # the imagenet setting has more MACs for the same network, and the same skips
    imagenet = create_space("fbnet", macro="imagenet").summary(archs)
    assert np.all(imagenet[:, 0] > summary[:, 0]) and imagenet[:, 2].tolist() == [1, 22]
