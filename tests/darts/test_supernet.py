"""The NB201 supernet driven by external architecture weights, and its argmax helper."""

import pytest
import torch

from hwnas.core.spaces.nb201 import OPS, NB201Arch
from hwnas.core.spaces.nb201_supernet import (
    ArchWeightsError,
    NB201Supernet,
    arch_from_weights,
    weights_from_arch,
)

ARCH = NB201Arch.from_string(
    "|nor_conv_3x3~0|+|skip_connect~0|none~1|+|avg_pool_3x3~0|nor_conv_1x1~1|skip_connect~2|"
)


@pytest.fixture(scope="module")
def supernet():
    torch.manual_seed(0)
    return NB201Supernet(num_classes=4, channels=4, cells_per_stage=1, in_channels=1).eval()


def test_forward_takes_softmax_and_one_hot_weights(supernet):
    x = torch.randn(2, 1, 8, 8)
    soft = torch.softmax(torch.randn(6, 5), dim=-1)
    assert supernet(x, soft).shape == (2, 4)
    assert supernet(x, weights_from_arch(ARCH)).shape == (2, 4)
    with pytest.raises(ArchWeightsError, match=r"\(6, 5\)"):
        supernet(x, torch.ones(5, 6))


def test_one_hot_weights_ignore_unselected_operations(supernet):
    """With one-hot weights the output depends only on the chosen operations' parameters."""
    x = torch.randn(2, 1, 8, 8)
    weights = weights_from_arch(ARCH)
    before = supernet(x, weights)
    with torch.no_grad():
        for cell in (m for m in supernet.modules() if hasattr(m, "edges")):
            for edge, op in zip(cell.edges, ARCH.ops):
                for name, module in edge.ops.items():
                    if name != op:
                        for p in module.parameters():
                            p.add_(1.0)
    assert torch.allclose(supernet(x, weights), before, atol=1e-6)


def test_gradient_reaches_external_weights(supernet):
    weights = torch.softmax(torch.zeros(6, 5, requires_grad=True), dim=-1)
    weights.retain_grad()
    supernet(torch.randn(2, 1, 8, 8), weights).sum().backward()
    assert weights.grad is not None and weights.grad.abs().sum() > 0


def test_arch_from_weights_is_the_argmax_and_inverts_one_hot():
    assert arch_from_weights(weights_from_arch(ARCH)) == ARCH
    weights = torch.zeros(6, 5)
    weights[:, OPS.index("nor_conv_3x3")] = 1.0
    weights[0, OPS.index("skip_connect")] = 2.0
    assert arch_from_weights(weights).ops == ("skip_connect",) + ("nor_conv_3x3",) * 5
    with pytest.raises(ArchWeightsError, match="NaN"):
        arch_from_weights(torch.full((6, 5), float("nan")))
    with pytest.raises(ArchWeightsError, match=r"\(6, 5\)"):
        arch_from_weights(torch.zeros(6, 4))
