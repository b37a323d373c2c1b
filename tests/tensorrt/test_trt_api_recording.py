"""The recorded TensorRT APIs and the mocks built from them catch wrong calls."""

import inspect

import pytest
from trt_api import FakeTensorRT, load_surface, parse_signature, recorded_versions


def test_both_api_generations_are_recorded():
    majors = {int(v.split(".")[0]) for v in recorded_versions()}
    assert {10, 11} <= majors


@pytest.mark.parametrize("version", recorded_versions())
def test_every_recorded_signature_parses(version):
    surface = load_surface(version)
    count = 0
    for info in surface["classes"].values():
        for sigs in info["methods"].values():
            for sig in sigs:
                assert isinstance(parse_signature(sig), inspect.Signature)
                count += 1
    assert count > 500  # the whole bindings API, not a hand-picked subset


def test_generation_differences_are_recorded():
    v10 = load_surface(next(v for v in recorded_versions() if v.startswith("10.")))
    v11 = load_surface(next(v for v in recorded_versions() if v.startswith("11.")))
    assert {"FP16", "INT8"} <= set(v10["enums"]["BuilderFlag"])
    assert not {"FP16", "INT8"} & set(v11["enums"]["BuilderFlag"])
    assert "EXPLICIT_BATCH" in v10["enums"]["NetworkDefinitionCreationFlag"]
    assert "EXPLICIT_BATCH" not in v11["enums"]["NetworkDefinitionCreationFlag"]
    assert "int8_calibrator" in v10["classes"]["IBuilderConfig"]["properties"]
    assert "int8_calibrator" not in v11["classes"]["IBuilderConfig"]["properties"]
    assert "IInt8EntropyCalibrator2" in v10["classes"]
    assert "IInt8EntropyCalibrator2" not in v11["classes"]


def test_parse_signature_reads_defaults_and_unnamed_args():
    sig = parse_signature(
        "parse(self: tensorrt.OnnxParser, model: typing_extensions.Buffer, path: str = None) -> bool"
    )
    assert list(sig.parameters) == ["self", "model", "path"]
    assert sig.parameters["path"].default is not inspect.Parameter.empty
    sig = parse_signature("__getitem__(self: tensorrt.Dims, arg0: typing.SupportsInt) -> int")
    assert sig.parameters["arg0"].kind is inspect.Parameter.POSITIONAL_ONLY


def test_mocks_reject_wrong_calls(fake_trt):
    trt = fake_trt.module
    builder = trt.Builder(trt.Logger(trt.Logger.WARNING))
    with pytest.raises(TypeError):
        trt.Builder()  # Builder(logger) is required
    with pytest.raises(TypeError):
        builder.create_network(0, 1)  # one flags argument
    network = builder.create_network(0)
    config = builder.create_builder_config()
    with pytest.raises(TypeError, match="no overload"):
        builder.build_serialized_network(network)  # overloads take (network, config[, ...])
    builder.build_serialized_network(network, config)
    with pytest.raises(AttributeError):
        config.max_workspace_size = 1 << 30  # removed before 10.0
    with pytest.raises(TypeError):
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE)  # size missing
    with pytest.raises(TypeError):
        config.set_timing_cache(config.create_timing_cache(b""), ignore_mismatches=False)


def test_generation_specific_members_fail_on_the_other(fake_trt):
    trt = fake_trt.module
    config = trt.Builder(trt.Logger()).create_builder_config()
    if fake_trt.major >= 11:
        with pytest.raises(AttributeError):
            trt.BuilderFlag.FP16  # noqa: B018
        with pytest.raises(AttributeError):
            config.int8_calibrator = None
    else:
        config.set_flag(trt.BuilderFlag.FP16)
        config.int8_calibrator = None


def test_interfaces_are_subclassable_with_recorded_methods(fake_trt):
    trt = fake_trt.module
    assert isinstance(FakeTensorRT, type)
    log = inspect.signature(trt.ILogger.log)
    assert list(log.parameters) == ["self", "severity", "msg"]
    assert int(trt.ILogger.Severity.ERROR) < int(trt.ILogger.Severity.WARNING)


def test_recording_matches_the_installed_tensorrt():
    from conftest import installed_surface

    surface = installed_surface()
    if surface is None or surface["version"] not in recorded_versions():
        pytest.skip("no recorded TensorRT version is installed here")
    recorded = load_surface(surface["version"])
    assert {k: recorded[k] for k in surface} == surface
