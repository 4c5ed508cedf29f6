"""Model builders carry the seed's activations, losses and shapes; model files load safely."""

import keras
import numpy as np
import pytest

from renoise import models
from renoise.errors import DataError


def activations(model):
    return [layer.activation.__name__ for layer in model.layers if hasattr(layer, "activation")]


def test_dense_autoencoder_is_the_thesis_shape():
    model = models.build_autoencoder()
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert [layer.units for layer in dense] == [1024, 529, 256, 36, 256, 529, 1024, 784]
    assert activations(model) == ["elu"] * 7 + ["tanh"]
    assert model.loss == "mse"
    assert models.AUTOENCODER_BATCH == 256


def test_autoencoder_sizes_are_configurable_and_conv_works():
    small = models.build_autoencoder(hidden=[64, 8])
    assert [layer.units for layer in small.layers if isinstance(layer, keras.layers.Dense)] == [64, 8, 64, 784]
    conv = models.build_autoencoder("conv", hidden=[8, 4])
    out = conv.predict(np.zeros((2, 784), np.float32), verbose=0)
    assert out.shape == (2, 784) and activations(conv)[-1] == "tanh"
    with pytest.raises(ValueError, match="unknown architecture 'rnn'"):
        models.build_autoencoder("rnn")


def test_classifier_has_relu_softmax_and_features():
    model = models.build_classifier()
    assert activations(model) == ["relu", "relu", "softmax"]
    assert model.loss == "categorical_crossentropy" and models.CLASSIFIER_BATCH == 32
    features = models.feature_extractor(model)
    assert features.predict(np.zeros((3, 784), np.float32), verbose=0).shape == (3, models.CLASSIFIER_HIDDEN[-1])


def test_save_and_load_round_trip(tmp_path):
    model = models.build_autoencoder(hidden=[16, 4])
    x = np.random.default_rng(0).uniform(-1, 1, (5, 784)).astype(np.float32)
    models.save_model(model, tmp_path / "model.keras")
    assert [p.name for p in tmp_path.iterdir()] == ["model.keras"]  # no temporary left behind
    loaded = models.load_model(tmp_path / "model.keras")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_a_file_that_is_not_a_model_is_refused(tmp_path):
    (tmp_path / "model.keras").write_bytes(b"certainly not a zip archive")
    with pytest.raises(DataError, match="model.keras: not a keras model"):
        models.load_model(tmp_path / "model.keras")
    with pytest.raises(DataError, match="model file not found"):
        models.load_model(tmp_path / "absent.keras")


def test_models_with_arbitrary_code_are_refused(tmp_path):
    """A Lambda layer carries Python bytecode; safe mode refuses to deserialize it."""
    inputs = keras.Input((784,))
    outputs = keras.layers.Lambda(lambda t: t * 2)(inputs)
    keras.Model(inputs, outputs).save(tmp_path / "lambda.keras")
    with pytest.raises(DataError, match="not a keras model"):
        models.load_model(tmp_path / "lambda.keras")
