"""Importing devices and profilers loads no runtime library (they are imported lazily)."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("onnxruntime", "torch", "tensorrt", "ray", "onnx")


def test_import_devices_and_profilers_is_lean():
    code = (
        "import sys, devices, profilers, profilers.runtimes.onnxruntime; "
        "profilers.create_runtime('onnxruntime'); "
        f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    )
    assert out.stdout.strip() == "", f"imported at import time: {out.stdout.strip()}"
