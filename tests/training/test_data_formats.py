"""load_split_dataset: built-in splits, npz and image folders, and one-line errors for bad data."""

import numpy as np
import pytest
from PIL import Image

from hwnas.core.datasets import DatasetError, load_split_dataset, stratified_split


def _npz(path, **arrays):
    np.savez(path, **arrays)
    return f"npz:{path}"


def _arrays(n=40, classes=4, shape=(1, 6, 6), seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % classes
    x = rng.random((n, *shape), dtype=np.float32)
    return x, y.astype(np.int64)


def test_digits_has_fixed_test_split_and_stratified_validation():
    a = load_split_dataset("digits", seed=0)
    b = load_split_dataset("digits", seed=1)
    assert (len(a.train) + len(a.val), len(a.test)) == (1438, 359)
    assert np.array_equal(a.test.x, b.test.x)  # the test split does not move with the seed
    assert not np.array_equal(a.val.y, b.val.y) or not np.array_equal(a.val.x, b.val.x)
    assert a.fingerprint != b.fingerprint
    assert a.fingerprint == load_split_dataset("digits", seed=0).fingerprint
    assert a.train.x.min() >= 0.0 and a.train.x.max() <= 1.0  # raw pixels
    assert a.mean == pytest.approx((float(a.train.x.mean()),), rel=1e-5)
    counts = np.bincount(a.val.y, minlength=10)
    assert counts.min() >= 13 and counts.max() <= 16  # about 10 % of each class
    assert a.class_names == tuple("0123456789")


def test_stratified_split_by_hand():
    y = np.array([0, 0, 0, 0, 1, 1, 2])
    kept, held = stratified_split(y, 0.5, seed=0)
    assert sorted(np.concatenate([kept, held]).tolist()) == list(range(7))
    assert np.bincount(y[held], minlength=3).tolist() == [2, 1, 0]  # a class of 1 stays kept


def test_npz_round_trip_with_test_split_and_names(tmp_path):
    x, y = _arrays()
    xt, yt = _arrays(8, seed=1)
    names = np.array(["a", "b", "c", "d"])
    data = load_split_dataset(
        _npz(tmp_path / "d.npz", x=x, y=y, x_test=xt, y_test=yt, class_names=names),
        val_fraction=0.25,
    )
    assert data.name == "npz" and data.class_names == ("a", "b", "c", "d")
    assert (len(data.train), len(data.val), len(data.test)) == (28, 12, 8)
    assert np.array_equal(data.test.x, xt)
    assert data.input_shape == (1, 6, 6)


def test_npz_max_images_caps_train_and_val_only(tmp_path):
    x, y = _arrays(80)
    xt, yt = _arrays(8, seed=1)
    data = load_split_dataset(
        _npz(tmp_path / "d.npz", x=x, y=y, x_test=xt, y_test=yt), max_images=40
    )
    assert len(data.train) + len(data.val) == 40 and len(data.test) == 8


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda x, y: (x[:, 0], y), r"expected \(N, C, H, W\)"),
        (lambda x, y: (np.repeat(x, 2, axis=1), y), "2 channels"),
        (lambda x, y: (x, y[:-1]), r"y has shape \(39,\)"),
        (lambda x, y: ((x * 255).astype(np.uint8), y), "uint8"),
        (lambda x, y: (np.where(np.arange(40)[:, None, None, None] == 5, np.nan, x), y), "NaN"),
        (lambda x, y: (x, np.where(y == 3, -1, y)), "outside"),
        (lambda x, y: (x, y.astype(np.float32)), "integer class labels"),
    ],
)
def test_npz_bad_arrays_name_the_file(tmp_path, change, message):
    x, y = change(*_arrays())
    spec = _npz(tmp_path / "bad.npz", x=x, y=y)
    with pytest.raises(DatasetError, match=message) as info:
        load_split_dataset(spec)
    assert "bad.npz" in str(info.value) and "\n" not in str(info.value)


def test_npz_empty_class_missing_arrays_and_unreadable(tmp_path):
    x, y = _arrays()
    names = np.array(["a", "b", "c", "d", "e"])
    with pytest.raises(DatasetError, match="'e' have no training images"):
        load_split_dataset(_npz(tmp_path / "e.npz", x=x, y=y, class_names=names))
    with pytest.raises(DatasetError, match="missing array"):
        load_split_dataset(_npz(tmp_path / "m.npz", images=x))
    with pytest.raises(DatasetError, match="x_test and y_test"):
        load_split_dataset(_npz(tmp_path / "t.npz", x=x, y=y, x_test=x))
    with pytest.raises(DatasetError, match="x_test images are"):
        load_split_dataset(_npz(tmp_path / "s.npz", x=x, y=y, x_test=x[:, :, :3], y_test=y))
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(DatasetError, match="junk.npz: not a readable"):
        load_split_dataset("npz:" + str(tmp_path / "junk.npz"))
    with pytest.raises(DatasetError, match="no such file"):
        load_split_dataset("npz:" + str(tmp_path / "none.npz"))
    with pytest.raises(DatasetError, match="unknown dataset"):
        load_split_dataset("imagenet")


def _folder(root, classes=("cat", "dog"), per_class=6, size=(5, 4), mode="L"):
    rng = np.random.default_rng(0)
    for name in classes:
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            shape = (size[1], size[0]) + (() if mode == "L" else (3,))
            pixels = rng.integers(0, 256, shape, dtype=np.uint8)
            Image.fromarray(pixels, mode).save(root / name / f"{i}.png")


def test_folder_grey_and_rgb_with_train_and_test(tmp_path):
    _folder(tmp_path / "grey")
    grey = load_split_dataset(f"folder:{tmp_path / 'grey'}", val_fraction=0.34)
    assert grey.class_names == ("cat", "dog") and grey.input_shape == (1, 4, 5)
    assert grey.test is None and len(grey.train) + len(grey.val) == 12
    first = np.asarray(Image.open(tmp_path / "grey" / "cat" / "0.png"), dtype=np.float32) / 255
    assert any(
        np.array_equal(first, image[0]) for image in np.concatenate([grey.train.x, grey.val.x])
    )
    _folder(tmp_path / "rgb" / "train", mode="RGB")
    _folder(tmp_path / "rgb" / "test", per_class=2, mode="RGB")
    rgb = load_split_dataset(f"folder:{tmp_path / 'rgb'}")
    assert rgb.input_shape == (3, 4, 5) and len(rgb.test) == 4
    assert rgb.test.y.tolist() == [0, 0, 1, 1]


def test_folder_bad_inputs(tmp_path):
    _folder(tmp_path / "mixed")
    Image.fromarray(np.zeros((9, 9), np.uint8), "L").save(tmp_path / "mixed" / "dog" / "9.png")
    with pytest.raises(DatasetError, match=r"9\.png: 9x9 pixels"):
        load_split_dataset(f"folder:{tmp_path / 'mixed'}")
    _folder(tmp_path / "broken")
    (tmp_path / "broken" / "cat" / "3.png").write_bytes(b"\x89PNG garbage")
    with pytest.raises(DatasetError, match=r"3\.png: unreadable image"):
        load_split_dataset(f"folder:{tmp_path / 'broken'}")
    _folder(tmp_path / "empty")
    (tmp_path / "empty" / "emu").mkdir()
    with pytest.raises(DatasetError, match="no .png/.jpg/.jpeg images for class 'emu'"):
        load_split_dataset(f"folder:{tmp_path / 'empty'}")
    _folder(tmp_path / "one", classes=("cat",))
    with pytest.raises(DatasetError, match="1 class sub-folder"):
        load_split_dataset(f"folder:{tmp_path / 'one'}")
    with pytest.raises(DatasetError, match="no such folder"):
        load_split_dataset(f"folder:{tmp_path / 'nowhere'}")
