"""Sequential and parallel scans agree, negative transitions included, and match hand cases.

Tolerances: float64 checks are held to 1e-12; float32 ones to 1e-5 (absolute, states of
order 1 over up to 100 steps).
"""

import pytest
import torch

from hwnas.core.spaces.lrnn_scan import (
    delta_scan_parallel,
    delta_scan_sequential,
    delta_transitions,
    diagonal_scan_parallel,
    diagonal_scan_sequential,
    matrix_scan_parallel,
    matrix_scan_sequential,
)

LENGTHS = [1, 2, 3, 7, 40, 100]


@pytest.mark.parametrize("steps", LENGTHS)
@pytest.mark.parametrize(("dtype", "tol"), [(torch.float64, 1e-12), (torch.float32, 1e-5)])
def test_diagonal_scans_agree_with_negative_transitions(steps, dtype, tol):
    g = torch.Generator().manual_seed(steps)
    a = torch.rand(3, steps, 5, generator=g, dtype=dtype) * 2 - 1  # (-1, 1)
    b = torch.randn(3, steps, 5, generator=g, dtype=dtype)
    h0 = torch.randn(3, 5, generator=g, dtype=dtype)
    assert (a < 0).any()
    for init in (None, h0):
        seq = diagonal_scan_sequential(a, b, init)
        par = diagonal_scan_parallel(a, b, init)
        torch.testing.assert_close(par, seq, rtol=0, atol=tol)


def test_diagonal_scan_exact_for_sign_flips():
    # a = -1 at every step flips the state: log-space tricks cannot represent this.
    a = -torch.ones(1, 5, 1, dtype=torch.float64)
    b = torch.zeros(1, 5, 1, dtype=torch.float64)
    h0 = torch.ones(1, 1, dtype=torch.float64)
    expected = torch.tensor([-1.0, 1.0, -1.0, 1.0, -1.0], dtype=torch.float64).view(1, 5, 1)
    assert torch.equal(diagonal_scan_parallel(a, b, h0), expected)
    assert torch.equal(diagonal_scan_sequential(a, b, h0), expected)


def test_diagonal_scan_hand_case():
    # h1 = 2*0 + 1 = 1, h2 = -1*1 + 3 = 2, h3 = 0.5*2 + 0 = 1
    a = torch.tensor([[2.0, -1.0, 0.5]], dtype=torch.float64)
    b = torch.tensor([[1.0, 3.0, 0.0]], dtype=torch.float64)
    expected = torch.tensor([[1.0, 2.0, 1.0]], dtype=torch.float64)
    assert torch.equal(diagonal_scan_parallel(a, b), expected)


@pytest.mark.parametrize("steps", LENGTHS)
@pytest.mark.parametrize(("dtype", "tol"), [(torch.float64, 1e-12), (torch.float32, 1e-5)])
def test_delta_scans_agree_with_negative_eigenvalues(steps, dtype, tol):
    g = torch.Generator().manual_seed(100 + steps)
    k = torch.nn.functional.normalize(torch.randn(2, steps, 3, 4, generator=g, dtype=dtype), dim=-1)
    v = torch.randn(2, steps, 3, 4, generator=g, dtype=dtype)
    beta = torch.rand(2, steps, 3, generator=g, dtype=dtype) * 2  # eigenvalue 1 - beta in (-1, 1)
    s0 = torch.randn(2, 3, 4, 4, generator=g, dtype=dtype)
    assert (beta > 1).any()
    for init in (None, s0):
        seq = delta_scan_sequential(k, v, beta, init)
        par = delta_scan_parallel(k, v, beta, init)
        torch.testing.assert_close(par, seq, rtol=0, atol=tol)
        a, b = delta_transitions(k, v, beta)
        torch.testing.assert_close(matrix_scan_sequential(a, b, init), seq, rtol=0, atol=tol)


def test_delta_transition_eigenvalues():
    k = torch.nn.functional.normalize(torch.randn(1, 1, 5, dtype=torch.float64), dim=-1)
    a, _ = delta_transitions(k, torch.zeros(1, 1, 2, dtype=torch.float64), torch.tensor([[1.8]]))
    eig = torch.linalg.eigvalsh(a[0, 0])
    torch.testing.assert_close(eig, torch.tensor([-0.8, 1, 1, 1, 1], dtype=torch.float64))


def test_matrix_scan_parallel_hand_case():
    # Reflection R: S1 = R*0 + B = B, S2 = R B + B
    r = torch.tensor([[0.0, 1.0], [1.0, 0.0]], dtype=torch.float64)
    b = torch.tensor([[1.0], [2.0]], dtype=torch.float64)
    a_seq = r.expand(1, 2, 2, 2)
    b_seq = b.expand(1, 2, 2, 1)
    out = matrix_scan_parallel(a_seq, b_seq)
    torch.testing.assert_close(out[0, 1], r @ b + b)


def test_scan_shape_errors():
    with pytest.raises(ValueError, match="differ in"):
        diagonal_scan_parallel(torch.ones(2, 3, 4), torch.ones(2, 4, 4))
