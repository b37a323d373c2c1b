"""Importing hwnas and its sibling packages stays light: no vendor runtime, no CUDA."""

import subprocess
import sys

import pytest

VENDOR = ("onnxruntime", "tensorrt", "ray")


@pytest.mark.parametrize(
    ("statement", "forbidden"),
    [
        ("import hwnas", VENDOR + ("torch", "onnx", "sklearn")),
        (
            "import hwnas.core.spaces, hwnas.core.tables, hwnas.jobs, hwnas.cli",
            VENDOR + ("torch", "onnx"),
        ),
        ("import predictors", VENDOR + ("torch",)),
    ],
)
def test_import_is_lean(statement, forbidden):
    code = f"{statement}; import sys; print(' '.join(m for m in {forbidden!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"{statement!r} imported {out.stdout.strip()}"
