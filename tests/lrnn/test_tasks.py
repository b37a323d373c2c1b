"""Task generators: labels checked against Python's own arithmetic, seeds, length balance."""

import numpy as np
import pytest

from hwnas.methods.lrnn.tasks import TaskError, create_task, training_batch


def _python_value(text: str) -> int:
    # The vocabulary is digits, + - * ( ): Python evaluates it with the same precedence.
    assert set(text) <= set("01234+-*()")
    return eval(text) % 5  # noqa: S307 - text is built from a closed 10-symbol vocabulary


def test_parity_labels_and_prefixes():
    task = create_task("parity")
    tokens, labels = task.sample(np.random.default_rng(0), 50, 9)
    assert tokens.shape == (50, 9) and set(np.unique(tokens)) <= {0, 1}
    assert np.array_equal(labels, tokens.sum(1) % 2)
    targets, valid = task.prefix_targets(tokens)
    assert valid.all()
    assert np.array_equal(targets[:, 4], tokens[:, :5].sum(1) % 2)


def test_modarith_hand_case():
    task = create_task("modarith")
    tokens = np.array([[task.vocab.index(c) for c in "3+4*2-1*3"]])
    targets, valid = task.prefix_targets(tokens)
    # prefixes 3, 3+4, 3+4*2, 3+4*2-1, 3+4*2-1*3
    assert targets[0, valid[0]].tolist() == [3, 7 % 5, 11 % 5, 10 % 5, 8 % 5]


@pytest.mark.parametrize("length", [1, 3, 9, 40, 41])
def test_modarith_matches_python(length):
    task = create_task("modarith")
    tokens, labels = task.sample(np.random.default_rng(length), 200, length)
    assert tokens.shape[1] == task.valid_length(length) == (length if length % 2 else length - 1)
    for row, label in zip(tokens, labels):
        assert _python_value(task.decode(row)) == label


@pytest.mark.parametrize("length", [1, 2, 3, 4, 5, 6, 17, 40])
def test_modarith_brackets_matches_python(length):
    task = create_task("modarith_brackets")
    tokens, labels = task.sample(np.random.default_rng(length), 100, length)
    assert tokens.shape == (100, length)
    for row, label in zip(tokens, labels):
        assert _python_value(task.decode(row)) == label


def test_generators_are_seeded():
    for name in ("parity", "modarith", "modarith_brackets"):
        task = create_task(name)
        a = task.sample(np.random.default_rng(7), 4, 21)
        b = task.sample(np.random.default_rng(7), 4, 21)
        assert all(np.array_equal(x, y) for x, y in zip(a, b))


def test_last_supervision_balances_lengths():
    task = create_task("parity")
    batch = training_batch(task, np.random.default_rng(0), 76, 3, 40, supervision="last")
    lengths = batch.mask.argmax(1) + 1
    assert batch.mask.sum(1).tolist() == [1] * 76
    assert np.bincount(lengths, minlength=41)[3:].tolist() == [2] * 38
    rows = np.arange(76)
    assert np.array_equal(
        batch.targets[rows, lengths - 1],
        [batch.tokens[r, :n].sum() % 2 for r, n in zip(rows, lengths)],
    )


def test_prefix_supervision_labels_lengths_3_to_40():
    task = create_task("modarith")
    batch = training_batch(task, np.random.default_rng(0), 8, 3, 40)
    assert batch.tokens.shape == (8, 39)
    labelled = np.flatnonzero(batch.mask[0]) + 1
    assert labelled.tolist() == list(range(3, 40, 2))


def test_task_errors():
    with pytest.raises(TaskError, match="known tasks: parity"):
        create_task("dyck")
    with pytest.raises(TaskError, match="labels only whole sequences"):
        training_batch(create_task("modarith_brackets"), np.random.default_rng(0), 4, 3, 40)
    with pytest.raises(TaskError, match="min_length <= max_length"):
        training_batch(create_task("parity"), np.random.default_rng(0), 4, 41, 40)
