"""The FBNet network builder: shapes, skip layers, blocks, parameter/MAC counts, ONNX export."""

import numpy as np
import pytest
import torch
from torch import nn

from hwnas.core.batchnorm import random_batches, recalibrate_batchnorm
from hwnas.core.complexity import count_macs, count_params
from hwnas.core.export import export_onnx, max_abs_error_vs_torch
from hwnas.core.spaces import FBNetArch, create_space
from hwnas.core.spaces.fbnet import FBNET_C
from hwnas.core.spaces.fbnet_macro import layer_shapes
from hwnas.core.spaces.fbnet_net import ChannelShuffle, FBNetNetwork, InvertedResidual

CIFAR = create_space("fbnet")
IMAGENET = create_space("fbnet", macro="imagenet")
# small inputs keep the forward passes cheap; the counts have closed forms for any size
SMALL_CIFAR = create_space("fbnet", input_size=16)
SMALL_IMAGENET = create_space("fbnet", macro="imagenet", input_size=64)
ALL_SKIP = FBNetArch(("skip",) * 22)


def test_output_shapes_in_both_settings():
    arch = FBNetArch.from_string(FBNET_C)
    cifar = CIFAR.build(arch).eval()
    with torch.no_grad():
        assert cifar(torch.randn(2, 3, 32, 32)).shape == (2, 100)
        small_imagenet = IMAGENET.build(arch, num_classes=10).eval()
        assert small_imagenet(torch.randn(2, 3, 64, 64)).shape == (2, 10)
    assert len(cifar.layers) == 22


def test_stage_layout():
    cifar = layer_shapes("cifar100")
    channels = [16, 24, 32, 64, 112, 184, 352]
    depths = [1, 4, 4, 4, 4, 4, 1]
    assert [s.c_out for s in cifar] == [c for c, d in zip(channels, depths) for _ in range(d)]
    stage_starts = [0, 1, 5, 9, 13, 17, 21]
    assert [cifar[i].size_in for i in stage_starts] == [32, 32, 32, 16, 8, 8, 4]
    assert cifar[-1].size_out == 4
    imagenet = layer_shapes("imagenet")
    assert imagenet[0].size_in == 112 and imagenet[-1].size_out == 7  # 224 / 32
    assert [i for i, s in enumerate(imagenet) if s.stride == 2] == [1, 5, 9, 17]


def test_skip_is_identity_unless_the_shape_changes():
    net = FBNetNetwork(ALL_SKIP)  # cifar100: strides 1,1,2,2,1,2,1
    kinds = [type(layer).__name__ for layer in net.layers]
    projecting = [i for i, kind in enumerate(kinds) if kind != "Identity"]
    assert projecting == [1, 5, 9, 13, 17, 21]  # every stage's first layer except the 16->16 one
    conv = net.layers[5][0]
    assert conv.kernel_size == (1, 1) and conv.stride == (2, 2) and conv.out_channels == 32
    assert net.layers[1][0].stride == (1, 1)  # 16 -> 24 channels at stride 1
    with torch.no_grad():
        assert net.eval()(torch.randn(1, 3, 16, 16)).shape == (1, 100)


def test_block_residual_and_groups():
    shape = layer_shapes("cifar100")[2]  # 24 -> 24, stride 1
    block = InvertedResidual(shape, kernel=5, expansion=1, groups=2).eval()
    assert block.residual
    assert block.expand[0].groups == 2 and block.project[0].groups == 2
    assert block.depthwise[0].groups == 24 and block.depthwise[0].kernel_size == (5, 5)
    nn.init.zeros_(block.project[1].weight)  # the branch now outputs exactly zero
    x = torch.randn(2, 24, 8, 8)
    with torch.no_grad():
        assert torch.equal(block(x), x)
    down = InvertedResidual(layer_shapes("cifar100")[5], kernel=3, expansion=6, groups=1)
    assert not down.residual and down.expand[0].out_channels == 24 * 6


def test_channel_shuffle_by_hand():
    x = torch.arange(6.0).reshape(1, 6, 1, 1)
    assert ChannelShuffle(2)(x).flatten().tolist() == [0, 3, 1, 4, 2, 5]


def test_fbnet_c_matches_published_size():
    arch = FBNetArch.from_string(FBNET_C)
    params, macs = IMAGENET.costs([arch])  # equal to the counted ones (next test)
    # timm's fbnetc_100 has 5.57 M parameters; the FBNet paper gives 375 M FLOPs (MACs).
    assert count_params(IMAGENET.build(arch)) == params[0] == pytest.approx(5.57e6, rel=2e-3)
    assert macs[0] == pytest.approx(375e6, rel=0.03)


@pytest.mark.parametrize("space", [SMALL_CIFAR, SMALL_IMAGENET], ids=["cifar100", "imagenet"])
def test_closed_form_costs_equal_counted_ones(space):
    rng = np.random.default_rng(4)
    archs = [space.sample(rng), ALL_SKIP, FBNetArch.from_string(FBNET_C)]
    params, macs = space.costs(archs)
    for arch, p, m in zip(archs, params, macs):
        net = space.build(arch)
        assert count_params(net) == p
        assert count_macs(net, (1, *space.input_shape)) == m


def test_closed_form_costs_follow_input_size_and_classes():
    arch = FBNetArch.from_string(FBNET_C)
    net = SMALL_IMAGENET.build(arch, num_classes=10)
    params_48, macs_48 = create_space("fbnet", macro="imagenet", input_size=48).costs(
        [arch], num_classes=10
    )
    params_224, macs_224 = IMAGENET.costs([arch], num_classes=10)
    assert count_params(net) == params_48[0] == params_224[0]  # parameters ignore the input
    assert count_macs(net, (1, 3, 48, 48)) == macs_48[0] < macs_224[0]


def test_bad_builder_arguments():
    with pytest.raises(ValueError, match="num_classes"):
        FBNetNetwork(ALL_SKIP, num_classes=0)
    with pytest.raises(TypeError, match="FBNetArch"):
        FBNetNetwork(FBNET_C)
    with pytest.raises(ValueError, match="unknown FBNet setting"):
        FBNetNetwork(ALL_SKIP, macro="cifar")


def test_onnx_export_matches_pytorch(tmp_path):
    # every kind of layer: grouped blocks with shuffle, 3x3/5x5, e1/e3/e6, identity and
    # projecting skips; the ops are the same in the imagenet setting, only strides differ
    arch = "k3_e1_g2-skip-k5_e1_g2-k3_e6-k5_e3-skip-k3_e1-k5_e6-k3_e3-k5_e1-skip-k3_e1_g2-k5_e6-skip-k3_e3-k5_e1_g2-k3_e6-k5_e6-skip-k3_e1-k5_e3-k3_e1_g2"
    space = SMALL_CIFAR
    torch.manual_seed(0)
    net = space.build(FBNetArch.from_string(arch))
    net.classifier.reset_parameters()  # logits of order one, not HW-NAS-Bench's 1e-3 init
    recalibrate_batchnorm(net, random_batches((8, *space.input_shape), count=2))
    result = export_onnx(net, space.input_shape, tmp_path / "fbnet.onnx")
    assert result.exporter in ("dynamo", "legacy")
    inputs = np.random.default_rng(1).standard_normal((3, *space.input_shape), dtype=np.float32)
    with torch.no_grad():
        scale = net(torch.from_numpy(inputs)).abs().max().item()
    assert scale > 0.1  # the comparison is not between near-zero outputs
    assert max_abs_error_vs_torch(net, result.path, inputs) <= 1e-4
