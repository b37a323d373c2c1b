"""The NAS-Bench-201 network builder, its parameter/FLOP counts, and its ONNX export."""

import numpy as np
import pytest
import torch

from hwnas.core.batchnorm import random_batches, recalibrate_batchnorm
from hwnas.core.complexity import count_macs, count_params
from hwnas.core.export import OnnxExport, export_onnx, max_abs_error_vs_torch
from hwnas.core.spaces import NB201Arch, create_space
from hwnas.core.spaces.nb201_net import NB201Network

SPACE = create_space("nb201")
ALL_3X3 = NB201Arch(("nor_conv_3x3",) * 6)


def test_output_shape_and_stages():
    net = SPACE.build(ALL_3X3, num_classes=100).eval()
    with torch.no_grad():
        assert net(torch.randn(2, 3, 32, 32)).shape == (2, 100)
    assert len(net.cells) == 3 * 5 + 2  # 15 cells and 2 reduction blocks


def test_counts_match_nas_bench_201():
    # NAS-Bench-201 lists the all-3x3 cell on CIFAR-10 at 1.531546 M parameters, 220.11 M FLOPs.
    net = SPACE.build(ALL_3X3)
    assert count_params(net) == 1_531_546
    assert count_macs(net, (1, 3, 32, 32)) == pytest.approx(220.11e6, rel=1e-4)


def test_macs_hand_computed():
    conv = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.Flatten(), torch.nn.Linear(4 * 5 * 5, 7)
    )
    # conv: 4*5*5 outputs * (3*3*3) ; linear: 7 outputs * 100 inputs
    assert count_macs(conv, (1, 3, 5, 5)) == 100 * 27 + 700
    assert count_params(conv) == 4 * 27 + 4 + 700 + 7


def test_none_edges_are_dropped_and_cost_nothing():
    all_none = NB201Arch(("none",) * 6)
    net = SPACE.build(all_none).eval()
    cell_params = sum(p.numel() for c in net.cells if hasattr(c, "edges") for p in c.parameters())
    assert cell_params == 0
    with torch.no_grad():  # every cell outputs zeros, so the logits are the classifier's bias
        out = net(torch.randn(3, 3, 32, 32))
    assert torch.allclose(out, net.classifier.bias.expand(3, -1))


def test_skip_only_cell_is_identity():
    skip = NB201Arch.from_string(
        "|skip_connect~0|+|none~0|skip_connect~1|+|none~0|none~1|skip_connect~2|"
    )
    cell = NB201Network(skip).cells[0]
    x = torch.randn(1, 16, 32, 32)
    assert torch.equal(cell(x), x)


def test_batchnorm_recalibration_normalises_activations():
    net = SPACE.build(ALL_3X3)
    recalibrate_batchnorm(net, random_batches((8, 3, 32, 32), count=3))
    assert not net.training
    stem_norm = net.stem[1]
    assert stem_norm.num_batches_tracked == 3 and stem_norm.momentum == 0.1
    with torch.no_grad():
        features = net.stem(torch.randn(64, 3, 32, 32))
    assert features.mean().abs() < 0.05 and 0.9 < features.std() < 1.1


def test_bad_builder_arguments():
    with pytest.raises(ValueError, match="positive"):
        NB201Network(ALL_3X3, channels=0)


@pytest.mark.slow
def test_twenty_random_cells_export_and_match(tmp_path):
    rng = np.random.default_rng(2026)
    inputs = rng.standard_normal((3, 3, 32, 32), dtype=np.float32)  # batch 3 != export batch 2
    errors = []
    for i in range(20):
        arch = SPACE.sample(rng)
        torch.manual_seed(i)
        net = SPACE.build(arch).eval()
        recalibrate_batchnorm(net, random_batches((16, 3, 32, 32), seed=i))
        result = export_onnx(net, SPACE.input_shape, tmp_path / f"{i}.onnx")
        assert result.exporter in ("dynamo", "legacy")
        errors.append(max_abs_error_vs_torch(net, result.path, inputs))
    assert max(errors) <= 1e-4, errors


def test_legacy_exporter_and_config(tmp_path):
    net = SPACE.build(ALL_3X3).eval()
    result = export_onnx(net, SPACE.input_shape, tmp_path / "m.onnx", OnnxExport(exporter="legacy"))
    assert result.exporter == "legacy" and result.fallback_reason is None
    inputs = np.random.default_rng(0).standard_normal((1, 3, 32, 32), dtype=np.float32)
    assert max_abs_error_vs_torch(net, result.path, inputs) <= 1e-4
    with pytest.raises(ValueError, match="exporter"):
        OnnxExport(exporter="tflite")
    with pytest.raises(ValueError, match="example_batch >= 2"):
        OnnxExport(example_batch=1)
    assert OnnxExport.from_dict(OnnxExport(opset=17).to_dict()) == OnnxExport(opset=17)
