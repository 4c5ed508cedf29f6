"""Model builders with the seed's activations, losses and batch sizes, and safe model files.

Autoencoder: elu hidden layers, tanh output (images live in [-1, 1]), MSE, batch 256. Three
architectures (:data:`renoise.architectures.ARCHITECTURES`): the seed author's dense
784-1024-529-256-36 and back (the default, the subject of the experiment), a small strided
convolutional one, and a residual denoiser. Classifier: relu hidden layers, softmax output,
categorical cross-entropy, batch 32; its last hidden layer is named ``features`` and feeds the
feature FID.

Importing this module sets TensorFlow's thread pools: each op runs on :func:`renoise.op_threads`
threads (part of a run's identity, since a float reduction split differently rounds differently),
and independent ops on :func:`renoise.threads`, the kernel's share of the machine's cores.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import keras
from keras import layers

from renoise import op_threads, threads
from renoise.architectures import AUTOENCODER_BATCH, CLASSIFIER_BATCH, CLASSIFIER_HIDDEN, DEFAULT_SIZES, check_sizes
from renoise.atomic import atomic_path
from renoise.data import IMAGE_SIDE, IMAGE_SIZE
from renoise.errors import DataError


def _limit_threads() -> None:
    """Set TensorFlow's thread pools (a no-op once TensorFlow has started executing), and keep its
    Python logger to errors: many models predicting once each would fill a report with
    "retracing" warnings."""
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    try:
        tf.config.threading.set_intra_op_parallelism_threads(op_threads())
        tf.config.threading.set_inter_op_parallelism_threads(threads())
    except RuntimeError:  # TensorFlow is already running: its pools are fixed
        pass


_limit_threads()


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


def _conv_autoencoder(filters) -> keras.Model:
    """Two strided conv layers down (28 -> 14 -> 7, ``filters`` each) and two transposed convs up."""
    inputs = keras.Input((IMAGE_SIZE,), name="noisy")
    x = layers.Reshape((IMAGE_SIDE, IMAGE_SIDE, 1))(inputs)
    for k, f in enumerate(filters):
        x = layers.Conv2D(f, 3, strides=2, padding="same", activation="elu", name=f"encode_{k}")(x)
    for k, f in enumerate(reversed(filters)):
        x = layers.Conv2DTranspose(f, 3, strides=2, padding="same", activation="elu", name=f"decode_{k}")(x)
    x = layers.Conv2D(1, 3, padding="same", activation="tanh", name="denoised")(x)
    outputs = layers.Reshape((IMAGE_SIZE,))(x)
    return keras.Model(inputs, outputs, name="conv_autoencoder")


@keras.saving.register_keras_serializable(package="renoise")
class ImpulseMask(layers.Layer):
    """1 where a pixel is exactly -1 or +1, where salt-and-pepper noise lands, else 0 (same shape).

    A pixel strictly inside (-1, 1) cannot have been corrupted; switching filters (the adaptive
    median) rely on this, and so may a network. Registered, so that safe mode loads it.
    """

    def call(self, x):
        return keras.ops.cast(keras.ops.greater_equal(keras.ops.abs(x), 1.0), x.dtype)


def _residual_denoiser(sizes) -> keras.Model:
    """A fully convolutional denoiser at full resolution that blends its estimate into the input.

    ``sizes`` is (width, depth): ``depth`` 3x3 elu conv layers of ``width`` filters read the image
    and its :class:`ImpulseMask`; two 3x3 heads give an estimate ``v`` (tanh) and a gate ``g``
    (sigmoid), and the output is ``x + g (v - x)``, a convex combination of two values in [-1, 1].
    The skip from input to output makes the network learn only the correction (residual learning,
    DnCNN), and the gate lets it leave uncorrupted pixels untouched.
    """
    width, depth = sizes
    inputs = keras.Input((IMAGE_SIZE,), name="noisy")
    image = layers.Reshape((IMAGE_SIDE, IMAGE_SIDE, 1), name="image")(inputs)
    x = layers.Concatenate(name="image_and_impulses")([image, ImpulseMask(name="impulses")(image)])
    for k in range(depth):
        x = layers.Conv2D(width, 3, padding="same", activation="elu", name=f"conv_{k}")(x)
    estimate = layers.Conv2D(1, 3, padding="same", activation="tanh", name="estimate")(x)
    gate = layers.Conv2D(1, 3, padding="same", activation="sigmoid", name="gate")(x)
    correction = layers.Multiply(name="gated")([gate, layers.Subtract(name="change")([estimate, image])])
    denoised = layers.Add(name="blend")([image, correction])
    outputs = layers.Reshape((IMAGE_SIZE,), name="denoised")(denoised)
    return keras.Model(inputs, outputs, name="residual_denoiser")


#: Builders by architecture name (:data:`renoise.architectures.ARCHITECTURES`).
BUILDERS = {"dense": _dense_autoencoder, "conv": _conv_autoencoder, "residual": _residual_denoiser}


def build_autoencoder(architecture: str = "dense", hidden=None) -> keras.Model:
    """A compiled denoising autoencoder (tanh output, MSE, Adam) of the named architecture;
    ``hidden`` (its layer sizes) defaults to the architecture's own."""
    problem = check_sizes(architecture, DEFAULT_SIZES.get(architecture) if hidden is None else hidden)
    if problem:
        raise ValueError(problem)
    sizes = tuple(int(h) for h in (DEFAULT_SIZES[architecture] if hidden is None else hidden))
    model = BUILDERS[architecture](sizes)
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
