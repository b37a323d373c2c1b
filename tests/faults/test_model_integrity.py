"""Damaged model files are refused on load, never answered from (issue 21, reproduction 2)."""

from __future__ import annotations

import json
import shutil
import warnings

import pytest

from hwnas.cli import main
from hwnas.core.integrity import check_finite, verify_sha256
from hwnas.core.tables import reference_archs
from hwnas.errors import InputError
from hwnas.methods.modnas.model import shipped_model_dir

ARCHS = reference_archs("nb201")[:3]


@pytest.fixture
def model_copy(tmp_path):
    """A copy of the shipped MODNAS model (with its MetaPredictor) to damage."""
    return shutil.copytree(shipped_model_dir(), tmp_path / "modnas")


def _flip_bytes_inside(path, offset_from_end=64):
    data = bytearray(path.read_bytes())
    for i in range(len(data) - offset_from_end, len(data) - offset_from_end + 8):
        data[i] ^= 0xFF  # inside the last tensor: the header still parses
    path.write_bytes(bytes(data))


def _latency_csv(tmp_path):
    path = tmp_path / "refs.csv"
    rows = [f"{arch},{0.3 + 0.05 * i}" for i, arch in enumerate(reference_archs("nb201"))]
    path.write_text("arch,latency_ms\n" + "\n".join(rows) + "\n")
    return path


def test_shipped_models_record_and_match_their_sha256(model_copy, tmp_path, capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "no sha256 recorded" warning for the shipped model
        code = main(["modnas", "generate", "--model", str(model_copy), "--device-latencies",
                     str(_latency_csv(tmp_path)), "--n", "8"])  # fmt: skip
    assert code == 0, capsys.readouterr().err


def test_damaged_hypernetwork_is_refused_not_answered(model_copy, tmp_path, capsys):
    _flip_bytes_inside(model_copy / "hypernetwork.safetensors")
    code = main(["modnas", "generate", "--model", str(model_copy), "--device-latencies",
                 str(_latency_csv(tmp_path)), "--n", "8"])  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 2 and "hypernetwork.safetensors" in err and "sha256" in err
    assert out == "" and "Traceback" not in err


def test_damaged_predictor_weights_give_an_error_not_nan(model_copy, tmp_path, capsys):
    predictor = model_copy / "predictor"
    _flip_bytes_inside(predictor / "model.safetensors")
    archs = tmp_path / "archs.txt"
    archs.write_text("\n".join(ARCHS) + "\n")
    code = main(["predictor", "predict", "--model", str(predictor), "--archs", str(archs)])
    out, err = capsys.readouterr()
    assert code == 2 and "model.safetensors" in err and "changed or damaged" in err
    assert "nan" not in out.lower()


def test_a_model_saved_before_sha256s_loads_with_a_warning(model_copy):
    from hwnas.methods.predictor import load_model

    meta_path = model_copy / "predictor" / "model.json"
    meta = json.loads(meta_path.read_text())
    del meta["sha256"]
    meta_path.write_text(json.dumps(meta))
    with pytest.warns(UserWarning, match="no sha256"):
        load_model(model_copy / "predictor")


def test_verify_and_finiteness_helpers(tmp_path):
    import numpy as np

    (tmp_path / "w.bin").write_bytes(b"abc")
    with pytest.raises(InputError, match="changed or damaged"):
        verify_sha256(tmp_path, {"w.bin": "0" * 64}, ["w.bin"], InputError, "save it again")
    with pytest.raises(InputError, match="no sha256 recorded"):
        verify_sha256(tmp_path, {}, ["w.bin"], InputError, "save it again")
    with pytest.raises(InputError, match="'b' hold NaN"):
        check_finite({"a": np.ones(2), "b": np.array([1.0, np.nan])}, "w.bin", InputError)
