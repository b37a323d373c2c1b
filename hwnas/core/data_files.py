"""A user's own images: `npz:PATH` arrays and `folder:PATH` trees of PNG/JPEG files.

Both readers return raw pixels as the data holds them, checked: (N, C, H, W) float32 with C 1
or 3, finite values, integer labels in 0..classes-1 and every class present in the training
images. Anything else is a one-line `DatasetError` naming the file and what is wrong.

- `npz:PATH`: arrays ``x`` (N, C, H, W) floating point and ``y`` (N,) integers; optional
  ``x_test`` and ``y_test`` (the test split), optional ``class_names`` (one string per class;
  without it the classes are 0..max(y)). Read with ``allow_pickle=False``.
- `folder:PATH`: one sub-folder per class (its name is the class name, classes in sorted
  order) of ``.png``/``.jpg``/``.jpeg`` images, or ``train/`` and ``test/`` sub-folders laid out
  so. Images are read with Pillow as 8-bit grey (``L``, 1 channel) when every image is grey,
  else RGB (3 channels), and scaled to [0, 1]; all must share one size.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hwnas.errors import InputError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
_GREY_MODES = ("1", "L", "LA", "I", "I;16", "F")

Split = tuple[np.ndarray, np.ndarray]


class DatasetError(InputError):
    """A dataset folder or file that is missing, corrupt or in another format."""


def check_images(x: np.ndarray, source: str, what: str = "x") -> np.ndarray:
    """`x` as (N, C, H, W) float32, refusing other shapes, non-float types and NaN/inf."""
    if x.ndim != 4:
        raise DatasetError(f"{source}: {what} has shape {x.shape}, expected (N, C, H, W)")
    if x.shape[1] not in (1, 3):
        raise DatasetError(
            f"{source}: {what} has {x.shape[1]} channels (shape {x.shape}); expected 1 (grey) "
            "or 3 (RGB) in (N, C, H, W) order"
        )
    if len(x) == 0 or min(x.shape[2:]) < 1:
        raise DatasetError(f"{source}: {what} holds no images (shape {x.shape})")
    if not np.issubdtype(x.dtype, np.floating):
        raise DatasetError(
            f"{source}: {what} is {x.dtype}; expected float32 pixels (e.g. uint8 / 255)"
        )
    x = x.astype(np.float32, copy=False)
    bad = ~np.isfinite(x)
    if bad.any():
        first = int(np.argwhere(bad.reshape(len(x), -1).any(axis=1))[0, 0])
        raise DatasetError(
            f"{source}: {what} holds {int(bad.sum())} NaN/inf values (first in image {first})"
        )
    return x


def check_labels(y: np.ndarray, count: int, classes: int, source: str, what: str = "y"):
    """`y` as (N,) int64 in 0..classes-1 with N == `count`."""
    if y.ndim != 1 or len(y) != count:
        raise DatasetError(f"{source}: {what} has shape {y.shape}, expected ({count},)")
    if not np.issubdtype(y.dtype, np.integer):
        raise DatasetError(f"{source}: {what} is {y.dtype}; expected integer class labels")
    y = y.astype(np.int64)
    if y.min() < 0 or y.max() >= classes:
        raise DatasetError(
            f"{source}: {what} holds labels {int(y.min())}..{int(y.max())}, outside "
            f"0..{classes - 1} ({classes} classes)"
        )
    return y


def check_classes_present(y: np.ndarray, class_names: tuple[str, ...], source: str) -> None:
    """Refuse training labels that leave a class without any image."""
    counts = np.bincount(y, minlength=len(class_names))
    empty = [class_names[i] for i in np.flatnonzero(counts == 0)]
    if empty:
        raise DatasetError(
            f"{source}: class(es) {', '.join(map(repr, empty[:5]))} have no training images"
        )


def read_npz(path: str | Path) -> tuple[Split, Split | None, tuple[str, ...]]:
    """(train, test or None, class names) of an ``.npz`` file."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: no such file (npz:PATH names an .npz file)")
    try:
        with np.load(path, allow_pickle=False) as arrays:
            data = {key: arrays[key] for key in arrays.files}
    except (OSError, ValueError) as err:
        raise DatasetError(f"{path}: not a readable .npz file ({err})") from None
    missing = [key for key in ("x", "y") if key not in data]
    if missing:
        raise DatasetError(
            f"{path}: missing array(s) {', '.join(missing)}; expected x (N, C, H, W) float32 and "
            f"y (N,) labels (found {', '.join(sorted(data)) or 'none'})"
        )
    if ("x_test" in data) != ("y_test" in data):
        raise DatasetError(f"{path}: x_test and y_test come together; found only one of them")
    x = check_images(data["x"], str(path), "x")
    y_raw = np.asarray(data["y"])
    if not np.issubdtype(y_raw.dtype, np.integer):
        raise DatasetError(f"{path}: y is {y_raw.dtype}; expected integer class labels")
    if "class_names" in data:
        names = tuple(str(n) for n in np.asarray(data["class_names"]).reshape(-1))
    else:
        top = int(y_raw.max()) if y_raw.size else 0
        names = tuple(str(i) for i in range(top + 1))
    if len(names) < 2:
        raise DatasetError(f"{path}: {len(names)} class(es); a classifier needs at least 2")
    y = check_labels(y_raw, len(x), len(names), str(path), "y")
    check_classes_present(y, names, str(path))
    test = None
    if "x_test" in data:
        x_test = check_images(data["x_test"], str(path), "x_test")
        if x_test.shape[1:] != x.shape[1:]:
            raise DatasetError(
                f"{path}: x_test images are {x_test.shape[1:]}, the training images "
                f"{x.shape[1:]}; both splits need one (C, H, W)"
            )
        y_test = np.asarray(data["y_test"])
        test = (x_test, check_labels(y_test, len(x_test), len(names), str(path), "y_test"))
    return (x, y), test, names


def _class_folders(root: Path) -> list[Path]:
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(folders) < 2:
        raise DatasetError(
            f"{root}: {len(folders)} class sub-folder(s); expected one sub-folder of PNG/JPEG "
            "images per class (at least 2)"
        )
    return folders


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _read_tree(root: Path, names: tuple[str, ...]) -> tuple[list[Path], np.ndarray]:
    files, labels = [], []
    for label, name in enumerate(names):
        folder = root / name
        images = _image_files(folder) if folder.is_dir() else []
        if not images:
            raise DatasetError(f"{folder}: no .png/.jpg/.jpeg images for class {name!r}")
        files.extend(images)
        labels.extend([label] * len(images))
    return files, np.asarray(labels, dtype=np.int64)


def _decode(files: list[Path]) -> np.ndarray:
    """The images of `files` as (N, C, H, W) float32 in [0, 1]; C is 1 when all are grey."""
    from PIL import Image, UnidentifiedImageError

    opened = []
    for path in files:
        try:
            with Image.open(path) as image:
                image.load()
                opened.append(image.copy())
        except (UnidentifiedImageError, OSError, ValueError) as err:
            raise DatasetError(f"{path}: unreadable image ({err})") from None
    size = opened[0].size
    for path, image in zip(files, opened):
        if image.size != size:
            raise DatasetError(
                f"{path}: {image.size[0]}x{image.size[1]} pixels, but {files[0]} is "
                f"{size[0]}x{size[1]}; all images need one size (resize them first)"
            )
    grey = all(image.mode in _GREY_MODES for image in opened)
    mode = "L" if grey else "RGB"
    pixels = np.stack([np.asarray(image.convert(mode), dtype=np.uint8) for image in opened])
    pixels = pixels[:, None] if grey else pixels.transpose(0, 3, 1, 2)
    return pixels.astype(np.float32) / 255.0


def read_folder(path: str | Path) -> tuple[Split, Split | None, tuple[str, ...]]:
    """(train, test or None, class names) of an image folder."""
    root = Path(path)
    if not root.is_dir():
        raise DatasetError(f"{root}: no such folder (folder:PATH names a folder of class folders)")
    split = (root / "train").is_dir()
    train_root = root / "train" if split else root
    names = tuple(p.name for p in _class_folders(train_root))
    files, y = _read_tree(train_root, names)
    test = None
    if split and (root / "test").is_dir():
        test_names = tuple(p.name for p in _class_folders(root / "test"))
        unknown = sorted(set(test_names) - set(names))
        if unknown:
            raise DatasetError(
                f"{root / 'test'}: class folder(s) {', '.join(unknown)} are not in "
                f"{train_root} ({', '.join(names)})"
            )
        test_files, _ = _read_tree(root / "test", test_names)
        test_y = np.concatenate(
            [[names.index(n)] * len(_image_files(root / "test" / n)) for n in test_names]
        ).astype(np.int64)
        pixels = _decode(files + test_files)
        return (pixels[: len(files)], y), (pixels[len(files) :], test_y), names
    return (_decode(files), y), test, names
