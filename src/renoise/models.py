"""Model builders with the seed's activations, losses and batch sizes, and safe model files.

Autoencoder: elu hidden layers, tanh output (images live in [-1, 1]), MSE, batch 256. The default
dense shape 784-1024-529-256-36 and back is the one from the seed author's thesis repository.
Classifier: relu hidden layers, softmax output, categorical cross-entropy, batch 32; its last
hidden layer is named ``features`` and feeds the feature FID.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import keras
from keras import layers

from renoise.atomic import atomic_path
from renoise.data import IMAGE_SIDE, IMAGE_SIZE
from renoise.errors import DataError

AUTOENCODER_BATCH = 256
CLASSIFIER_BATCH = 32
DEFAULT_HIDDEN = (1024, 529, 256, 36)
CLASSIFIER_HIDDEN = (256, 128)
ARCHITECTURES = ("dense", "conv")


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow and make TensorFlow's ops deterministic."""
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def build_classifier(hidden=CLASSIFIER_HIDDEN) -> keras.Model:
    """A dense classifier of clean digits: relu hidden layers, softmax over 10 classes."""
    inputs = keras.Input((IMAGE_SIZE,), name="image")
    x = inputs
    for k, units in enumerate(hidden):
        name = "features" if k == len(hidden) - 1 else f"hidden_{k}"
        x = layers.Dense(units, activation="relu", name=name)(x)
    outputs = layers.Dense(10, activation="softmax", name="digit")(x)
    model = keras.Model(inputs, outputs, name="classifier")
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def _dense_autoencoder(hidden) -> keras.Model:
    inputs = keras.Input((IMAGE_SIZE,), name="noisy")
    x = inputs
    for k, units in enumerate(hidden):
        x = layers.Dense(units, activation="elu", name=f"encode_{k}")(x)
    for k, units in enumerate(reversed(hidden[:-1])):
        x = layers.Dense(units, activation="elu", name=f"decode_{k}")(x)
    outputs = layers.Dense(IMAGE_SIZE, activation="tanh", name="denoised")(x)
    return keras.Model(inputs, outputs, name="autoencoder")


def _conv_autoencoder(hidden) -> keras.Model:
    """Two strided conv layers down (filters from ``hidden[:2]``) and two transposed convs up."""
    filters = tuple(hidden[:2]) if len(hidden) >= 2 else (32, 32)
    inputs = keras.Input((IMAGE_SIZE,), name="noisy")
    x = layers.Reshape((IMAGE_SIDE, IMAGE_SIDE, 1))(inputs)
    for k, f in enumerate(filters):
        x = layers.Conv2D(f, 3, strides=2, padding="same", activation="elu", name=f"encode_{k}")(x)
    for k, f in enumerate(reversed(filters)):
        x = layers.Conv2DTranspose(f, 3, strides=2, padding="same", activation="elu", name=f"decode_{k}")(x)
    x = layers.Conv2D(1, 3, padding="same", activation="tanh", name="denoised")(x)
    outputs = layers.Reshape((IMAGE_SIZE,))(x)
    return keras.Model(inputs, outputs, name="conv_autoencoder")


def build_autoencoder(architecture: str = "dense", hidden=DEFAULT_HIDDEN) -> keras.Model:
    """A denoising autoencoder (elu hidden, tanh out, MSE), ``dense`` or ``conv``."""
    builders = {"dense": _dense_autoencoder, "conv": _conv_autoencoder}
    if architecture not in builders:
        raise ValueError(f"unknown architecture {architecture!r}; choose one of {', '.join(ARCHITECTURES)}")
    model = builders[architecture](tuple(int(h) for h in hidden))
    model.compile(optimizer="adam", loss="mse")
    return model


def feature_extractor(classifier: keras.Model) -> keras.Model:
    """The classifier cut at its ``features`` layer, for the feature (LeNet-style) FID."""
    return keras.Model(classifier.inputs, classifier.get_layer("features").output, name="features")


def judge(classifier: keras.Model) -> keras.Model:
    """The classifier with two outputs, class probabilities and ``features``, so that one pass
    over an output set serves both the classifier accuracy and the feature FID."""
    return keras.Model(classifier.inputs, [classifier.output, classifier.get_layer("features").output], name="judge")


def save_model(model: keras.Model, path: str | os.PathLike) -> None:
    """Save ``model`` to a ``.keras`` file atomically."""
    with atomic_path(path, suffix=".keras") as tmp:
        model.save(tmp)


def load_model(path: str | os.PathLike) -> keras.Model:
    """Load a ``.keras`` model in safe mode (no arbitrary code); a bad file raises :class:`DataError`."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: model file not found")
    if not zipfile.is_zipfile(path):
        raise DataError(f"{path}: not a keras model (not a .keras zip archive)")
    try:
        return keras.models.load_model(path, safe_mode=True)
    except Exception as exc:  # keras raises many types for a bad archive
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(f"{path}: not a keras model ({reason})") from None
