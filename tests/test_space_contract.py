"""The contract every registered search space keeps (parse, sample, mutate, encode, build)."""

import numpy as np
import pytest
import torch

from hwnas.core.spaces import create_space, list_spaces


@pytest.mark.parametrize("name", list_spaces())
def test_space_contract(name):
    space = create_space(name)
    assert space.name == name
    rng = np.random.default_rng(0)
    archs = [space.sample(rng) for _ in range(20)]
    for arch in archs:
        assert space.parse(str(arch)) == arch
        child = space.mutate(arch, rng)
        assert child != arch and space.parse(str(child)) == child
    with pytest.raises(ValueError):
        space.parse("not an architecture")
    features = space.encode(archs)
    assert features.dtype == np.float32 and features.shape[0] == 20 and features.ndim == 2
    assert np.all(np.isfinite(features))
    references = space.reference_archs()
    assert len(references) == 10 and len(set(references)) == 10
    net = space.build(archs[0]).eval()
    if space.input_dtype == "int64":  # token ids
        inputs = torch.randint(0, 2, (2, *space.input_shape))
    else:
        inputs = torch.randn(2, *space.input_shape, dtype=getattr(torch, space.input_dtype))
    with torch.no_grad():
        out = net(inputs)
    assert out.shape[0] == 2 and torch.all(torch.isfinite(out))


@pytest.mark.parametrize("name", list_spaces())
def test_space_states_its_sizes_and_table(name):
    """What callers ask instead of branching on the name: sizes, depth, table, features."""
    from hwnas.core.spaces import NoSpaceTableError, space_class

    space = create_space(name)
    assert space_class(name) is type(space)
    if space.depth_keyword is not None:
        assert space.depth_keyword in space.size_defaults
    space.check_sizes(**space.size_defaults)
    with pytest.raises(ValueError, match="has no size 'depth_of_field'"):
        space.check_sizes(depth_of_field=3)
    archs = space.reference_archs()[:3]
    if not space.has_table:
        with pytest.raises(NoSpaceTableError, match=name):
            space.table_archs()
        return
    table = space.table_archs()
    assert space.index_column == f"{name}_index"
    assert [space.table_index(a) for a in table[:3]] == [0, 1, 2]
    features = space.predictor_features(archs)
    params, macs = space.network_costs(archs)
    assert features.dtype == np.float32 and features.shape[0] == 3
    assert params.shape == macs.shape == (3,) and np.all(params > 0) and np.all(macs > 0)


def test_registry_capability_queries():
    from hwnas.core.spaces import cell_spaces, table_spaces

    assert table_spaces() == ["fbnet", "nb201"]
    assert cell_spaces() == ["darts", "s1", "s2", "s3", "s4", "nb201"]
    assert cell_spaces(variants=False) == ["darts", "nb201"]


def test_darts_space_builds_the_evaluation_network_of_a_genotype():
    space = create_space("darts")
    genotype = space.reference_archs()[0]
    net = space.build(genotype, num_classes=7, channels=4, layers=3, in_channels=1).eval()
    with torch.no_grad():
        assert net(torch.randn(2, 1, 16, 16)).shape == (2, 7)
    with pytest.raises(ValueError, match="genotype of space 'darts', not 's2'"):
        create_space("s2").parse(str(genotype))
    with pytest.raises(ValueError, match="even channel count"):
        space.check_sizes(channels=3)
