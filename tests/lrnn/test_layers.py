"""LRNN layers: hand-set parity solutions, the [0, 1] restriction, scans and steps agree."""

import numpy as np
import pytest
import torch

from hwnas.core.spaces.lrnn import LRNNArch, macs_per_token
from hwnas.core.spaces.lrnn_layers import LRNNConfig, LRNNModel
from hwnas.methods.lrnn.tasks import create_task
from hwnas.methods.lrnn.train import load_model, save_model

BIG = 30.0  # sigmoid(30) == 1 and 1 - 2 sigmoid(-30) == 1 in float32: transitions exactly +-1


def _hand_set_parity(recurrence: str, eigen_range: str) -> LRNNModel:
    """One layer that flips one state channel's sign on every 1 and keeps it on every 0.

    The state channel holds 0 (even) or 2 (odd); it is added to embedding channel 2 and read
    after the final LayerNorm by the head (class 1 when the normalised channel 2 is > 1.5).
    """
    arch = LRNNArch(recurrence, eigen_range, 1, 16, 4)
    model = LRNNModel(LRNNConfig(arch, vocab_size=2, num_classes=2))
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        for norm in (model.blocks[0].norm1, model.blocks[0].norm2, model.norm):
            norm.weight.fill_(1.0)
        model.embed.weight[0, :2] = torch.tensor([1.0, -1.0])
        model.embed.weight[1, :2] = torch.tensor([-1.0, 1.0])
        u0 = model.blocks[0].norm1(model.embed.weight[0])[0]  # channel 0 of token 0, normalised
        mixer = model.blocks[0].mixer
        w, bias = mixer.in_proj.weight, mixer.in_proj.bias
        if recurrence == "diag":
            s = arch.state
            w[0, 0] = -BIG / u0  # z = -BIG on a 0 (keep), +BIG on a 1 (flip)
            bias[1:s] = -BIG  # other channels keep their zero state
            bias[s] = 1.0  # v = 1 in channel 0
            mixer.out_proj.weight[2, 0] = 1.0
        else:
            h, n = mixer.heads, arch.state
            bias[0] = 5.0  # query of head 0 along e1 (after L2 norm)
            bias[h * n] = 5.0  # key of head 0 along e1
            bias[2 * h * n] = 1.0  # value of head 0 = e1
            w[3 * h * n, 0] = -BIG / u0  # beta of head 0: ~0 on a 0, 2 (or 1) on a 1
            bias[3 * h * n + 1 :] = -BIG  # other heads never write
            mixer.out_proj.weight[2, 0] = 1.0
        model.head.weight[1, 2] = 1.0
        model.head.bias[1] = -1.5
    return model.eval()


def _parity_accuracy(model, length=256, samples=200, scan="parallel") -> float:
    tokens, labels = create_task("parity").sample(np.random.default_rng(0), samples, length)
    model.set_scan(scan)
    with torch.no_grad():
        pred = model(torch.from_numpy(tokens))[:, -1].argmax(-1).numpy()
    return float((pred == labels).mean())


@pytest.mark.parametrize("recurrence", ["diag", "deltanet"])
def test_hand_set_negative_range_solves_parity_at_256(recurrence):
    model = _hand_set_parity(recurrence, "11")
    assert _parity_accuracy(model, scan="parallel") == 1.0
    assert _parity_accuracy(model, scan="sequential") == 1.0
    # every prefix too, not just the last position
    tokens = torch.from_numpy(create_task("parity").sample(np.random.default_rng(1), 50, 256)[0])
    with torch.no_grad():
        pred = model(tokens).argmax(-1)
    assert torch.equal(pred, tokens.cumsum(1) % 2)


@pytest.mark.parametrize("recurrence", ["diag", "deltanet"])
def test_unit_range_cannot_flip_the_sign(recurrence):
    # The same weights with eigenvalues in [0, 1]: a 1 now resets the channel instead of
    # flipping it, so the model no longer computes parity.
    model = _hand_set_parity(recurrence, "01")
    assert _parity_accuracy(model) < 0.7
    # And no weights give a negative transition: scale every weight up and look.
    torch.manual_seed(0)
    arch = LRNNArch(recurrence, "01", 1, 16, 4)
    mixer = LRNNModel(LRNNConfig(arch, 2, 2)).blocks[0].mixer
    with torch.no_grad():
        for p in mixer.parameters():
            p.mul_(100.0)
        u = torch.randn(4096, 16) * 10
        if recurrence == "diag":
            a, _ = mixer.coefficients(u)
            assert a.min() >= 0 and a.max() <= 1
        else:
            _, _, _, beta = mixer.coefficients(u)
            assert beta.min() >= 0 and beta.max() <= 1  # eigenvalue 1 - beta in [0, 1]


@pytest.mark.parametrize("arch", ["lrnn:diag-11-L2-W16-S8", "lrnn:deltanet-11-L2-W16-S4"])
def test_scans_and_steps_agree(arch):
    torch.manual_seed(0)
    model = LRNNModel(LRNNConfig(LRNNArch.from_string(arch), vocab_size=5, num_classes=3)).eval()
    tokens = torch.randint(0, 5, (3, 50))
    with torch.no_grad():
        parallel = model(tokens)
        model.set_scan("sequential")
        sequential = model(tokens)
        states = model.init_states(3)
        steps = []
        for t in range(tokens.shape[1]):
            logits, states = model.step(tokens[:, t], states)
            steps.append(logits)
    torch.testing.assert_close(parallel, sequential, rtol=0, atol=1e-5)
    torch.testing.assert_close(torch.stack(steps, 1), sequential, rtol=0, atol=1e-5)


@pytest.mark.parametrize("arch", ["lrnn:diag-01-L2-W32-S8", "lrnn:deltanet-11-L1-W32-S8"])
def test_macs_per_token_counts_the_linear_layers(arch):
    arch = LRNNArch.from_string(arch)
    model = LRNNModel(LRNNConfig(arch, vocab_size=2, num_classes=2))
    linear = sum(
        m.in_features * m.out_features for m in model.modules() if hasattr(m, "in_features")
    )
    s = arch.state
    heads = 1 if arch.recurrence == "diag" else model.blocks[0].mixer.heads
    recurrence = 2 * s if arch.recurrence == "diag" else heads * 3 * s * s
    assert macs_per_token(arch) == linear + arch.layers * recurrence


def test_save_and_load_round_trip(tmp_path):
    torch.manual_seed(0)
    model = LRNNModel(LRNNConfig(LRNNArch.from_string("lrnn:deltanet-01-L1-W16-S8"), 8, 5))
    save_model(model, tmp_path)
    loaded = load_model(tmp_path)
    tokens = torch.randint(0, 8, (2, 9))
    with torch.no_grad():
        torch.testing.assert_close(loaded(tokens), model.eval()(tokens))
    assert loaded.config == model.config
