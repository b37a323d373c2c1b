"""First- and second-order architecture steps."""

import pytest
import torch

from hwnas.core.spaces.darts import cell_space
from hwnas.methods.darts.architect import Architect, ArchitectConfig
from hwnas.methods.darts.search_model import CellSearchNetwork, NB201SearchModel


def _batches(dtype=torch.float32):
    g = torch.Generator().manual_seed(0)
    train = (
        torch.randn(8, 1, 4, 4, generator=g, dtype=dtype),
        torch.randint(0, 3, (8,), generator=g),
    )
    valid = (
        torch.randn(8, 1, 4, 4, generator=g, dtype=dtype),
        torch.randint(0, 3, (8,), generator=g),
    )
    return train, valid


def test_first_order_step_moves_alphas_only():
    model = NB201SearchModel(num_classes=3, channels=2, cells_per_stage=1, in_channels=1)
    weights = [p.detach().clone() for p in model.weight_parameters()]
    alphas = model.alphas.detach().clone()
    train, valid = _batches()
    Architect(model, ArchitectConfig(order=1, lr=0.1)).step(train, valid, w_lr=0.1)
    assert not torch.equal(model.alphas, alphas)
    assert all(torch.equal(p, w) for p, w in zip(model.weight_parameters(), weights))


def test_second_order_gradient_matches_exact_unrolled_gradient():
    """Finite-difference DARTS gradient vs autograd through w' = w - xi grad_w L_train."""
    torch.manual_seed(0)
    model = NB201SearchModel(num_classes=3, channels=2, cells_per_stage=1, in_channels=1).double()
    with torch.no_grad():
        model.alphas.copy_(torch.randn(6, 5))
    train, valid = _batches(torch.float64)
    xi = 0.5
    architect = Architect(model, ArchitectConfig(order=2, fd_radius=1e-4))
    state = {k: v.clone() for k, v in model.state_dict().items()}
    _, approx = architect.unrolled_gradient(train, valid, xi)
    for key, value in model.state_dict().items():  # weights and BN statistics restored
        assert torch.equal(value, state[key]), key

    weights = model.weight_parameters()
    names = [n for n, p in model.named_parameters() if n != "alphas"]
    criterion = torch.nn.CrossEntropyLoss()
    grads = torch.autograd.grad(criterion(model(train[0]), train[1]), weights, create_graph=True)
    unrolled = {n: w - xi * g for n, w, g in zip(names, weights, grads)}
    unrolled["alphas"] = model.alphas
    logits = torch.func.functional_call(model, unrolled, (valid[0],))
    (exact,) = torch.autograd.grad(criterion(logits, valid[1]), [model.alphas])
    assert torch.allclose(approx[0], exact, rtol=1e-3, atol=1e-6)
    first_order = torch.autograd.grad(criterion(model(valid[0]), valid[1]), [model.alphas])[0]
    assert not torch.allclose(first_order, exact, rtol=1e-3, atol=1e-6)  # the term matters


@pytest.mark.parametrize("order", [1, 2])
def test_steps_run_on_a_cell_space_network(order):
    model = CellSearchNetwork(cell_space("s3"), channels=2, layers=3, num_classes=3, in_channels=1)
    optimizer = torch.optim.SGD(model.weight_parameters(), 0.1, momentum=0.9, weight_decay=3e-4)
    train, valid = _batches()
    before = [a.detach().clone() for a in model.arch_parameters()]
    loss = Architect(model, ArchitectConfig(order=order, lr=0.01)).step(
        train, valid, 0.1, optimizer
    )
    assert loss > 0
    assert any(not torch.equal(a, b) for a, b in zip(model.arch_parameters(), before))
    assert model.derive().space == "s3"


@pytest.mark.parametrize("name", ["darts", "s1", "s2", "s3", "s4"])
def test_every_cell_space_builds_a_search_network(name):
    model = CellSearchNetwork(cell_space(name), channels=2, layers=3, num_classes=3, in_channels=1)
    assert model(torch.randn(2, 1, 8, 8)).shape == (2, 3)
    assert model.alphas_normal.shape == (14, cell_space(name).num_ops)
    assert model.derive().space == name


def test_search_config_rejects_unknown_space_and_mode():
    from hwnas.core.spaces import UnknownSpaceError
    from hwnas.errors import InputError
    from hwnas.methods.darts.search import SearchConfig

    with pytest.raises(UnknownSpaceError, match="known: darts, s1, s2, s3, s4, nb201"):
        SearchConfig(space="s5")
    with pytest.raises(InputError, match="unknown mode"):
        SearchConfig(mode="sdarts")
