"""`hwnas export --format tensorrt` end to end on autospec mocks of the 10.x and 11.x bindings.

The mocked engine computes the exported network for real (ONNX Runtime behind
``execute_async_v3``, see `test_runner.wire_engine`), so the engine's check against PyTorch,
its comparison with ONNX Runtime and its timing through the profilers' tensorrt runtime all
run; only the host clock stands in for CUDA events.
"""

import json

import pytest
from conftest import ARCH, real_tensorrt_reason
from test_runner import on_fake_gpu, wire_engine  # noqa: F401 - on_fake_gpu is a fixture

from hwnas.cli import main
from hwnas.core.export import OnnxExport
from hwnas.jobs.export_sources import source_from_arch
from profilers.runtimes import tensorrt as runtime_trt
from profilers.timing import HostTimer

FAST = ["--exporter", "legacy", "--max-time-s", "0.05", "--threads", "1"]


@pytest.fixture
def engine_of_arch(on_fake_gpu, tmp_path, monkeypatch):  # noqa: F811 - the imported fixture
    """The mocked engine runs the fp32 ONNX file `hwnas export --arch ARCH` writes (the same
    seeded weights); sessions time with the host clock."""
    graph = source_from_arch(ARCH).export(tmp_path / "reference", OnnxExport(exporter="legacy"))[0]
    engine, context = wire_engine(on_fake_gpu, graph.path)
    monkeypatch.setattr(runtime_trt.TensorRTSession, "timer", lambda self: HostTimer())
    return on_fake_gpu, context


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_engine_is_built_checked_and_timed_beside_onnxruntime(
    engine_of_arch, tmp_path, capsys, precision
):
    fake, context = engine_of_arch
    out = tmp_path / "export"
    code = main(["export", "--arch", ARCH, "--format", "tensorrt", "--precision", precision,
                 "--out", str(out), "--latency-budget-ms", "1000", "--predicted-latency-ms", "2",
                 *FAST])  # fmt: skip
    text = capsys.readouterr().out
    assert code == 0, text
    report = json.loads((out / "report.json").read_text())
    engine = report["graphs"][0]["engine"]
    meta = json.loads((out / "tensorrt" / (engine["engine_path"].rsplit("/", 1)[1] + ".json"))
                      .read_text())  # fmt: skip
    assert meta["tensorrt_version"] == fake.version and engine["precision"] == precision
    assert engine["tensorrt_version"] == fake.version and "H100" in engine["gpu"]
    assert engine["check"]["passed"] and engine["check"]["precision"] == precision
    assert engine["max_abs_diff_vs_onnxruntime"] < 1e-4
    assert engine["measured_latency"]["median_ms"] > 0
    assert engine["measurement"]["runtime"]["runtime"] == "tensorrt"
    assert engine["measurement"]["runtime"]["api_major"] == fake.major
    assert context.execute_async_v3.call_count >= engine["measured_latency"]["n"]
    # ONNX Runtime's latency of the deployed ONNX file beside it; the engine's meets the budget.
    assert report["measured_latency"]["median_ms"] > 0
    assert report["latency_for_budget"]["runtime"] == "tensorrt"
    assert report["within_budget"] is True and report["predicted_latency_ms"] == 2
    markdown = (out / "report.md").read_text()
    assert "| TensorRT median |" in markdown and "| ONNX Runtime median |" in markdown
    assert "within budget: yes" in markdown and "Predicted latency: 2 ms" in markdown
    assert "tensorrt engine:" in text and "within budget (1000 ms): yes" in text


def test_budget_exceeded_is_reported(engine_of_arch, tmp_path, capsys):
    out = tmp_path / "export"
    code = main(["export", "--arch", ARCH, "--format", "tensorrt", "--out", str(out),
                 "--latency-budget-ms", "0.000001", *FAST])  # fmt: skip
    assert code == 0  # a missed budget is reported, the files are still valid
    report = json.loads((out / "report.json").read_text())
    assert report["within_budget"] is False
    assert "within budget: NO" in (out / "report.md").read_text()
    assert "within budget (1e-06 ms): no" in capsys.readouterr().out


def test_remote_devices_build_their_own_engines(on_fake_gpu, tmp_path, capsys):  # noqa: F811
    board = tmp_path / "board.toml"
    board.write_text('name = "board"\nkind = "gpu"\nreach = "ssh://me@board.lan"\n'
                     'runtimes = ["onnxruntime", "tensorrt"]\n')  # fmt: skip
    code = main(["export", "--arch", ARCH, "--format", "tensorrt", "--device-file", str(board),
                 "--out", str(tmp_path / "e")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and "on board itself" in err
    assert not (tmp_path / "e").exists()


@pytest.mark.tensorrt
@pytest.mark.gpu
@pytest.mark.skipif(real_tensorrt_reason() is not None, reason=str(real_tensorrt_reason()))
@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
def test_real_engine_is_checked_and_timed(tmp_path, capsys, precision):
    out = tmp_path / "export"
    code = main(["export", "--arch", ARCH, "--format", "tensorrt", "--precision", precision,
                 "--out", str(out), "--latency-budget-ms", "1000", *FAST])  # fmt: skip
    text = capsys.readouterr().out
    print(text)
    assert code == 0, text
    engine = json.loads((out / "report.json").read_text())["graphs"][0]["engine"]
    assert engine["check"]["passed"] and engine["measurement"]["timer"] == "cuda_events"
    assert engine["measured_latency"]["median_ms"] > 0
