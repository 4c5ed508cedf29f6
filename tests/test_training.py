"""Streamed training sets: shapes, determinism, flat memory, children through their parent."""

import tracemalloc

import keras
import numpy as np
import pytest

from renoise import noise, training


@pytest.fixture(scope="module")
def clean(digits):
    return digits[0][:120]


def batches(clean, structure="multiple_levels", seed=1, **kw):
    index, levels = noise.structure_levels(structure, len(clean), np.random.default_rng(0))
    return training.NoisyBatches(clean, index, levels, seed=seed, batch_size=32, **kw)


def test_batches_cover_the_structure(clean):
    stream = batches(clean)
    assert len(stream) == int(np.ceil(11 * 120 / 32))
    x, y = stream[0]
    assert x.shape == y.shape == (32, 784) and x.dtype == np.float32
    targets = np.concatenate([stream[b][1] for b in range(len(stream))])
    assert len(targets) == 1320
    counts = np.unique(targets, axis=0, return_counts=True)[1]
    assert set(counts) == {11}  # every clean image appears once per level


def test_a_batch_depends_on_seed_epoch_and_index_only(clean):
    a, b = batches(clean), batches(clean)
    b[5]  # drawing another batch first changes nothing
    assert np.array_equal(a[3][0], b[3][0])
    assert not np.array_equal(a[3][0], batches(clean, seed=2)[3][0])
    first = a[3][0]
    a.on_epoch_end()
    assert not np.array_equal(first, a[3][0])  # fresh order and noise each epoch


def test_memory_stays_flat_as_the_multiple_levels_set_grows():
    """Peak allocation while drawing batches must not grow with N (no 11 x N copy)."""
    peaks = []
    for n in (500, 4000):
        clean = np.zeros((n, 784), np.float32)
        tracemalloc.start()
        stream = batches(clean)
        for b in range(3):
            stream[b]
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    full_set = 11 * 4000 * 784 * 4
    assert peaks[1] < full_set / 10
    assert peaks[1] - peaks[0] < 3500 * 784 * 4 + 2**20  # at most the copy of the clean images


def test_child_batches_pass_through_the_parent(clean):
    parent = keras.Sequential([keras.Input((784,)), keras.layers.Dense(784, kernel_initializer="zeros",
                                                                      bias_initializer="zeros", activation="tanh")])
    quiet = batches(clean, parent=parent, mode=0.0)[0][0]
    assert np.all(quiet == 0)  # the parent outputs 0 and renoising at 0 % changes nothing
    loud = batches(clean, parent=parent, mode=1.0)[0][0]
    assert abs(np.mean(loud != 0) - 2 / 3) < 0.02


def test_multi_needs_multiple_levels(clean):
    with pytest.raises(ValueError, match="multiple_levels"):
        training.train_autoencoder(clean, clean[:10], "one_level", epochs=1, seed=0, parent=object(), mode="multi")


def test_validation_set_is_mixed_and_seeded(clean):
    x1, y1 = training.validation_set(clean, seed=4)
    x2, _ = training.validation_set(clean, seed=4)
    assert np.array_equal(x1, x2) and np.array_equal(y1, clean)
    assert 0.05 < np.mean(x1 != clean) < 0.6


def test_training_learns_and_is_deterministic(clean):
    runs = [training.train_autoencoder(clean, clean[:20], "one_level", epochs=3, seed=7, hidden=[32, 8], verbose=0)
            for _ in range(2)]
    (model_a, history_a), (model_b, history_b) = runs
    assert history_a["loss"][-1] < history_a["loss"][0]
    assert history_a == history_b
    for wa, wb in zip(model_a.get_weights(), model_b.get_weights()):
        np.testing.assert_array_equal(wa, wb)


@pytest.mark.parametrize("patience", [None, 1])
def test_the_kept_epoch_is_the_one_whose_weights_the_model_holds(clean, patience):
    model, history = training.train_autoencoder(clean, clean[:20], "one_level", epochs=4, seed=0, hidden=[8],
                                                patience=patience, verbose=0)
    x_val, y_val = training.validation_set(clean[:20], seed=0)
    kept = history["val_loss"][history["kept_epoch"] - 1]
    assert model.evaluate(x_val, y_val, verbose=0) == pytest.approx(kept, rel=1e-4)
    if patience is None:
        assert history["kept_epoch"] == 4


def test_classifier_training(digits):
    images, labels = digits
    model, history = training.train_classifier(images[:150], labels[:150], images[150:], labels[150:], epochs=2,
                                               seed=0, verbose=0)
    assert set(history) >= {"loss", "val_loss", "accuracy", "kept_epoch"}
    assert training.predict(model, images[:4]).shape == (4, 10)
