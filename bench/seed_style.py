"""Seed-style reference implementations that ``bench/run.py`` times renoise against.

Each function does its work the way the seed notebook does (``seed/000_48a0eb0df7313745.txt``,
cells In[5], In[7] and In[8]): a per-image Python loop draws the noise masks, ``tf.keras.metrics``
objects and ``tf.image`` compute the image metrics, ``classifier.evaluate`` the accuracy,
``scipy.linalg.sqrtm`` the FID, and MulticoreTSNE maps the raw 784-pixel outputs. Two fixes from
DESIGN.md section 1 keep the values comparable with renoise's, at no cost in time: SSIM and PSNR
run on per-image (N, 28, 28, 1) tensors, and binary cross-entropy takes the target as ``y_true``.
The feature FID, which the seed lacks, is computed the seed's way too, so both sides compute
the same nine metrics.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
from scipy.linalg import sqrtm

#: The seed's noise levels, ``np.random.choice(11, n) / 10``.
LEVELS = np.arange(11) / 10
#: MulticoreTSNE on 10,000 raw MNIST-like points, 2 cores: seconds per map (DESIGN.md section 4).
TSNE_SECONDS, TSNE_POINTS = 72.0, 10_000
IMAGE_SHAPE = (28, 28, 1)
#: The seed's autoencoder batch size.
BATCH_SIZE = 256


def salt_and_pepper(images: np.ndarray, levels: np.ndarray, rs: np.random.RandomState) -> np.ndarray:
    """The seed's noise (In[5]) with one level per image: a Python loop draws each image's mask."""
    masks = np.array([rs.choice(2, images.shape[1], p=[1 - p, p]) for p in levels])
    images = images + 10 * rs.randint(-1, 2, size=images.shape) * masks
    return np.clip(images, -1.0, 1.0)


def salt_and_pepper_mixed(images: np.ndarray, rs: np.random.RandomState) -> np.ndarray:
    """The seed's ``salt_and_pepper_mixed``: each image its own level from 0, 0.1, ..., 1."""
    return salt_and_pepper(images, rs.choice(len(LEVELS), len(images)) / 10, rs)


def evaluation_sets(images: np.ndarray, rs: np.random.RandomState) -> np.ndarray:
    """The 12 test sets (12, N, 784) float32: the 11 levels one after the other, then Mixed."""
    sets = np.empty((len(LEVELS) + 1,) + images.shape, dtype=np.float32)
    for k, p in enumerate(LEVELS):
        sets[k] = salt_and_pepper(images, np.full(len(images), p), rs)
    sets[-1] = salt_and_pepper_mixed(images, rs)
    return sets


def to_unit(images: np.ndarray) -> np.ndarray:
    """The seed's metric convention: ``np.around((x + 1) / 2, 2)``."""
    return np.around((images + 1) / 2, 2)


def calculate_fid(act1: np.ndarray, act2: np.ndarray) -> float:
    """The seed's ``calculate_fid`` (In[8]): ``sqrtm(sigma1 . sigma2)``, its real part, then the trace."""
    mu1, sigma1 = act1.mean(axis=0), np.cov(act1, rowvar=False)
    mu2, sigma2 = act2.mean(axis=0), np.cov(act2, rowvar=False)
    ssdiff = np.sum((mu1 - mu2) ** 2.0)
    covmean = sqrtm(sigma1.dot(sigma2))
    if np.iscomplexobj(covmean):
        covmean = covmean.real
    return float(ssdiff + np.trace(sigma1 + sigma2 - 2.0 * covmean))


def keras_metric(metric: tf.keras.metrics.Metric, y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Feed one ``tf.keras`` metric object a whole set once and read its result, as In[7] does."""
    metric.update_state(y_true, y_pred)
    return float(metric.result().numpy())


def image_tensor(images: np.ndarray) -> tf.Tensor:
    """Flat images (N, 784) as a float32 (N, 28, 28, 1) tensor for ``tf.image``."""
    return tf.convert_to_tensor(images.reshape((-1,) + IMAGE_SHAPE), tf.float32)


def evaluate_set(output, target, onehot, classifier, features_model, target_features) -> dict[str, float]:
    """Every metric of ``renoise.science.metrics.METRICS`` for one output set, computed the seed's way."""
    accuracy = classifier.evaluate(output, onehot, verbose=0)[1]
    features = features_model.predict(output, verbose=0)
    x, y = to_unit(output), to_unit(target)
    images_x, images_y = image_tensor(x), image_tensor(y)
    return {
        "mse": keras_metric(tf.keras.metrics.MeanSquaredError(), y, x),
        "pixel_accuracy": keras_metric(tf.keras.metrics.Accuracy(), y, x),
        "mae": keras_metric(tf.keras.metrics.MeanAbsoluteError(), y, x),
        "bce": keras_metric(tf.keras.metrics.BinaryCrossentropy(), y, x),
        "classifier_accuracy": float(accuracy),
        "ssim": float(tf.reduce_mean(tf.image.ssim(images_y, images_x, max_val=1))),
        "psnr": float(tf.reduce_mean(tf.image.psnr(images_y, images_x, max_val=1))),
        "pixel_fid": calculate_fid(x, y),
        "feature_fid": calculate_fid(features, target_features),
    }


def evaluate_sets(outputs, target, labels, classifier, features_model) -> dict[str, np.ndarray]:
    """Every metric for each output set, as name -> array with one value per set."""
    onehot = tf.keras.utils.to_categorical(labels, 10)
    target_features = features_model.predict(target, verbose=0)
    rows = [evaluate_set(output, target, onehot, classifier, features_model, target_features) for output in outputs]
    return {name: np.array([row[name] for row in rows]) for name in rows[0]}


def training_arrays(clean: np.ndarray, rs: np.random.RandomState, parent=None) -> dict:
    """The seed's in-memory training input as ``model.fit`` keyword arguments.

    The one-level set noised once (Mixed); for a child, the parent's predictions of it re-noised
    Mixed. Unlike renoise's stream, every epoch then sees the same noisy images.
    """
    x = salt_and_pepper_mixed(clean, rs)
    if parent is not None:
        x = salt_and_pepper_mixed(parent.predict(x, verbose=0), rs)
    return {"x": x.astype(np.float32), "y": clean, "batch_size": BATCH_SIZE}


def tsne_map(x: np.ndarray, seed: int = 0) -> np.ndarray:
    """The seed's map: MulticoreTSNE on the raw outputs, without PCA (``make multicore-tsne``)."""
    from renoise.science import embedding

    return embedding.embed(x, backend="multicore", seed=seed, pca=None)
