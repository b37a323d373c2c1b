"""Dominant eigenvalue by Hessian-vector products, against exact Hessians of small problems."""

import torch

from hwnas.core.spaces.nb201_supernet import NB201Supernet
from hwnas.methods.darts.hessian import dominant_eigenvalue


def test_quadratic_with_known_spectrum():
    a = torch.diag(torch.tensor([3.0, -1.0, 0.5, 7.0], dtype=torch.float64))
    q, _ = torch.linalg.qr(
        torch.randn(4, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    )
    matrix = q @ a @ q.T
    x = torch.zeros(4, dtype=torch.float64, requires_grad=True)
    result = dominant_eigenvalue(
        lambda: 0.5 * x @ matrix @ x + x.sum(), [x], max_iter=200, rel_tol=1e-10
    )
    assert abs(result.value - 7.0) < 1e-6 and result.converged


def test_negative_dominant_eigenvalue_keeps_its_sign():
    x = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    weights = torch.tensor([-5.0, 1.0, 2.0], dtype=torch.float64)
    result = dominant_eigenvalue(
        lambda: 0.5 * (weights * x * x).sum(), [x], max_iter=200, rel_tol=1e-10
    )
    assert abs(result.value + 5.0) < 1e-6


def test_architecture_hessian_of_tiny_supernet_matches_exact_eigenvalue():
    torch.manual_seed(0)
    net = NB201Supernet(num_classes=3, channels=2, cells_per_stage=1, in_channels=1).double()
    x = torch.randn(6, 1, 4, 4, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    criterion = torch.nn.CrossEntropyLoss()
    alphas = torch.randn(6, 5, dtype=torch.float64, requires_grad=True)

    def loss_of(a):
        return criterion(net(x, torch.softmax(a, dim=-1)), y)

    exact = torch.autograd.functional.hessian(loss_of, alphas.detach()).reshape(30, 30)
    eigenvalues = torch.linalg.eigvalsh(exact)
    dominant = eigenvalues[eigenvalues.abs().argmax()].item()
    result = dominant_eigenvalue(lambda: loss_of(alphas), [alphas], max_iter=500, rel_tol=1e-9)
    assert abs(result.value - dominant) <= 1e-4 * abs(dominant)


def test_non_finite_loss_gives_nan_not_a_number():
    x = torch.zeros(2, requires_grad=True)
    result = dominant_eigenvalue(lambda: (x * float("nan")).sum(), [x])
    assert not result.finite and not result.converged
