"""Record the Python API of real TensorRT bindings into ``api/tensorrt-<version>.json``.

Usage (needs pip's access to PyPI and a C compiler; not run by the tests)::

    python tests/tensorrt/record_api.py 10.16.1.11 11.4.0.106

For each version: ``pip download --no-deps tensorrt-cu12-bindings==VERSION``, unpack the wheel,
compile stand-ins for ``libnvinfer``, ``libnvonnxparser`` and ``libnvinfer_plugin`` (they export
the nine C entry points the extension links and abort if one is called: no TensorRT code
runs), import the real ``tensorrt_bindings`` extension against them and save its classes,
enums and method signatures with ``trt_api.describe_module``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
PACKAGE = "tensorrt-cu12-bindings"
ENTRY_POINTS = (
    "createInferBuilder_INTERNAL",
    "createInferRefitter_INTERNAL",
    "createInferRuntime_INTERNAL",
    "getBuilderPluginRegistry",
    "getPluginRegistry",
    "createNvOnnxParser_INTERNAL",
    "createNvOnnxParserRefitter_INTERNAL",
    "getNvOnnxParserVersion",
    "initLibNvInferPlugins",
)
STUB_C = "#include <stdio.h>\n#include <stdlib.h>\n" + "".join(
    f'void *{name}(void) {{ fprintf(stderr, "stub: {name} called\\n"); abort(); }}\n'
    for name in ENTRY_POINTS
)
DUMP = (
    "import json, sys; sys.path.insert(0, {here!r}); import tensorrt_bindings as trt\n"
    "from trt_api import describe_module\n"
    "print(json.dumps(describe_module(trt), indent=1, sort_keys=True))\n"
)


def record(version: str, work: Path) -> Path:
    """Download, load with stand-in libraries, describe; return the JSON file written."""
    wheels = work / f"wheel-{version}"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "-q",
            "-d",
            str(wheels),
            f"{PACKAGE}=={version}",
        ],
        check=True,
    )
    (wheel,) = wheels.glob("*.whl")
    site = work / f"site-{version}"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    major = version.split(".")[0]
    libs = work / f"libs-{major}"
    libs.mkdir(exist_ok=True)
    source = libs / "stub.c"
    source.write_text(STUB_C)
    for lib in ("nvinfer", "nvonnxparser", "nvinfer_plugin"):
        soname = f"lib{lib}.so.{major}"
        subprocess.run(
            [
                "gcc",
                "-shared",
                "-fPIC",
                f"-Wl,-soname,{soname}",
                "-o",
                str(libs / soname),
                str(source),
            ],
            check=True,
        )
    env = {**os.environ, "LD_LIBRARY_PATH": str(libs), "PYTHONPATH": str(site)}
    out = subprocess.run(
        [sys.executable, "-c", DUMP.format(here=str(HERE))],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    surface = json.loads(out.stdout)
    surface["recorded_from"] = f"{PACKAGE}=={version} ({wheel.name}), stand-in native libraries"
    target = HERE / "api" / f"tensorrt-{surface['version']}.json"
    target.parent.mkdir(exist_ok=True)
    target.write_text(json.dumps(surface, indent=1, sort_keys=True) + "\n")
    return target


def main(versions: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for version in versions:
            print(record(version, Path(tmp)))


if __name__ == "__main__":
    main(sys.argv[1:] or ["10.16.1.11", "11.4.0.106"])
