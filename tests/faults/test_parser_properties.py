"""Property tests of the parsers a user feeds (issue 21): for any input, a parser returns a valid
value or raises the bad-input family (`InputError`, devices' `DeviceError`), never another
exception, and a parsed architecture's canonical string parses back to itself."""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devices import DeviceError
from devices.description import read_toml
from hwnas.core.spaces import create_space, list_spaces
from hwnas.core.trained import TrainedModelError, TrainedModelSpec
from hwnas.errors import InputError
from hwnas.jobs.generate import read_latency_csv

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
OPS = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3", "conv_9x9", ""]

# Text that looks like an architecture string of some space, with damage.
arch_like = st.one_of(
    st.text(max_size=120),
    st.lists(st.tuples(st.sampled_from(OPS), st.integers(-1, 4)), min_size=0, max_size=8).map(
        lambda edges: "+".join(
            "|" + "|".join(f"{o}~{i}" for o, i in edges[k : k + 3]) + "|"
            for k in range(0, len(edges), 3)
        )
    ),  # fmt: skip
    st.sampled_from(["|||", "+", "|none~0|+|", "k3_e1,k5_e6", "{}", "[]", "null"]),
)


@pytest.mark.parametrize("name", list_spaces())
@FAST
@given(text=arch_like)
def test_every_space_parses_or_refuses_with_input_error(name, text):
    space = create_space(name)
    try:
        arch = space.parse(text)
    except InputError:
        return
    assert space.parse(str(arch)) == arch  # the canonical string round-trips


@pytest.mark.parametrize("name", list_spaces())
@FAST
@given(seed=st.integers(0, 2**32 - 1))
def test_sampled_archs_round_trip_through_their_string(name, seed):
    import numpy as np

    space = create_space(name)
    arch = space.sample(np.random.default_rng(seed))
    assert space.parse(str(arch)) == arch


@FAST
@given(data=st.binary(max_size=400) | st.text(max_size=400).map(str.encode))
def test_latency_csv_reader_never_fails_otherwise(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("csv") / "latencies.csv"
    path.write_bytes(data)
    try:
        latencies = read_latency_csv(path)
    except InputError as err:
        assert "latencies.csv" in str(err)
        return
    assert all(v > 0 for v in latencies.values())


@FAST
@given(data=st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_device_toml_reader_never_fails_otherwise(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("toml") / "device.toml"
    path.write_bytes(data)
    try:
        assert isinstance(read_toml(path), dict)
    except DeviceError as err:
        assert "device.toml" in str(err)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
SPEC_KEYS = ["format_version", "space", "arch", "input_shape", "num_classes", "class_names",
             "mean", "std", "network_input", "network", "data", "training", "trained"]  # fmt: skip


@FAST
@given(meta=st.dictionaries(st.sampled_from(SPEC_KEYS), json_values, max_size=len(SPEC_KEYS)))
def test_model_json_is_a_spec_or_a_trained_model_error(meta):
    with contextlib.suppress(TrainedModelError):
        TrainedModelSpec.from_json(json.loads(json.dumps(meta)), "model.json")
