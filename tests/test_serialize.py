"""The generic serialiser: round trips of nested frozen dataclasses, and refusals naming the field."""

import enum
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from hwnas.core.serialize import SerializeError, from_json, to_json
from hwnas.errors import InputError


class Kind(enum.Enum):
    FAST = "fast"
    SLOW = "slow"


@dataclass(frozen=True)
class Inner:
    lr: float
    steps: tuple[int, ...] = (1, 2)

    def __post_init__(self) -> None:
        if self.lr <= 0:
            raise InputError(f"lr must be positive, got {self.lr}")


@dataclass(frozen=True)
class Outer:
    FORMAT_VERSION = 2

    name: str
    inner: Inner
    kind: Kind = Kind.FAST
    path: Path | None = None
    shape: tuple[int, int] = (3, 32)
    extra: dict[str, float] = field(default_factory=dict)


VALUE = Outer("a", Inner(0.5, (3, 4)), Kind.SLOW, Path("/tmp/x"), (1, 28), {"p": 0.25})


def test_round_trip_through_json_text():
    data = json.loads(json.dumps(to_json(VALUE)))
    assert data["format_version"] == 2 and data["kind"] == "slow" and data["path"] == "/tmp/x"
    assert from_json(Outer, data) == VALUE


def test_numpy_scalars_become_python_numbers():
    assert to_json(Inner(np.float32(0.5), (np.int64(3),))) == {
        "format_version": 1,
        "lr": 0.5,
        "steps": [3],
    }


def test_unversioned_data_is_read_as_version_one_and_nested_values_carry_no_version():
    assert to_json(Inner(1.0), versioned=False) == {"lr": 1.0, "steps": [1, 2]}
    assert from_json(Inner, {"lr": 1.0}) == Inner(1.0)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({**to_json(VALUE), "format_version": 3}, "format version 3; this hwnas reads version 2"),
        ({**to_json(VALUE), "colour": 1}, r"unknown fields \['colour'\]"),
        ({"name": "a"}, "field 'inner' is missing"),
        ({**to_json(VALUE), "inner": {"lr": "fast"}}, "inner.lr must be a number, got 'fast'"),
        ({**to_json(VALUE), "inner": {"lr": 1, "steps": [1, True]}}, r"inner.steps\[1\] must be"),
        ({**to_json(VALUE), "kind": "medium"}, r"kind must be one of \['fast', 'slow'\]"),
        ({**to_json(VALUE), "shape": [1, 2, 3]}, "shape must hold 2 values, got 3"),
        ({**to_json(VALUE), "inner": {"lr": -1}}, "model.json: lr must be positive, got -1"),
        ([1, 2], "expected a JSON object, got list"),
    ],
)
def test_bad_or_foreign_data_names_the_field(data, message):
    with pytest.raises(SerializeError, match=message) as info:
        from_json(Outer, data, source="model.json")
    assert isinstance(info.value, InputError) and str(info.value).startswith("model.json")


def test_a_value_without_json_form_is_refused():
    with pytest.raises(SerializeError, match=r"value.extra.w: a ndarray has no JSON form"):
        to_json(Outer("a", Inner(1.0), extra={"w": np.zeros(2)}))


def test_an_architecture_is_written_as_its_canonical_string():
    from hwnas.core.spaces.nb201 import NB201Arch

    @dataclass(frozen=True)
    class Member:
        arch: NB201Arch
        seed: int = 0

    arch = NB201Arch(("nor_conv_3x3",) * 6)
    assert to_json(Member(arch), versioned=False) == {"arch": str(arch), "seed": 0}
    assert from_json(Member, {"arch": str(arch)}) == Member(arch)
    with pytest.raises(SerializeError, match="m.json: arch: not a NAS-Bench-201"):
        from_json(Member, {"arch": "|x~0|"}, source="m.json")
