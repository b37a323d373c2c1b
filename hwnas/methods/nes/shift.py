"""Dataset shift: seeded image corruptions at severities 1-5, for evaluating under shift.

In the spirit of CIFAR-10-C (Hendrycks & Dietterich, "Benchmarking Neural Network Robustness to
Common Corruptions and Perturbations", ICLR 2019), scaled for small images such as 8x8 digits
and 28x28 MNIST; rotation follows the rotated-MNIST shift of Ovadia et al. (NeurIPS 2019).

Batches are numpy arrays of shape (N, C, H, W) (a CPU torch tensor is converted with
`np.asarray`). Each corruption works on the batch rescaled from `value_range` to [0, 1] and
the result is scaled back, so pixel values 0..16 (scikit-learn digits), 0..1 or standardised
inputs are all corrupted alike. The same (batch, name, severity, seed) always gives the same
output.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

SEVERITIES = (1, 2, 3, 4, 5)

NOISE_STD = (0.08, 0.12, 0.18, 0.26, 0.38)
"""Gaussian noise standard deviation, as a fraction of the value range (ImageNet-C's values;
CIFAR-10-C's 0.04-0.10 barely change 8x8 digits)."""

BLUR_SIGMA_8PX = (0.5, 0.7, 0.9, 1.1, 1.4)
"""Gaussian blur sigma in pixels for an 8-pixel image, scaled by sqrt(side / 8): 0.94-2.6
pixels at 28x28 and 1.0-2.8 at 32x32, between CIFAR-10-C's 0.4-1 and ImageNet-C's 1-6."""

CONTRAST_FACTOR = (0.75, 0.5, 0.4, 0.3, 0.15)
"""Factor on each image's deviation from its per-channel mean (CIFAR-10-C's values)."""

ROTATION_DEG = (15.0, 30.0, 45.0, 60.0, 75.0)
"""Rotation angle in degrees; each image turns clockwise or anticlockwise at random."""

PIXELATE_FRACTION = (0.85, 0.7, 0.55, 0.4, 0.3)
"""Side of the coarse image as a fraction of the original, rounded: 8 pixels -> 7, 6, 4, 3, 2
and 28 -> 24, 20, 15, 11, 8 (coarser than CIFAR-10-C's 0.95-0.65, which leaves 8x8 intact;
8 -> 5 is skipped because its misaligned cells change the image less than 8 -> 6)."""

Corruption = Callable[[np.ndarray, int, np.random.Generator], np.ndarray]
"""A corruption: (batch (N, C, H, W) in [0, 1], severity 1-5, generator) -> corrupted batch."""

CORRUPTIONS: dict[str, Corruption] = {}
"""The registered corruptions by name."""


def register_corruption(name: str) -> Callable[[Corruption], Corruption]:
    """Registers a corruption function under `name`."""

    def decorate(function: Corruption) -> Corruption:
        if name in CORRUPTIONS:
            raise ValueError(f"a corruption named {name!r} is already registered")
        CORRUPTIONS[name] = function
        return function

    return decorate


def list_corruptions() -> tuple[str, ...]:
    """The names of the registered corruptions, sorted."""
    return tuple(sorted(CORRUPTIONS))


def _side(x: np.ndarray) -> int:
    return min(x.shape[-2], x.shape[-1])


@register_corruption("gaussian_noise")
def gaussian_noise(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Adds Gaussian noise of std `NOISE_STD` and clips to the value range."""
    noise = rng.standard_normal(x.shape)
    return np.clip(x + NOISE_STD[severity - 1] * noise, 0.0, 1.0)


@register_corruption("gaussian_blur")
def gaussian_blur(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Blurs each channel with a Gaussian of `BLUR_SIGMA_8PX` pixels, scaled to the size."""
    from scipy import ndimage

    sigma = BLUR_SIGMA_8PX[severity - 1] * math.sqrt(_side(x) / 8)
    return ndimage.gaussian_filter(x, sigma=(0, 0, sigma, sigma), mode="nearest")


@register_corruption("contrast")
def contrast(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Shrinks each image's deviation from its per-channel mean by `CONTRAST_FACTOR`."""
    means = x.mean(axis=(2, 3), keepdims=True)
    return (x - means) * CONTRAST_FACTOR[severity - 1] + means


@register_corruption("rotation")
def rotation(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Rotates each image by +-`ROTATION_DEG` (sign drawn per image), filling with the low end."""
    from scipy import ndimage

    angle = ROTATION_DEG[severity - 1]
    clockwise = rng.integers(0, 2, size=x.shape[0]).astype(bool)
    out = np.empty_like(x)
    for mask, signed in ((clockwise, -angle), (~clockwise, angle)):
        if mask.any():
            out[mask] = ndimage.rotate(
                x[mask], signed, axes=(3, 2), reshape=False, order=1, mode="constant", cval=0.0
            )
    return np.clip(out, 0.0, 1.0)


def _box_then_nearest(size: int, coarse: int) -> np.ndarray:
    """(size, size) matrix: box-average `size` pixels into `coarse` cells, then blow back up."""
    cell = size / coarse
    starts = np.arange(coarse) * cell
    pixels = np.arange(size)
    overlap = np.clip(
        np.minimum(pixels[None, :] + 1, starts[:, None] + cell)
        - np.maximum(pixels[None, :], starts[:, None]),
        0.0,
        None,
    )
    down = overlap / cell  # (coarse, size), rows sum to 1
    up = np.zeros((size, coarse))
    up[pixels, np.minimum(((pixels + 0.5) / cell).astype(int), coarse - 1)] = 1.0
    return up @ down


@register_corruption("pixelate")
def pixelate(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Box-downsamples to `PIXELATE_FRACTION` of the size and upsamples back (nearest)."""
    fraction = PIXELATE_FRACTION[severity - 1]
    height, width = x.shape[-2:]
    rows = _box_then_nearest(height, max(1, round(height * fraction)))
    cols = _box_then_nearest(width, max(1, round(width * fraction)))
    return rows @ x @ cols.T


def _check_value_range(x: np.ndarray, value_range) -> tuple[float, float]:
    if value_range is None:
        low, high = float(x.min()), float(x.max())
        if high <= low:
            raise ValueError(
                f"the batch is constant ({low:g}), so its value range is empty; "
                "pass value_range=(low, high) of the pixel values"
            )
        return low, high
    low, high = (float(v) for v in value_range)
    if not (math.isfinite(low) and math.isfinite(high) and high > low):
        raise ValueError(
            f"value_range must be finite (low, high) with high > low, got {value_range}"
        )
    return low, high


def corrupt(
    x, name: str, severity: int, seed: int = 0, value_range: tuple[float, float] | None = None
) -> np.ndarray:
    """Corrupts a batch of images (N, C, H, W) with corruption `name` at `severity` 1-5.

    Args:
        x: The clean batch; not modified.
        name: One of `list_corruptions()`.
        severity: 1 (mild) to 5 (severe).
        seed: Seed of the noise and rotation directions.
        value_range: (low, high) of valid pixel values, e.g. (0, 16) for scikit-learn digits;
            None takes the batch's minimum and maximum. Pass it when corrupting a data set
            batch by batch, so that every batch is scaled alike.

    Returns:
        The corrupted batch, same shape, float32 unless `x` is float64.
    """
    if name not in CORRUPTIONS:
        raise ValueError(
            f"unknown corruption {name!r}; valid corruptions: {', '.join(list_corruptions())}"
        )
    if isinstance(severity, bool) or severity not in SEVERITIES:
        raise ValueError(
            f"severity must be one of {', '.join(map(str, SEVERITIES))}, got {severity!r}"
        )
    x = np.asarray(x)
    if x.ndim != 4 or x.size == 0:
        raise ValueError(f"expected a non-empty batch of shape (N, C, H, W), got {x.shape}")
    dtype = np.float64 if x.dtype == np.float64 else np.float32
    x = x.astype(np.float64)
    if not np.all(np.isfinite(x)):
        raise ValueError("the batch contains NaN or infinite values")
    low, high = _check_value_range(x, value_range)
    rng = np.random.default_rng(seed)
    corrupted = CORRUPTIONS[name]((x - low) / (high - low), severity, rng)
    return (corrupted * (high - low) + low).astype(dtype)
