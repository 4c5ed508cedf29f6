"""Image-quality metrics of a denoiser's output against the clean target.

Every function takes ``(prediction, target)`` as arrays of shape (N, 784) in [-1, 1], the
autoencoder's range. As in the seed notebook ("Evaluation comments"), both are first mapped to
[0, 1] and rounded to two decimals (:func:`to_unit`), which makes "pixel accuracy" meaningful and
differences between runs easier to see. The classifier metrics take the raw outputs. Averages are
taken in float64 and returned as Python floats.

Notes
-----
Deliberate deviations from the seed's code (see ``DESIGN.md`` section 1):

* SSIM and PSNR are computed per 28 x 28 image and averaged. The seed reshaped (N, 784) to
  (28, 28, N), scattering each image across the grid, and took one PSNR over the whole set.
* Binary cross-entropy uses the target as ``y_true``; the seed passed the prediction.
* The seed's "FID" is a Frechet distance between raw pixel vectors (here :func:`pixel_fid`);
  :func:`feature_fid` adds the same distance on the clean classifier's penultimate features,
  the MNIST analogue of Inception FID.
"""

from __future__ import annotations

import numpy as np

from renoise.data import IMAGE_SIDE

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


def _images(prediction, target) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_units` for the per-image metrics, which need sets of flattened images (N, 784)."""
    x, y = _units(prediction, target)
    if x.ndim != 2 or x.shape[1] != IMAGE_SIDE * IMAGE_SIDE:
        raise ValueError(f"per-image metrics need images of shape (N, 784), got {x.shape}")
    return x, y


def _units(prediction, target) -> tuple[np.ndarray, np.ndarray]:
    """Check that the shapes agree and apply :func:`to_unit` to both."""
    prediction = np.asarray(prediction)
    target = np.asarray(target)
    if prediction.shape != target.shape:
        raise ValueError(f"prediction shape {prediction.shape} differs from target shape {target.shape}")
    return to_unit(prediction), to_unit(target)


# The underscored kernels take values already in unit form, so that evaluate() converts once.


def _mse(x, y) -> float:
    return float(np.mean((x - y) ** 2))


def _mae(x, y) -> float:
    return float(np.mean(np.abs(x - y)))


def _pixel_accuracy(x, y) -> float:
    return float(np.mean(x == y))


def _bce(x, y) -> float:
    p = np.clip(x, BCE_EPSILON, 1 - BCE_EPSILON)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def _gaussian_window(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> np.ndarray:
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2
    g = np.exp(-(x**2) / (2 * sigma**2))
    return g / g.sum()


def _filter_valid(images: np.ndarray, window: np.ndarray) -> np.ndarray:
    """Separable 'valid' filtering of (N, H, W) images with a 1-D window along both axes."""
    rows = np.lib.stride_tricks.sliding_window_view(images, len(window), axis=1) @ window
    return np.lib.stride_tricks.sliding_window_view(rows, len(window), axis=2) @ window


def _ssim_per_image(x, y) -> np.ndarray:
    x = x.reshape(-1, IMAGE_SIDE, IMAGE_SIDE)
    y = y.reshape(-1, IMAGE_SIDE, IMAGE_SIDE)
    w = _gaussian_window()
    mu_x, mu_y = _filter_valid(x, w), _filter_valid(y, w)
    var_x = _filter_valid(x * x, w) - mu_x**2
    var_y = _filter_valid(y * y, w) - mu_y**2
    cov = _filter_valid(x * y, w) - mu_x * mu_y
    c1, c2 = SSIM_K1**2, SSIM_K2**2
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return ssim_map.mean(axis=(1, 2))


def _psnr_per_image(x, y) -> np.ndarray:
    err = np.mean((x - y) ** 2, axis=-1)
    with np.errstate(divide="ignore"):
        values = -10.0 * np.log10(err)
    return np.minimum(values, PSNR_CAP)


def mse(prediction, target) -> float:
    """Mean squared error over all pixels, on :func:`to_unit` values."""
    return _mse(*_units(prediction, target))


def mae(prediction, target) -> float:
    """Mean absolute error over all pixels, on :func:`to_unit` values."""
    return _mae(*_units(prediction, target))


def pixel_accuracy(prediction, target) -> float:
    """Fraction of pixels equal after :func:`to_unit` (``tf.keras.metrics.Accuracy`` in the seed)."""
    return _pixel_accuracy(*_units(prediction, target))


def binary_cross_entropy(prediction, target) -> float:
    """Binary cross-entropy with the target as ``y_true``, on :func:`to_unit` values.

    ``-mean(y log p + (1 - y) log(1 - p))`` with ``p`` clipped to [e, 1 - e], e = 1e-7, as keras'
    ``BinaryCrossentropy`` (the seed's metric) computes it, here in float64.
    """
    return _bce(*_units(prediction, target))


def ssim_per_image(prediction, target) -> np.ndarray:
    """SSIM of each 28 x 28 image (N,), TensorFlow's definition on :func:`to_unit` values.

    An 11 x 11 Gaussian window (sigma 1.5) over the valid region (an 18 x 18 map), k1 = 0.01,
    k2 = 0.03, data range 1; the image's SSIM is the mean of its map.
    """
    return _ssim_per_image(*_images(prediction, target))


def ssim(prediction, target) -> float:
    """Mean per-image SSIM (:func:`ssim_per_image`)."""
    return float(np.mean(ssim_per_image(prediction, target)))


def psnr_per_image(prediction, target) -> np.ndarray:
    """PSNR of each image in dB on :func:`to_unit` values (peak 1), capped at :data:`PSNR_CAP`."""
    return _psnr_per_image(*_images(prediction, target))


def psnr(prediction, target) -> float:
    """Mean per-image PSNR in dB (:func:`psnr_per_image`)."""
    return float(np.mean(psnr_per_image(prediction, target)))


def frechet_distance(features_a, features_b) -> float:
    """Frechet distance between Gaussians fitted to two feature sets (rows are samples).

    ``|mu_a - mu_b|^2 + tr(S_a) + tr(S_b) - 2 tr(sqrt(S_a S_b))``, where ``tr(sqrt(S_a S_b))`` is the
    sum of the square roots of the eigenvalues of ``S_a S_b``. Those are real and non-negative in
    exact arithmetic; eigenvalues within round-off of zero (below ``n * eps * max``) are set to 0,
    since their square roots would otherwise add up to a visible error on singular covariances.
    This avoids ``scipy.linalg.sqrtm``, which is slower and unstable on the singular covariances
    of MNIST (pixels that never vary).
    """
    a = np.asarray(features_a, dtype=np.float64)
    b = np.asarray(features_b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"feature sets of shapes {a.shape} and {b.shape} cannot be compared")
    if len(a) < 2 or len(b) < 2:
        raise ValueError("a Frechet distance needs at least two samples per set")
    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    eigenvalues = np.linalg.eigvals(cov_a @ cov_b).real
    noise_floor = len(eigenvalues) * np.finfo(np.float64).eps * max(eigenvalues.max(), 0.0)
    trace_sqrt = np.sqrt(np.where(eigenvalues > noise_floor, eigenvalues, 0.0)).sum()
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a) + np.trace(cov_b) - 2 * trace_sqrt)


def pixel_fid(prediction, target) -> float:
    """The seed's "FID": Frechet distance of raw 784-pixel vectors, on :func:`to_unit` values."""
    return frechet_distance(*_units(prediction, target))


def feature_fid(prediction_features, target_features) -> float:
    """Frechet distance of classifier features (see :func:`renoise.models.feature_extractor`)."""
    return frechet_distance(prediction_features, target_features)


def classifier_accuracy(probabilities, labels) -> float:
    """Fraction of images whose most probable class is the label (raw outputs, not :func:`to_unit`)."""
    probabilities = np.asarray(probabilities)
    labels = np.asarray(labels)
    if probabilities.ndim != 2 or len(probabilities) != len(labels):
        raise ValueError(f"{probabilities.shape} class probabilities for {labels.shape} labels")
    return float(np.mean(np.argmax(probabilities, axis=1) == labels))


def evaluate(prediction, target, *, probabilities, labels, features, target_features) -> dict[str, float]:
    """Every metric of :data:`METRICS` for one output set.

    ``probabilities`` and ``features`` are the classifier's outputs for ``prediction``;
    ``target_features`` its features for the clean ``target``.
    """
    x, y = _images(prediction, target)
    return {
        "mse": _mse(x, y),
        "pixel_accuracy": _pixel_accuracy(x, y),
        "mae": _mae(x, y),
        "bce": _bce(x, y),
        "classifier_accuracy": classifier_accuracy(probabilities, labels),
        "ssim": float(np.mean(_ssim_per_image(x, y))),
        "psnr": float(np.mean(_psnr_per_image(x, y))),
        "pixel_fid": frechet_distance(x, y),
        "feature_fid": feature_fid(features, target_features),
    }
