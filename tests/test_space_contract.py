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
