"""Kernel detection from ONNX Runtime's optimised graph and profiler, and the kernel table."""

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from profilers import ConfigError, OnnxRuntime
from profilers.kernels import Kernel, KernelTable, NetworkKernels, _read_trace, profile_kernels


def conv_bn_relu(path, channels=8, side=8, qdq=False, name="conv_bn_relu"):
    """x -> Conv -> BatchNormalization -> Relu as an ONNX file."""
    rng = np.random.default_rng(0)
    c = channels
    inits = [
        numpy_helper.from_array(rng.standard_normal((c, c, 3, 3)).astype(np.float32), "w"),
        numpy_helper.from_array(np.ones(c, np.float32), "scale"),
        numpy_helper.from_array(np.zeros(c, np.float32), "bias"),
        numpy_helper.from_array(np.zeros(c, np.float32), "mean"),
        numpy_helper.from_array(np.ones(c, np.float32), "var"),
    ]
    x = "x"
    nodes = []
    if qdq:  # int8 activations and weights around the convolution, as a quantiser writes them
        inits += [
            numpy_helper.from_array(np.array(0.05, np.float32), "s"),
            numpy_helper.from_array(np.array(128, np.uint8), "z"),
            numpy_helper.from_array(np.array(0.01, np.float32), "ws"),
            numpy_helper.from_array(np.array(0, np.int8), "wz"),
        ]
        nodes += [
            helper.make_node("QuantizeLinear", ["x", "s", "z"], ["xq"]),
            helper.make_node("DequantizeLinear", ["xq", "s", "z"], ["xd"]),
            helper.make_node("QuantizeLinear", ["w", "ws", "wz"], ["wq"]),
            helper.make_node("DequantizeLinear", ["wq", "ws", "wz"], ["wd"]),
        ]
        x, w = "xd", "wd"
    else:
        w = "w"
    nodes.append(helper.make_node("Conv", [x, w], ["c"], pads=[1, 1, 1, 1], name="conv"))
    if qdq:  # the output quantised too: the pattern a quantised convolution kernel replaces
        nodes += [
            helper.make_node("QuantizeLinear", ["c", "s", "z"], ["cq"]),
            helper.make_node("DequantizeLinear", ["cq", "s", "z"], ["b"]),
        ]
    else:
        nodes.append(
            helper.make_node("BatchNormalization", ["c", "scale", "bias", "mean", "var"], ["b"])
        )
    nodes.append(helper.make_node("Relu", ["b"], ["y"], name="relu"))
    graph = helper.make_graph(
        nodes,
        name,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, c, side, side])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, c, side, side])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def ops(network):
    return [k.kernel.op.split(":")[-1] for k in network.kernels]


def test_fusion_is_detected_from_the_optimised_graph(tmp_path):
    path = conv_bn_relu(tmp_path / "m.onnx")
    plain = profile_kernels(path, OnnxRuntime(1, graph_optimization="disable"), runs=2)
    fused = profile_kernels(path, OnnxRuntime(1), runs=2)
    # unoptimised: every node runs
    assert sorted(ops(plain)) == ["BatchNormalization", "Conv", "Relu"]
    # optimised: BatchNorm folded and Relu fused into the one convolution
    assert "BatchNormalization" not in ops(fused) and "Relu" not in ops(fused)
    convs = [k for k in fused.kernels if k.kernel.op.endswith("Conv")]
    assert len(convs) == 1 and "activation=Relu" in convs[0].kernel.attributes
    assert convs[0].kernel.inputs[0].startswith("float[") and convs[0].median_us > 0
    assert fused.runs == 2 and fused.kernel_sum_us > 0 and fused.run_median_us > 0


def test_an_int8_graph_runs_quantised_kernels(tmp_path):
    fused = profile_kernels(conv_bn_relu(tmp_path / "q.onnx", qdq=True), OnnxRuntime(1), runs=1)
    assert any(op.startswith("QLinear") for op in ops(fused)), ops(fused)
    # the weights' and input's Q/DQ pairs and the float convolution are gone into it
    assert "Conv" not in ops(fused) and ops(fused).count("DequantizeLinear") == 1


def test_the_same_kernel_has_one_key_across_files_and_other_shapes_another(tmp_path):
    runtime = OnnxRuntime(1)
    a = profile_kernels(conv_bn_relu(tmp_path / "a.onnx"), runtime, runs=1)
    b = profile_kernels(conv_bn_relu(tmp_path / "b.onnx", name="other"), runtime, runs=1)
    wide = profile_kernels(conv_bn_relu(tmp_path / "w.onnx", channels=16), runtime, runs=1)
    key = {k.kernel.key for k in a.kernels if k.kernel.op.endswith("Conv")}
    assert key == {k.kernel.key for k in b.kernels if k.kernel.op.endswith("Conv")}
    assert key.isdisjoint(k.kernel.key for k in wide.kernels)
    assert NetworkKernels.from_dict(a.to_dict()) == a


def test_the_trace_is_split_into_runs_and_the_warmup_left_out():
    def run(ts, node_durs):
        events = [{"cat": "Session", "name": "model_run", "ts": ts, "dur": 100}]
        for i, (name, dur) in enumerate(node_durs):
            events.append(
                {
                    "cat": "Node",
                    "name": f"{name}_kernel_time",
                    "ts": ts + 1 + i,
                    "dur": dur,
                    "args": {
                        "op_name": "Add",
                        "input_type_shape": [{"float": [1, 4]}, {"float": [1, 4]}],
                        "output_type_shape": [{"float": [1, 4]}],
                    },
                }
            )
        return events

    # a warm-up run (slow), then three runs; node "a" runs twice per run (a loop body)
    trace = run(0, [("a", 500), ("b", 900)])
    trace += run(1000, [("a", 10), ("a", 12), ("b", 30)])
    trace += run(2000, [("a", 11), ("a", 11), ("b", 31)])
    trace += run(3000, [("a", 50), ("a", 50), ("b", 29)])
    network = _read_trace(trace, {}, warmup=1)
    times = {k.node: k.median_us for k in network.kernels}
    assert times == {"a": 22.0, "b": 30.0}  # medians of the per-run sums 22, 22, 100 and 30, 31, 29
    assert network.runs == 3 and network.kernels[0].kernel.op == ":Add"
    assert network.kernels[0].kernel.inputs == ("float[1,4]", "float[1,4]")


def kernel(op, channels, side=8):
    return Kernel(
        op,
        ("group=1",),
        (f"float[1,{channels},{side},{side}]", f"float[{channels},{channels},3,3]"),
        (f"float[1,{channels},{side},{side}]",),
    )


def network(*pairs):
    from profilers.kernels import KernelTime

    kernels = tuple(KernelTime(f"n{i}", k, t, 5) for i, (k, t) in enumerate(pairs))
    return NetworkKernels(kernels, sum(t for _, t in pairs), 5)


def test_the_table_pools_by_median_and_estimates_unseen_kernels_by_their_work():
    table = KernelTable()
    with pytest.raises(ConfigError, match="empty"):
        table.time_us(kernel(":Conv", 8))
    table.add(network((kernel(":Conv", 8), 10.0), (kernel(":Conv", 8), 14.0)))
    table.add(network((kernel(":Conv", 8), 11.0)))
    assert table.time_us(kernel(":Conv", 8)) == (11.0, True)
    # 16 channels: 4x the work of 8 channels, so 4x the rate-scaled time
    estimate, seen = table.time_us(kernel(":Conv", 16))
    assert not seen and estimate == pytest.approx(44.0)
    total, unseen = table.kernel_sum([kernel(":Conv", 8), kernel(":Conv", 16)])
    assert total == pytest.approx(55.0) and unseen == 1
    # an operator never seen is priced at the overall rate
    assert table.time_us(kernel(":Gemm", 8)) == (pytest.approx(11.0), False)
    assert len(table) == 1 and kernel(":Conv", 8) in table


def test_profile_kernels_refuses_a_runtime_without_a_profiler(tiny_onnx):
    with pytest.raises(ConfigError, match="ONNX Runtime"):
        profile_kernels(tiny_onnx, object())
    with pytest.raises(ConfigError, match="runs >= 1"):
        profile_kernels(tiny_onnx, OnnxRuntime(1), runs=0)
