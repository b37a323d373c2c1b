"""The LRNN search space: canonical strings, errors, sampling, encoding, registry."""

import numpy as np
import pytest

from hwnas.core.spaces import create_space, list_spaces
from hwnas.core.spaces.lrnn import FEATURES, LRNNArch, LRNNArchError, LRNNSpace


def test_every_arch_round_trips_through_its_string():
    archs = LRNNSpace().all_archs()
    assert len(archs) == 256 == len(set(archs)) == len({str(a) for a in archs})
    assert all(LRNNArch.from_string(str(a)) == a for a in archs)
    assert list(archs) == sorted(archs)


def test_canonical_string():
    arch = LRNNArch("deltanet", "11", 2, 64, 16)
    assert str(arch) == "lrnn:deltanet-11-L2-W64-S16"
    assert LRNNArch.from_string("  lrnn:deltanet-11-L2-W64-S16\n") == arch
    assert hash(arch) == hash(LRNNArch.from_string(str(arch)))
    assert arch.negative_eigenvalues and not LRNNArch("diag", "01", 1, 16, 4).negative_eigenvalues


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("deltanet-11-L2-W64-S16", "must begin with 'lrnn:'"),
        ("lrnn:deltanet-11-L2-W64", "found 4 '-'-separated part"),
        ("lrnn:deltanet-11-L2-X64-S16", "'X64' should be W<number>"),
        ("lrnn:mamba-11-L2-W64-S16", "unknown recurrence 'mamba'"),
        ("lrnn:diag-12-L2-W64-S16", "unknown eigenvalue range '12'"),
        ("lrnn:diag-11-L9-W64-S16", "layers 9 is not in the space"),
        ("lrnn:diag-11-L2-W48-S16", "width 48 is not in the space"),
        ("", "must begin with"),
    ],
)
def test_malformed_strings_name_the_problem(text, message):
    with pytest.raises(LRNNArchError, match=message) as err:
        LRNNArch.from_string(text)
    assert "lrnn:deltanet-11-L2-W64-S16" in str(err.value)  # shows an example


def test_sample_and_mutate_are_seeded_and_stay_in_space():
    space = LRNNSpace()
    a = [space.sample(np.random.default_rng(3)) for _ in range(2)]
    assert a[0] == a[1]
    rng = np.random.default_rng(0)
    arch = space.parse("lrnn:diag-01-L1-W16-S4")
    for _ in range(50):
        child = space.mutate(arch, rng)
        assert child != arch and child in space.all_archs()
        differing = [
            f
            for f in ("recurrence", "eigen_range", "layers", "width", "state")
            if getattr(child, f) != getattr(arch, f)
        ]
        assert len(differing) == 1
        arch = child


def test_encode_and_registry():
    space = create_space("lrnn")
    assert "lrnn" in list_spaces() and isinstance(space, LRNNSpace)
    refs = space.reference_archs()
    assert len(refs) == len(set(refs)) == 10
    features = space.encode(refs)
    assert features.shape == (10, len(FEATURES)) and features.dtype == np.float32
    assert np.isfinite(features).all()
    # more layers cost more compute per token
    small, big = space.parse("lrnn:diag-11-L1-W32-S8"), space.parse("lrnn:diag-11-L2-W32-S8")
    assert space.encode([big])[0, 5] > space.encode([small])[0, 5]


def test_build_gives_a_token_model():
    import torch

    space = LRNNSpace()
    model = space.build(space.parse("lrnn:deltanet-11-L1-W16-S4"), vocab_size=3, num_classes=4)
    logits = model(torch.zeros(2, 7, dtype=torch.long))
    assert logits.shape == (2, 7, 4)
