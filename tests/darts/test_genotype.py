"""Cell spaces, genotype values (string, JSON, space check) and DARTS's derivation."""

import json

import numpy as np
import pytest

from hwnas.core.spaces import UnknownSpaceError
from hwnas.core.spaces.darts import CELL_SPACES, EDGES, cell_space
from hwnas.core.spaces.darts_genotype import (
    ArchitectureDivergedError,
    Genotype,
    GenotypeError,
    derive_cell,
    derive_genotype,
    load_genotype,
)
from hwnas.core.spaces.darts_ops import PRIMITIVES

NORMAL = (
    ("sep_conv_3x3", 0), ("sep_conv_3x3", 1), ("skip_connect", 0), ("sep_conv_5x5", 2),
    ("dil_conv_3x3", 1), ("max_pool_3x3", 3), ("avg_pool_3x3", 0), ("dil_conv_5x5", 4),
)  # fmt: skip
REDUCE = tuple((op, src) for (_, src), op in zip(NORMAL, ("max_pool_3x3",) * 8))


def test_spaces_have_14_edges_and_the_published_candidates():
    assert len(EDGES) == 14
    assert cell_space("darts").normal[0] == PRIMITIVES
    assert set(cell_space("s2").normal[5]) == {"skip_connect", "sep_conv_3x3"}
    assert set(cell_space("s3").reduce[13]) == {"none", "skip_connect", "sep_conv_3x3"}
    assert set(cell_space("s4").normal[0]) == {"noise", "sep_conv_3x3"}
    s1 = cell_space("s1")
    assert s1.num_ops == 2 and len(set(s1.normal)) > 1  # different pairs on different edges
    assert s1.normal[5] == ("max_pool_3x3", "skip_connect")  # RobustDARTS src/spaces.py
    with pytest.raises(UnknownSpaceError, match="known: darts, s1"):
        cell_space("s9")


def test_genotype_string_and_json_round_trip(tmp_path):
    genotype = Genotype("darts", NORMAL, REDUCE)
    assert Genotype.from_string(str(genotype)) == genotype
    path = genotype.save(tmp_path / "g.json")
    assert load_genotype(path, space="darts") == genotype
    assert json.loads(path.read_text())["space"] == "darts"
    assert hash(genotype) == hash(Genotype.from_string(str(genotype)))


def test_genotype_of_another_space_is_a_clear_error(tmp_path):
    s2 = Genotype(
        "s2",
        tuple(("sep_conv_3x3", s) for _, s in NORMAL),
        tuple(("skip_connect", s) for _, s in NORMAL),
    )
    path = s2.save(tmp_path / "s2.json")
    with pytest.raises(GenotypeError, match="space 's2', expected 'darts'"):
        load_genotype(path, space="darts")
    with pytest.raises(GenotypeError, match="not an operation of space 's2'"):
        Genotype("s2", NORMAL, REDUCE)  # sep_conv_5x5 is not in S2


@pytest.mark.parametrize(
    ("normal", "match"),
    [
        (NORMAL[:6], "6 genes"),
        ((("sep_conv_3x3", 2),) + NORMAL[1:], "reads from nodes 0..1"),
        ((("none", 0),) + NORMAL[1:], "not an operation"),
        ((("sep_conv_3x3", 1),) + NORMAL[1:], "twice from the same input"),
    ],
)
def test_malformed_genotypes_name_the_problem(normal, match):
    with pytest.raises(GenotypeError, match=match):
        Genotype("darts", normal, REDUCE)


def test_bad_json_file_is_a_genotype_error(tmp_path):
    (tmp_path / "x.json").write_text("{not json")
    with pytest.raises(GenotypeError, match="not JSON"):
        load_genotype(tmp_path / "x.json")
    with pytest.raises(GenotypeError, match="cannot read"):
        load_genotype(tmp_path / "missing.json")


def test_derivation_keeps_two_strongest_inputs_and_never_none():
    space = cell_space("s3")  # none, skip_connect, sep_conv_3x3
    weights = np.full((14, 3), 0.1)
    weights[:, 0] = 0.8  # `none` dominates every edge: it must still not be chosen
    weights[0] = (0.8, 0.15, 0.05)  # node 2 <- 0: skip 0.15
    weights[1] = (0.8, 0.05, 0.12)  # node 2 <- 1: sep 0.12
    weights[2 + 2] = (0.8, 0.02, 0.17)  # node 3 <- 2 strongest of node 3
    weights[2 + 0] = (0.8, 0.16, 0.01)  # node 3 <- 0 second
    genes = derive_cell(space.normal, weights)
    assert genes[:2] == (("skip_connect", 0), ("sep_conv_3x3", 1))
    assert genes[2:4] == (("skip_connect", 0), ("sep_conv_3x3", 2))
    assert all(op != "none" for op, _ in genes)
    genotype = derive_genotype(space, weights, weights)
    assert genotype.space == "s3"


def test_derivation_of_nan_weights_is_an_error():
    weights = np.full((14, 8), np.nan)
    with pytest.raises(ArchitectureDivergedError, match="NaN"):
        derive_genotype(cell_space("darts"), weights, weights)


@pytest.mark.parametrize("name", CELL_SPACES)
def test_every_space_derives_a_valid_genotype(name):
    space = cell_space(name)
    rng = np.random.default_rng(0)
    genotype = derive_genotype(
        space, rng.random((14, space.num_ops)), rng.random((14, space.num_ops))
    )
    assert Genotype.from_string(str(genotype)) == genotype
