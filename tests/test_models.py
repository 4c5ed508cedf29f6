"""Model builders carry the seed's activations, losses and shapes; model files load safely."""

import keras
import numpy as np
import pytest

from renoise.science import architectures, models
from renoise.errors import DataError


def activations(model):
    return [layer.activation.__name__ for layer in model.layers if hasattr(layer, "activation")]


def test_dense_autoencoder_is_the_thesis_shape():
    model = models.build_autoencoder()
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert [layer.units for layer in dense] == [1024, 529, 256, 36, 256, 529, 1024, 784]
    assert activations(model) == ["elu"] * 7 + ["tanh"]
    assert model.loss == "mse"
    assert architectures.AUTOENCODER_BATCH == 256


def test_autoencoder_sizes_are_configurable_and_conv_has_its_own_defaults():
    small = models.build_autoencoder(hidden=[64, 8])
    assert [layer.units for layer in small.layers if isinstance(layer, keras.layers.Dense)] == [64, 8, 64, 784]
    conv = models.build_autoencoder("conv")
    convolutions = [layer for layer in conv.layers if isinstance(layer, (keras.layers.Conv2D, keras.layers.Conv2DTranspose))]
    assert [layer.filters for layer in convolutions] == [32, 64, 64, 32, 1]  # not the dense sizes
    out = conv.predict(np.zeros((2, 784), np.float32), verbose=0)
    assert out.shape == (2, 784) and activations(conv)[-1] == "tanh"
    with pytest.raises(ValueError, match="unknown architecture 'rnn'"):
        models.build_autoencoder("rnn")
    with pytest.raises(ValueError, match="conv takes the filters of its two strided layers"):
        models.build_autoencoder("conv", hidden=[8, 8, 8])


def extremes_and_greys(n=64):
    """Images of 8-bit grey levels (k/255*2-1, as the datasets hold them) with many exact -1 and
    +1 pixels, where impulses land."""
    rng = np.random.default_rng(0)
    x = (rng.integers(0, 256, (n, 784)) / 255 * 2 - 1).astype(np.float32)
    x[rng.random(x.shape) < 0.3] = -1.0
    x[rng.random(x.shape) < 0.2] = 1.0
    return x


def test_the_residual_denoiser_keeps_the_seeds_contract():
    model = models.build_autoencoder("residual", hidden=[8, 8, 8])
    x = extremes_and_greys()
    out = model.predict(x, verbose=0)
    assert out.shape == (64, 784) and out.dtype == np.float32
    assert out.min() >= -1 and out.max() <= 1  # a tanh
    assert model.loss == "mse" and activations(model).count("tanh") == 1
    assert len([layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]) == 3 + 1  # body and head
    mask = keras.Model(model.inputs, model.get_layer("impulses").output).predict(x, verbose=0).reshape(64, 784)
    np.testing.assert_array_equal(mask, (np.abs(x) == 1).astype(np.float32))  # exactly the extremes
    # by hand from the head: out = tanh(atanh(x clipped to ±0.995) + r), the correction added to the skip
    r = keras.Model(model.inputs, model.get_layer("correction").output).predict(x, verbose=0).reshape(64, 784)
    np.testing.assert_allclose(out, np.tanh(np.arctanh(np.clip(x, -0.995, 0.995)) + r), atol=1e-5)


def test_without_a_correction_the_residual_denoiser_gives_its_input_back():
    """With the head's weights at 0 the skip alone remains: every grey exactly (to float32), every
    pixel at -1 or +1 at ±0.995, which the metrics' rounding to hundredths of [0, 1] reads as ±1."""
    model = models.build_autoencoder("residual", hidden=[8, 8])
    head = model.get_layer("correction")
    head.set_weights([np.zeros_like(w) for w in head.get_weights()])
    x = extremes_and_greys()
    out = model.predict(x, verbose=0)
    greys = np.abs(x) < 1
    np.testing.assert_allclose(out[greys], x[greys], atol=2e-6)
    np.testing.assert_allclose(np.abs(out[~greys]), 0.995, atol=1e-6)
    np.testing.assert_array_equal(np.round((out + 1) / 2, 2), np.round((x + 1) / 2, 2))


def test_the_residual_denoiser_learns_at_its_own_rate():
    assert float(models.build_autoencoder("residual", hidden=[4]).optimizer.learning_rate) == pytest.approx(3e-3)
    assert float(models.build_autoencoder(hidden=[8]).optimizer.learning_rate) == pytest.approx(1e-3)
    assert float(models.build_autoencoder(hidden=[8], learning_rate=0.01).optimizer.learning_rate) == pytest.approx(0.01)


def test_the_residual_denoiser_loads_in_safe_mode(tmp_path):
    model = models.build_autoencoder("residual", hidden=[8, 8])
    models.save_model(model, tmp_path / "model.keras")
    x = extremes_and_greys(5)
    np.testing.assert_array_equal(models.load_model(tmp_path / "model.keras").predict(x, verbose=0),
                                  model.predict(x, verbose=0))


def test_classifier_has_relu_softmax_and_features():
    model = models.build_classifier()
    assert activations(model) == ["relu", "relu", "softmax"]
    assert model.loss == "categorical_crossentropy" and architectures.CLASSIFIER_BATCH == 32
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


@pytest.fixture(scope="module")
def small_mnist():
    """1,024 training and 200 validation digits of mnist5k, in [-1, 1]."""
    from renoise.science.data import load_dataset

    data = load_dataset("mnist5k", n_train=1024, n_test=200)
    return data.x_train, data.x_test


@pytest.mark.parametrize("seed", range(5))
def test_the_residual_parent_leaves_the_identity_on_every_seed(small_mnist, seed):
    """The gated design stalled at the identity on seeds 0 and 2 (its gates shut after an overshoot,
    README "Architectures"): after a few epochs the validation loss must be well below the noisy
    input's own MSE to its clean target."""
    from renoise.science import training

    train, val = small_mnist
    model, history = training.train_autoencoder(train, val, "one_level", epochs=4, seed=seed, architecture="residual",
                                                verbose=0)
    noisy, clean = training.validation_set(val, seed=seed)
    identity = float(np.mean((noisy - clean) ** 2))
    assert history["val_loss"][-1] < 0.5 * identity
    assert model.evaluate(noisy, clean, verbose=0) == pytest.approx(history["val_loss"][-1], rel=1e-4)
