"""Model builders with the seed's activations, losses and batch sizes, safe model files, and inference.

Autoencoder: elu hidden layers, tanh output (images live in [-1, 1]), MSE, batch 256. Three
architectures (:data:`renoise.science.architectures.ARCHITECTURES`): the seed author's dense
784-1024-529-256-36 and back (the default, the subject of the experiment), a small strided
convolutional one, and a residual denoiser. Classifier: relu hidden layers, softmax output,
categorical cross-entropy, batch 32; its last hidden layer is named ``features`` and feeds the
feature FID. :func:`predict` and :func:`accuracy` run a model on images, batched.

Importing this module sets the backend's thread pools (:mod:`renoise.science.backend`): each op runs on
:func:`renoise.op_threads` threads (part of a run's identity, since a float reduction split
differently rounds differently), and independent ops on :func:`renoise.threads`, the kernel's
share of the machine's cores.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import keras
import numpy as np
from keras import layers

from renoise import op_threads, threads
from renoise.science import backend, feeds
from renoise.science.architectures import CLASSIFIER_HIDDEN, DEFAULT_LEARNING_RATES, DEFAULT_SIZES, check_sizes
from renoise.atomic import atomic_path
from renoise.errors import DataError, first_line
from renoise.science.noise import IMAGE_SIDE, IMAGE_SIZE


backend.limit_threads(op_threads(), threads())


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


def _impulse_mask(image):
    """1 where a pixel is -1 or +1, where salt-and-pepper noise lands, 0 where it is certainly clean.

    Built from keras' own layers (no Lambda, so safe mode loads it): grey levels are ``k/255*2-1``,
    so ``relu(255|x| - 254)`` capped at 1 is 1 at ±1 and 0 from the largest grey inward; values
    between (a parent's outputs, which a child reads) give a mask between 0 and 1.
    """
    salt = layers.ReLU(max_value=1.0, name="is_salt")(layers.Rescaling(255.0, -254.0, name="salt_ramp")(image))
    pepper = layers.ReLU(max_value=1.0, name="is_pepper")(layers.Rescaling(-255.0, -254.0, name="pepper_ramp")(image))
    return layers.Add(name="impulses")([salt, pepper])


#: The skip's bound: the input is clipped to ±SKIP_LIMIT before its inverse tanh, so a pixel at -1 or
#: +1 comes back at ±0.995 with no correction (±1 after the metrics' rounding to hundredths), and
#: every grey strictly inside (the largest is 253/255*2-1 = 0.984) comes back exactly.
SKIP_LIMIT = 0.995


@keras.saving.register_keras_serializable(package="renoise")
class InverseTanh(layers.Layer):
    """``atanh(clip(x, -SKIP_LIMIT, SKIP_LIMIT))``: the pre-activation whose tanh is the image again,
    so a tanh output layer can pass the input through unchanged. Registered with keras, so safe
    mode loads a model holding it (it carries no code of its own)."""

    def call(self, images):
        return keras.ops.arctanh(keras.ops.clip(images, -SKIP_LIMIT, SKIP_LIMIT))


def _residual_denoiser(filters) -> keras.Model:
    """A residual denoiser at full resolution (one 3x3 elu conv layer per entry of ``filters``).

    Impulse noise leaves a corrupted pixel at exactly -1 or +1, so a pixel strictly inside (-1, 1)
    is certainly clean: switching filters such as the adaptive median keep those pixels and repair
    the rest. The network reads the image with its :func:`_impulse_mask`; a linear 3x3 head on
    its features and the input predicts a correction ``r`` added before the output's tanh:
    ``tanh(atanh(x) + r)`` (:class:`InverseTanh`), in [-1, 1]. With ``r = 0`` that is the input
    itself, every grey exactly, so the layers learn only the correction (residual learning, as in
    DnCNN, Zhang et al. 2017), mostly at the impulses. (A skip of ``tanh(3x + r)`` bent every grey,
    and a small net spent its capacity undoing the bend: README, "Architectures".)

    The correction is added, not gated: a product such as ``x + g (v - x)`` (sigmoid gate ``g``,
    tanh estimate ``v``) passes no gradient to ``v`` where ``g`` is shut and none to ``g`` where
    ``v`` equals the input, and after one overshoot (``v`` at +1 everywhere, ``g`` shut) it stalls
    at the identity. Here every pixel's error reaches the head through ``1 - y^2`` alone.
    """
    inputs = keras.Input((IMAGE_SIZE,), name="noisy")
    image = layers.Reshape((IMAGE_SIDE, IMAGE_SIDE, 1), name="image")(inputs)
    given = layers.Concatenate(name="image_and_impulses")([image, _impulse_mask(image)])
    x = given
    for k, width in enumerate(filters):
        x = layers.Conv2D(width, 3, padding="same", activation="elu", name=f"conv_{k}")(x)
    x = layers.Concatenate(name="features_and_image")([x, given])
    correction = layers.Conv2D(1, 3, padding="same", name="correction")(x)
    skip = InverseTanh(name="skip")(image)
    denoised = layers.Activation("tanh", name="bounded")(layers.Add(name="corrected")([skip, correction]))
    outputs = layers.Reshape((IMAGE_SIZE,), name="denoised")(denoised)
    return keras.Model(inputs, outputs, name="residual_denoiser")


#: Builders by architecture name (:data:`renoise.science.architectures.ARCHITECTURES`).
BUILDERS = {"dense": _dense_autoencoder, "conv": _conv_autoencoder, "residual": _residual_denoiser}


def build_autoencoder(architecture: str = "dense", hidden=None, learning_rate: float | None = None) -> keras.Model:
    """A compiled denoising autoencoder (tanh output, MSE, Adam) of the named architecture;
    ``hidden`` (its layer sizes) and ``learning_rate`` (Adam's) default to the architecture's own."""
    problem = check_sizes(architecture, DEFAULT_SIZES.get(architecture) if hidden is None else hidden)
    if problem:
        raise ValueError(problem)
    sizes = tuple(int(h) for h in (DEFAULT_SIZES[architecture] if hidden is None else hidden))
    model = BUILDERS[architecture](sizes)
    rate = DEFAULT_LEARNING_RATES[architecture] if learning_rate is None else learning_rate
    model.compile(optimizer=keras.optimizers.Adam(rate), loss="mse")
    return model


def feature_extractor(classifier: keras.Model) -> keras.Model:
    """The classifier cut at its ``features`` layer, for the feature (LeNet-style) FID."""
    return keras.Model(classifier.inputs, classifier.get_layer("features").output, name="features")


def judge(classifier: keras.Model) -> keras.Model:
    """The classifier with two outputs, class probabilities and ``features``, so that one pass
    over an output set serves both the classifier accuracy and the feature FID."""
    return keras.Model(classifier.inputs, [classifier.output, classifier.get_layer("features").output], name="judge")


def predict(model: keras.Model, x: np.ndarray, batch_size: int = 1024):
    """``model``'s output for ``x`` as float32 (a list of arrays for a model with several outputs),
    batched, without a progress bar."""
    outputs = model.predict(feeds.array_feed(x, batch_size), verbose=0)
    return keras.tree.map_structure(lambda a: np.asarray(a, dtype=np.float32), outputs)


def accuracy(classifier: keras.Model, x: np.ndarray, labels: np.ndarray) -> float:
    """Share of images ``x`` whose most probable class under ``classifier`` is their label."""
    return float(np.mean(np.argmax(predict(classifier, x), axis=1) == np.asarray(labels)))


def save_model(model: keras.Model, path: str | os.PathLike) -> None:
    """Save ``model`` to a ``.keras`` file atomically."""
    with atomic_path(path, suffix=".keras") as tmp:
        model.save(tmp)


def load_model(path: str | os.PathLike) -> keras.Model:
    """Load a ``.keras`` model in safe mode (no arbitrary code) for inference: without its loss and
    optimizer state, which predicting never needs (loading them for a model that never trained
    again only made keras warn). A bad file raises :class:`DataError`."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: model file not found")
    if not zipfile.is_zipfile(path):
        raise DataError(f"{path}: not a keras model (not a .keras zip archive)")
    try:
        return keras.models.load_model(path, safe_mode=True, compile=False)
    except Exception as exc:  # keras raises many types for a bad archive
        raise DataError(f"{path}: not a keras model ({first_line(exc)})") from None
