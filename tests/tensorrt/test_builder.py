"""The engine builder against autospec mocks of the TensorRT 10.x and 11.x bindings."""

import json
from unittest import mock

import pytest
from conftest import GPU

from hwnas.core.export import tensorrt as export_trt
from hwnas.core.export.tensorrt import TensorRTBuild, build_engine
from profilers.errors import ConfigError, RuntimeUnavailableError
from profilers.runtimes.tensorrt_engine import (
    EngineBuildError,
    EngineBuildSettings,
    build_serialized_engine,
    file_sha256,
    read_sidecar,
)

ENGINE = b"serialized-engine-bytes"


def wire_network(fake, input_shape=(-1, 3, 32, 32), output_shape=(-1, 10)):
    """Give the mocked network one input and one output tensor and a successful build."""
    trt = fake.module
    network = fake.instance("INetworkDefinition")
    source, logits = fake.new_instance("ITensor"), fake.new_instance("ITensor")
    source.name, source.shape, source.dtype = "input", input_shape, trt.DataType.FLOAT
    logits.name, logits.shape, logits.dtype = "logits", output_shape, trt.DataType.FLOAT
    network.num_inputs, network.num_outputs = 1, 1
    network.get_input.return_value = source
    network.get_output.return_value = logits
    parser = fake.instance("OnnxParser")
    parser.parse_from_file.return_value = True
    parser.num_errors = 0
    config = fake.instance("IBuilderConfig")
    config.set_timing_cache.return_value = True
    fake.instance("ITimingCache").serialize.return_value = b"timing-cache"
    builder = fake.instance("Builder")
    builder.build_serialized_network.side_effect = None
    builder.build_serialized_network.return_value = ENGINE
    return builder, network, config, parser


def test_build_calls_the_api_of_each_generation(fake_trt, tmp_path):
    trt = fake_trt.module
    builder, network, config, parser = wire_network(fake_trt)
    cache = tmp_path / "timing.cache"
    cache.write_bytes(b"old-cache")
    settings = EngineBuildSettings(
        batch_min=1,
        batch_opt=4,
        batch_max=16,
        workspace_mib=256,
        optimization_level=5,
        timing_cache=cache,
    )
    built = build_serialized_engine(trt, tmp_path / "model.onnx", settings)

    assert built.data == ENGINE and built.tensorrt_version == fake_trt.version
    builder.create_network.assert_called_once_with(0)
    trt.OnnxParser.assert_called_once_with(network, mock.ANY)
    parser.parse_from_file.assert_called_once_with(str(tmp_path / "model.onnx"))
    config.set_memory_pool_limit.assert_called_once_with(trt.MemoryPoolType.WORKSPACE, 256 << 20)
    assert config.builder_optimization_level == 5
    config.set_flag.assert_not_called()
    config.clear_flag.assert_called_once_with(trt.BuilderFlag.TF32)  # fp32 means fp32
    profile = fake_trt.instance("IOptimizationProfile")
    profile.set_shape.assert_called_once_with(
        "input", (1, 3, 32, 32), (4, 3, 32, 32), (16, 3, 32, 32)
    )
    config.add_optimization_profile.assert_called_once_with(profile)
    config.create_timing_cache.assert_called_once_with(b"old-cache")
    builder.build_serialized_network.assert_called_once_with(network, config)
    assert cache.read_bytes() == b"timing-cache"
    assert built.inputs[0].profile == {
        "min": [1, 3, 32, 32],
        "opt": [4, 3, 32, 32],
        "max": [16, 3, 32, 32],
    }
    assert built.outputs[0].to_dict() == {"name": "logits", "dtype": "FLOAT", "shape": [-1, 10]}


def test_precision_flags_exist_only_on_10(fake_trt, tmp_path):
    trt = fake_trt.module
    _, _, config, _ = wire_network(fake_trt)
    settings = EngineBuildSettings(fp16_flag=True, int8_flag=True)
    if fake_trt.major >= 11:
        with pytest.raises(EngineBuildError, match="strongly typed"):
            build_serialized_engine(trt, tmp_path / "m.onnx", settings)
    else:
        build_serialized_engine(trt, tmp_path / "m.onnx", settings)
        config.set_flag.assert_has_calls(
            [mock.call(trt.BuilderFlag.FP16), mock.call(trt.BuilderFlag.INT8)]
        )


def test_static_shapes_need_no_profile(fake_trt, tmp_path):
    wire_network(fake_trt, input_shape=(2, 3, 32, 32), output_shape=(2, 10))
    built = build_serialized_engine(fake_trt.module, tmp_path / "m.onnx", EngineBuildSettings())
    fake_trt.instance("IBuilderConfig").add_optimization_profile.assert_not_called()
    assert built.inputs[0].profile is None


def test_dynamic_non_batch_axis_is_refused(fake_trt, tmp_path):
    wire_network(fake_trt, input_shape=(-1, 3, -1, 32))
    with pytest.raises(EngineBuildError, match="dynamic axis other than the batch"):
        build_serialized_engine(fake_trt.module, tmp_path / "m.onnx", EngineBuildSettings())


def test_parser_errors_are_reported(fake_trt, tmp_path):
    trt = fake_trt.module
    _, _, _, parser = wire_network(fake_trt)
    parser.parse_from_file.return_value = False
    errors = []
    for node, op, text in [
        (3, "Conv", "kernel weights are not constant"),
        (7, "Foo", "no importer"),
    ]:
        error = fake_trt.new_instance("ParserError")
        error.node.return_value, error.node_name.return_value = node, f"node_{node}"
        error.node_operator.return_value, error.desc.return_value = op, text
        error.code.return_value = trt.ErrorCode.UNSUPPORTED_NODE
        errors.append(error)
    parser.num_errors = 2
    parser.get_error.side_effect = errors
    with pytest.raises(EngineBuildError) as info:
        build_serialized_engine(trt, tmp_path / "bad.onnx", EngineBuildSettings())
    message = str(info.value)
    assert "bad.onnx" in message and fake_trt.version in message
    assert "node 3 (node_3, Conv): kernel weights are not constant [UNSUPPORTED_NODE]" in message
    assert "node 7 (node_7, Foo): no importer" in message
    parser.get_error.assert_has_calls([mock.call(0), mock.call(1)])


def test_failed_build_reports_logged_errors(fake_trt, tmp_path):
    trt = fake_trt.module
    builder, _, _, _ = wire_network(fake_trt)

    def fail(network, config):
        logger = trt.Builder.call_args.args[0]
        logger.log(trt.ILogger.Severity.ERROR, "out of workspace memory")
        logger.log(trt.ILogger.Severity.INFO, "not an error")
        return None

    builder.build_serialized_network.side_effect = fail
    with pytest.raises(EngineBuildError, match="failed to build.*out of workspace memory") as info:
        build_serialized_engine(trt, tmp_path / "m.onnx", EngineBuildSettings())
    assert "not an error" not in str(info.value)


def test_mismatched_timing_cache_starts_afresh(fake_trt, tmp_path):
    _, _, config, _ = wire_network(fake_trt)
    config.set_timing_cache.return_value = False
    cache = tmp_path / "other-gpu.cache"
    cache.write_bytes(b"foreign")
    build_serialized_engine(
        fake_trt.module, tmp_path / "m.onnx", EngineBuildSettings(timing_cache=cache)
    )
    assert config.create_timing_cache.call_args_list == [mock.call(b"foreign"), mock.call(b"")]


@pytest.mark.parametrize(
    "kwargs",
    [{"batch_min": 4, "batch_opt": 2}, {"workspace_mib": 0}, {"optimization_level": 6}],
)
def test_settings_are_validated(kwargs):
    with pytest.raises(ConfigError):
        EngineBuildSettings(**kwargs)


# -- build_engine: precision per generation, files and sidecar ----------------------------------


@pytest.fixture
def on_fake_gpu(fake_trt, monkeypatch):
    monkeypatch.setattr(export_trt, "import_tensorrt", lambda: fake_trt.module)
    monkeypatch.setattr(export_trt, "cuda_gpu", lambda index=0: GPU)
    wire_network(fake_trt)
    return fake_trt


@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
def test_build_engine_writes_engine_and_sidecar(on_fake_gpu, nb201_onnx, tmp_path, precision):
    fake = on_fake_gpu
    trt = fake.module
    _, onnx_path = nb201_onnx
    config = TensorRTBuild(precision=precision, batch_max=8, calibration_samples=8)
    artifact = build_engine(onnx_path, tmp_path, config)

    assert artifact.engine_path.read_bytes() == ENGINE
    meta = read_sidecar(artifact.engine_path)
    assert meta == json.loads(artifact.sidecar_path.read_text()) == artifact.metadata
    assert meta["tensorrt_version"] == fake.version
    assert meta["gpu"] == {"name": GPU.name, "compute_capability": GPU.compute_capability}
    assert meta["precision"] == precision
    assert meta["engine"]["sha256"] == file_sha256(artifact.engine_path)
    assert meta["onnx"]["sha256"] == file_sha256(artifact.onnx_path)
    assert meta["source_onnx"]["sha256"] == file_sha256(onnx_path)
    assert meta["inputs"][0]["profile"]["max"] == [8, 3, 32, 32]
    parsed = fake.instance("OnnxParser").parse_from_file.call_args.args[0]
    assert parsed == str(artifact.onnx_path)
    flags = {c.args[0] for c in fake.instance("IBuilderConfig").set_flag.call_args_list}
    if fake.major >= 11:  # precision comes from the ONNX file
        assert flags == set()
        expected = {
            "fp32": onnx_path.name,
            "fp16": "nb201_fp16.onnx",
            "int8": "nb201_int8_qdq.onnx",
        }
        assert artifact.onnx_path.name == expected[precision]
        assert meta["precision_from"].startswith(("onnx", "Q/DQ"))
    else:  # fp16 through builder flags; int8 through Q/DQ nodes plus flags
        expected_flags = {
            "fp32": set(),
            "fp16": {trt.BuilderFlag.FP16},
            "int8": {trt.BuilderFlag.FP16, trt.BuilderFlag.INT8},
        }
        assert flags == expected_flags[precision]
        assert (artifact.onnx_path.name == "nb201_int8_qdq.onnx") == (precision == "int8")
    if precision == "int8":
        assert meta["onnx"]["calibration"]["samples"] == 8


def test_build_engine_without_tensorrt_says_what_to_install(tmp_path, nb201_onnx):
    with pytest.raises(RuntimeUnavailableError, match=r"pip install hwnas\[tensorrt\]"):
        build_engine(nb201_onnx[1], tmp_path, TensorRTBuild())


@pytest.mark.parametrize(
    "kwargs",
    [
        {"precision": "fp8"},
        {"calibration_samples": 0},
        {"batch_max": 0},
        {"calibration_data": "x.npy", "precision": "fp16"},
    ],
)
def test_tensorrt_build_is_validated(kwargs):
    with pytest.raises(ConfigError):
        TensorRTBuild(**kwargs)


def test_tensorrt_build_round_trips():
    config = TensorRTBuild(precision="int8", timing_cache="t.cache", calibration_data="c.npy")
    assert TensorRTBuild.from_dict(json.loads(json.dumps(config.to_dict()))) == config
