"""Image corruptions: registry, seeding, severity ordering, input validation."""

import numpy as np
import pytest
from scipy import ndimage
from sklearn.datasets import load_digits

from hwnas.methods.nes.shift import CORRUPTIONS, SEVERITIES, corrupt, list_corruptions

DIGITS_RANGE = (0.0, 16.0)


@pytest.fixture(scope="module")
def digits():
    data = load_digits()
    return data.images[:300, None].astype(np.float32), data.target[:300]


def test_registry_names_the_five_corruptions():
    assert list_corruptions() == (
        "contrast",
        "gaussian_blur",
        "gaussian_noise",
        "pixelate",
        "rotation",
    )
    assert set(CORRUPTIONS) == set(list_corruptions())


@pytest.mark.parametrize("name", list_corruptions())
def test_same_seed_same_output_and_input_untouched(digits, name):
    images, _ = digits
    before = images.copy()
    first = corrupt(images, name, 3, seed=7, value_range=DIGITS_RANGE)
    second = corrupt(images, name, 3, seed=7, value_range=DIGITS_RANGE)
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(images, before)
    assert first.shape == images.shape and first.dtype == np.float32
    assert first.min() >= 0.0 and first.max() <= 16.0 + 1e-4


@pytest.mark.parametrize("name", ["gaussian_noise", "rotation"])
def test_random_corruptions_depend_on_seed(digits, name):
    images, _ = digits
    a = corrupt(images, name, 2, seed=0, value_range=DIGITS_RANGE)
    b = corrupt(images, name, 2, seed=1, value_range=DIGITS_RANGE)
    assert not np.array_equal(a, b)


@pytest.mark.parametrize("side", [8, 28])
@pytest.mark.parametrize("name", list_corruptions())
def test_distance_from_clean_grows_with_severity(digits, name, side):
    images, _ = digits
    if side != 8:
        images = ndimage.zoom(images[:60], (1, 1, side / 8, side / 8), order=1)
    distances = [
        np.sqrt(((corrupt(images, name, s, seed=0, value_range=DIGITS_RANGE) - images) ** 2)
                .sum(axis=(1, 2, 3))).mean()
        for s in SEVERITIES
    ]  # fmt: skip
    assert distances[0] > 0
    assert all(b > a for a, b in zip(distances, distances[1:])), distances


@pytest.mark.parametrize("name", list_corruptions())
def test_fixed_classifier_degrades_under_severe_shift(digits, name):
    images, labels = digits
    centroids = np.stack([images[labels == c].mean(axis=0) for c in range(10)])

    def nearest_centroid_error(batch):
        distance = ((batch[:, None] - centroids[None]) ** 2).sum(axis=(2, 3, 4))
        return float(np.mean(distance.argmin(axis=1) != labels))

    clean = nearest_centroid_error(images)
    severe = nearest_centroid_error(corrupt(images, name, 5, seed=0, value_range=DIGITS_RANGE))
    assert severe > clean + 0.05


def test_value_range_defaults_to_batch_range_and_float64_is_kept(digits):
    images, _ = digits
    scaled = images.astype(np.float64) / 16.0
    out = corrupt(scaled, "contrast", 2)
    assert out.dtype == np.float64
    np.testing.assert_allclose(
        out * 16.0, corrupt(images, "contrast", 2, value_range=DIGITS_RANGE), atol=1e-4
    )


def test_contrast_and_pixelate_by_hand():
    image = np.array([[[[0.0, 1.0], [1.0, 0.0]]]])
    np.testing.assert_allclose(
        corrupt(image, "contrast", 2, value_range=(0, 1)), [[[[0.25, 0.75], [0.75, 0.25]]]]
    )
    ramp = np.arange(8.0)[None, None, None, :].repeat(8, axis=2)  # 8 -> 2 cells at severity 5
    out = corrupt(ramp, "pixelate", 5, value_range=(0, 7))
    np.testing.assert_allclose(out[0, 0, 0], [1.5] * 4 + [5.5] * 4)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"name": "fog", "severity": 1}, "gaussian_noise"),
        ({"name": "contrast", "severity": 0}, "1, 2, 3, 4, 5"),
        ({"name": "contrast", "severity": 6}, "1, 2, 3, 4, 5"),
        ({"name": "contrast", "severity": True}, "severity"),
        ({"name": "contrast", "severity": 1, "value_range": (1, 1)}, "high > low"),
    ],
)
def test_bad_arguments_raise_value_error(digits, kwargs, match):
    with pytest.raises(ValueError, match=match):
        corrupt(digits[0], **kwargs)


def test_bad_batches_raise_value_error():
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        corrupt(np.zeros((8, 8)), "contrast", 1)
    with pytest.raises(ValueError, match="constant"):
        corrupt(np.zeros((2, 1, 8, 8)), "contrast", 1)
    with pytest.raises(ValueError, match="NaN"):
        corrupt(np.full((2, 1, 8, 8), np.nan), "contrast", 1)
