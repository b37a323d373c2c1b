"""Kernel profiles are found the same way for every kind of graph hwnas exports."""

import numpy as np
import onnx
import pytest

from hwnas.core.export import OnnxExport, export_onnx
from hwnas.core.spaces import create_space
from profilers import OnnxRuntime
from profilers.kernels import KernelTable, profile_kernels


def small(space_name):
    space = create_space(space_name)
    arch = space.reference_archs()[0]
    if space_name == "nb201":
        return space.build(arch, channels=4, cells_per_stage=1), space.input_shape
    if space_name == "darts":
        return space.build(arch, channels=4, layers=2), space.input_shape
    return space.build(arch), space.input_shape


@pytest.mark.parametrize("space_name", ["nb201", "fbnet", "darts"])
def test_a_cell_network_of_each_space_has_kernels_that_price_it(space_name, tmp_path):
    module, shape = small(space_name)
    path = export_onnx(module, shape, tmp_path / "m.onnx", OnnxExport(exporter="legacy")).path
    network = profile_kernels(path, OnnxRuntime(1), runs=2)
    ops = {k.kernel.op.split(":")[-1] for k in network.kernels}
    assert any("Conv" in op for op in ops), ops
    # BatchNorm is folded into the convolution before it; one that follows no convolution
    # (DARTS' FactorizedReduce normalises a Concat of two) runs as its own kernel
    graph = onnx.load(path).graph
    producer = {out: node.op_type for node in graph.node for out in node.output}
    unfoldable = sum(
        n.op_type == "BatchNormalization" and producer.get(n.input[0]) != "Conv" for n in graph.node
    )
    assert sum(k.kernel.op.endswith("BatchNormalization") for k in network.kernels) <= unfoldable
    table = KernelTable()
    table.add(network)
    total, unseen = table.kernel_sum(k.kernel for k in network.kernels)
    # every kernel is priced at the median of its key's times in this network
    times = {}
    for k in network.kernels:
        times.setdefault(k.kernel.key, []).append(k.median_us)
    expected = sum(float(np.median(times[k.kernel.key])) for k in network.kernels)
    assert unseen == 0 and total == pytest.approx(expected)


def test_an_lrnn_graph_with_token_inputs_has_kernels(tmp_path):
    from hwnas.methods.lrnn.export import export_lrnn_graphs

    space = create_space("lrnn")
    model = space.build(space.reference_archs()[0])
    graphs = export_lrnn_graphs(model, tmp_path)
    network = profile_kernels(graphs.unrolled_onnx, OnnxRuntime(1), runs=2)
    assert len(network.kernels) > 3 and network.kernel_sum_us > 0
    assert all(np.isfinite(k.median_us) for k in network.kernels)
