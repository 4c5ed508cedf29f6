"""Image-quality metrics of a denoiser's output against the clean target.

Every function takes ``(prediction, target)`` as arrays of shape (N, 784) in [-1, 1], the
autoencoder's range. As in the seed notebook ("Evaluation comments"), both are first mapped to
[0, 1] and rounded to two decimals (:func:`to_unit`), which makes "pixel accuracy" meaningful and
differences between runs easier to see. The classifier metrics take the raw outputs. Averages are
taken in float64 and returned as Python floats.

Rounded to hundredths, every pixel is one of 101 levels, so the four pixel metrics (MSE, MAE,
pixel accuracy, BCE) are sums over the joint histogram of (prediction, target) levels: one pass
over the images instead of four, with the logarithms of BCE taken on 101 values. What the metrics
need of the clean target (its levels, SSIM statistics and Gaussians) is a :class:`Reference`,
computed once per test set and reused for every output set of every model.

Notes
-----
Deliberate deviations from the seed's code (see ``DESIGN.md`` section 1):

* SSIM and PSNR are computed per 28 x 28 image and averaged. The seed reshaped (N, 784) to
  (28, 28, N), scattering each image across the grid, and took one PSNR over the whole set.
* Binary cross-entropy uses the target as ``y_true``; the seed passed the prediction.
* The seed's "FID" is a Frechet distance between raw pixel vectors (here :func:`pixel_fid`);
  the ``feature_fid`` metric is the same distance on the clean classifier's penultimate
  features (:func:`renoise.science.models.feature_extractor`), the MNIST analogue of Inception FID.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from renoise.science.noise import IMAGE_SIDE, IMAGE_SIZE

#: :func:`to_unit` rounds to hundredths: a pixel is one of ``STEPS + 1`` levels.
STEPS = 100
#: PSNR of a perfect reconstruction, in dB, instead of infinity.
PSNR_CAP = 100.0
#: Keras' epsilon: predictions are clipped to [eps, 1 - eps] before the logarithms.
BCE_EPSILON = 1e-7
#: TensorFlow's SSIM defaults (``tf.image.ssim``).
SSIM_WINDOW, SSIM_SIGMA, SSIM_K1, SSIM_K2 = 11, 1.5, 0.01, 0.03

#: Every metric of :func:`evaluate`: name -> (title, True where higher is better).
METRICS = {
    "mse": ("MSE", False),
    "pixel_accuracy": ("Pixel accuracy", True),
    "mae": ("MAE", False),
    "bce": ("Binary cross-entropy", False),
    "classifier_accuracy": ("Classifier accuracy", True),
    "ssim": ("SSIM", True),
    "psnr": ("PSNR (dB)", True),
    "pixel_fid": ("Pixel FID", False),
    "feature_fid": ("Feature FID", False),
}


def to_unit(images) -> np.ndarray:
    """Map [-1, 1] to [0, 1] and round to two decimals, the seed's metric convention (float64)."""
    return np.round((np.asarray(images, dtype=np.float64) + 1.0) / 2.0, 2)


def to_steps(images) -> np.ndarray:
    """:func:`to_unit`'s values as whole hundredths, 0 to 100 (int16), by the same rounding.

    ``to_unit(v) == to_steps(v) / 100`` exactly: ``(v + 1) * 50`` and ``(v + 1) / 2 * 100`` are one
    rounding of the same number. NaN, or values outside [-1, 1] beyond rounding, raise ``ValueError``.
    """
    images = np.asarray(images, dtype=np.float64)
    steps = np.rint((images + 1.0) * (STEPS / 2))
    if steps.size and not (steps.min() >= 0 and steps.max() <= STEPS):  # False for NaN too
        raise ValueError(f"images must lie in [-1, 1], got values in [{images.min():.3g}, {images.max():.3g}]")
    return steps.astype(np.int16)


def _steps(prediction, target) -> tuple[np.ndarray, np.ndarray]:
    """Check that the shapes agree and apply :func:`to_steps` to both."""
    prediction = np.asarray(prediction)
    target = np.asarray(target)
    if prediction.shape != target.shape:
        raise ValueError(f"prediction shape {prediction.shape} differs from target shape {target.shape}")
    return to_steps(prediction), to_steps(target)


def _check_images(steps: np.ndarray) -> np.ndarray:
    """``steps`` if it is a set of flattened images (N, 784), as the per-image metrics need."""
    if steps.ndim != 2 or steps.shape[1] != IMAGE_SIZE:
        raise ValueError(f"per-image metrics need images of shape (N, 784), got {steps.shape}")
    return steps


# The pixel metrics as sums over the joint histogram: each pair of levels (prediction i, target j)
# contributes a fixed amount, tabulated once here.
_UNIT = np.arange(STEPS + 1) / STEPS
_DIFFERENCE = _UNIT[:, None] - _UNIT[None, :]
_CLIPPED = np.clip(_UNIT, BCE_EPSILON, 1 - BCE_EPSILON)[:, None]
_PIXEL_TABLES = {
    "mse": _DIFFERENCE**2,
    "pixel_accuracy": np.eye(STEPS + 1),
    "mae": np.abs(_DIFFERENCE),
    "bce": -(_UNIT[None, :] * np.log(_CLIPPED) + (1 - _UNIT[None, :]) * np.log(1 - _CLIPPED)),
}


def joint_histogram(x_steps: np.ndarray, y_steps: np.ndarray) -> np.ndarray:
    """Pixel counts (101, 101): entry (i, j) counts pixels at level i in ``x`` and j in ``y``."""
    pairs = x_steps.astype(np.int32) * (STEPS + 1) + y_steps
    return np.bincount(pairs.ravel(), minlength=(STEPS + 1) ** 2).reshape(STEPS + 1, STEPS + 1)


def _pixel_metric(name: str, histogram: np.ndarray) -> float:
    """The mean over pixels of metric ``name`` (a key of ``_PIXEL_TABLES``), from the joint histogram."""
    return float(np.sum(histogram * _PIXEL_TABLES[name]) / histogram.sum())


def _gaussian_window(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> np.ndarray:
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2
    g = np.exp(-(x**2) / (2 * sigma**2))
    return g / g.sum()


def _valid_band(side: int = IMAGE_SIDE) -> np.ndarray:
    """The 'valid' Gaussian filter of one image axis as an (18, 28) matrix: row i is the window at i."""
    window = _gaussian_window()
    band = np.zeros((side - len(window) + 1, side))
    for i in range(len(band)):
        band[i, i : i + len(window)] = window
    return band


_BAND = _valid_band()


def _filter_valid(images: np.ndarray) -> np.ndarray:
    """Separable 'valid' Gaussian filtering of (N, 28, 28) images: two matrix products, (N, 18, 18)."""
    return _BAND @ (images @ _BAND.T)


def _ssim_statistics(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The target's filtered means and filtered squares (N, 18, 18), shared by every comparison."""
    y = y.reshape(-1, IMAGE_SIDE, IMAGE_SIDE)
    return _filter_valid(y), _filter_valid(y * y)


def _ssim_per_image(x: np.ndarray, y: np.ndarray, y_statistics) -> np.ndarray:
    """SSIM of unit-valued images ``x`` against ``y`` (N, 784), given :func:`_ssim_statistics` of ``y``."""
    x = x.reshape(-1, IMAGE_SIDE, IMAGE_SIDE)
    mu_x, xx, xy = _filter_valid(x), _filter_valid(x * x), _filter_valid(x * y.reshape(x.shape))
    mu_y, yy = y_statistics
    var_x, var_y, cov = xx - mu_x**2, yy - mu_y**2, xy - mu_x * mu_y
    c1, c2 = SSIM_K1**2, SSIM_K2**2
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return ssim_map.mean(axis=(1, 2))


def _psnr_per_image(x_steps: np.ndarray, y_steps: np.ndarray) -> np.ndarray:
    difference = (x_steps - y_steps).astype(np.float64) / STEPS
    err = np.einsum("ij,ij->i", difference, difference) / difference.shape[1]
    with np.errstate(divide="ignore"):
        values = -10.0 * np.log10(err)
    return np.minimum(values, PSNR_CAP)


def mse(prediction, target) -> float:
    """Mean squared error over all pixels, on :func:`to_unit` values."""
    return _pixel_metric("mse", joint_histogram(*_steps(prediction, target)))


def mae(prediction, target) -> float:
    """Mean absolute error over all pixels, on :func:`to_unit` values."""
    return _pixel_metric("mae", joint_histogram(*_steps(prediction, target)))


def pixel_accuracy(prediction, target) -> float:
    """Fraction of pixels equal after :func:`to_unit` (``tf.keras.metrics.Accuracy`` in the seed)."""
    return _pixel_metric("pixel_accuracy", joint_histogram(*_steps(prediction, target)))


def binary_cross_entropy(prediction, target) -> float:
    """Binary cross-entropy with the target as ``y_true``, on :func:`to_unit` values.

    ``-mean(y log p + (1 - y) log(1 - p))`` with ``p`` clipped to [e, 1 - e], e = 1e-7, as keras'
    ``BinaryCrossentropy`` (the seed's metric) computes it, here in float64.
    """
    return _pixel_metric("bce", joint_histogram(*_steps(prediction, target)))


def ssim_per_image(prediction, target) -> np.ndarray:
    """SSIM of each 28 x 28 image (N,), TensorFlow's definition on :func:`to_unit` values.

    An 11 x 11 Gaussian window (sigma 1.5) over the valid region (an 18 x 18 map), k1 = 0.01,
    k2 = 0.03, data range 1; the image's SSIM is the mean of its map.
    """
    x, y = (_check_images(s) / STEPS for s in _steps(prediction, target))
    return _ssim_per_image(x, y, _ssim_statistics(y))


def ssim(prediction, target) -> float:
    """Mean per-image SSIM (:func:`ssim_per_image`)."""
    return float(np.mean(ssim_per_image(prediction, target)))


def psnr_per_image(prediction, target) -> np.ndarray:
    """PSNR of each image in dB on :func:`to_unit` values (peak 1), capped at :data:`PSNR_CAP`."""
    return _psnr_per_image(*map(_check_images, _steps(prediction, target)))


def psnr(prediction, target) -> float:
    """Mean per-image PSNR in dB (:func:`psnr_per_image`)."""
    return float(np.mean(psnr_per_image(prediction, target)))


@dataclass(frozen=True)
class Gaussian:
    """A Gaussian fitted to N samples of dimension D: the mean, and the covariance either as the
    matrix ``cov`` (D, D) or, where N <= D, as a factor ``factor`` (N, D) with cov = factorᵀ factor;
    a reference also holds ``cov`` and its symmetric square root ``root``."""

    mean: np.ndarray
    cov: np.ndarray | None = None
    root: np.ndarray | None = None
    factor: np.ndarray | None = None

    @classmethod
    def fit(cls, samples, *, root: bool = False) -> "Gaussian":
        """Fit the rows of ``samples`` (N, D), N >= 2; with ``root``, the covariance and its square root."""
        x = np.asarray(samples, dtype=np.float64)
        if x.ndim != 2 or len(x) < 2:
            raise ValueError(f"a Frechet distance needs at least two samples per set as rows (N, D), got shape {x.shape}")
        mean = x.mean(axis=0)
        factor = (x - mean) / np.sqrt(len(x) - 1)
        if not root and len(x) <= x.shape[1]:
            return cls(mean, factor=factor)
        cov = factor.T @ factor
        if not root:
            return cls(mean, cov)
        values, vectors = np.linalg.eigh(cov)
        return cls(mean, cov, (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T)

    @property
    def trace(self) -> float:
        """The covariance's trace (the total variance)."""
        return float(np.trace(self.cov)) if self.cov is not None else float(np.sum(self.factor**2))


def frechet_between(a: Gaussian, b: Gaussian) -> float:
    """Frechet distance between Gaussian ``a`` and reference ``b`` (which holds its root).

    ``|mu_a - mu_b|^2 + tr(S_a) + tr(S_b) - 2 tr(sqrt(S_a S_b))``. ``S_a S_b`` has the eigenvalues
    of the symmetric ``R S_a R`` with ``R = sqrt(S_b)``, so ``tr(sqrt(S_a S_b))`` is the sum of the
    square roots of ``eigvalsh(R S_a R)``. Where ``a`` has fewer samples than dimensions
    (``S_a = Fᵀ F``, F of N rows), ``R Fᵀ F R`` has the same non-zero eigenvalues as the N x N
    matrix ``F S_b Fᵀ``: the same number from a smaller problem (500 test images against 784
    pixels, say). Eigenvalues within round-off of zero (below ``n * eps * max``) are set to 0, since
    their square roots would otherwise add up to a visible error on singular covariances. This
    avoids ``scipy.linalg.sqrtm``, which is slower and unstable on the singular covariances of
    MNIST (pixels that never vary). A distance is never negative: round-off below 0 (identical
    sets give about -1e-13) is clamped to 0.
    """
    if a.mean.shape != b.mean.shape:
        raise ValueError(f"feature sets of {a.mean.shape[0]} and {b.mean.shape[0]} dimensions cannot be compared")
    product = a.factor @ b.cov @ a.factor.T if a.factor is not None else b.root @ a.cov @ b.root
    eigenvalues = np.linalg.eigvalsh(product)
    noise_floor = len(eigenvalues) * np.finfo(np.float64).eps * max(eigenvalues.max(), 0.0)
    trace_sqrt = np.sqrt(np.where(eigenvalues > noise_floor, eigenvalues, 0.0)).sum()
    return max(0.0, float(np.sum((a.mean - b.mean) ** 2) + a.trace + b.trace - 2 * trace_sqrt))


def frechet_distance(features_a, features_b) -> float:
    """Frechet distance between Gaussians fitted to two feature sets (rows are samples); see
    :func:`frechet_between`."""
    return frechet_between(Gaussian.fit(features_a), Gaussian.fit(features_b, root=True))


def pixel_fid(prediction, target) -> float:
    """The seed's "FID": Frechet distance of raw 784-pixel vectors, on :func:`to_unit` values."""
    return frechet_distance(*(s / STEPS for s in _steps(prediction, target)))


def classifier_accuracy(probabilities, labels) -> float:
    """Fraction of images whose most probable class is the label (raw outputs, not :func:`to_unit`)."""
    probabilities = np.asarray(probabilities)
    labels = np.asarray(labels)
    if probabilities.ndim != 2 or len(probabilities) != len(labels):
        raise ValueError(f"{probabilities.shape} class probabilities for {labels.shape} labels")
    return float(np.mean(np.argmax(probabilities, axis=1) == labels))


@dataclass(frozen=True)
class Reference:
    """What the metrics need of a clean target set, computed once and reused for every output set:
    its levels, its unit values and SSIM statistics, and the Gaussians of its pixels and of its
    classifier features."""

    steps: np.ndarray
    unit: np.ndarray
    ssim_statistics: tuple[np.ndarray, np.ndarray]
    pixels: Gaussian
    features: Gaussian

    @classmethod
    def of(cls, target, target_features) -> "Reference":
        """The reference of clean images ``target`` (N, 784) and their classifier features."""
        steps = _check_images(to_steps(target))
        unit = steps / STEPS
        return cls(steps, unit, _ssim_statistics(unit), Gaussian.fit(unit, root=True),
                   Gaussian.fit(target_features, root=True))


def evaluate(prediction, reference: Reference, *, probabilities, labels, features) -> dict[str, float]:
    """Every metric of :data:`METRICS` for one output set against ``reference``.

    ``probabilities`` and ``features`` are the classifier's outputs for ``prediction``.
    """
    steps = to_steps(prediction)
    if steps.shape != reference.steps.shape:
        raise ValueError(f"prediction shape {steps.shape} differs from target shape {reference.steps.shape}")
    histogram = joint_histogram(steps, reference.steps)
    unit = steps / STEPS
    return {
        **{name: _pixel_metric(name, histogram) for name in ("mse", "pixel_accuracy", "mae", "bce")},
        "classifier_accuracy": classifier_accuracy(probabilities, labels),
        "ssim": float(np.mean(_ssim_per_image(unit, reference.unit, reference.ssim_statistics))),
        "psnr": float(np.mean(_psnr_per_image(steps, reference.steps))),
        "pixel_fid": frechet_between(Gaussian.fit(unit), reference.pixels),
        "feature_fid": frechet_between(Gaussian.fit(features), reference.features),
    }
