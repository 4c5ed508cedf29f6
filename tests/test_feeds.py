"""How batches reach keras: the feeds give exactly the batches they are made from, in order, and
on TensorFlow without tf.data's autotuning (whose iterators stall when deleted, README)."""

import keras
import numpy as np
import pytest

from renoise.science import backend, feeds, models, noise, training

pytestmark = pytest.mark.skipif(backend.name() != "tensorflow", reason="the pipelines are TensorFlow's")


def rows(n=10, width=3):
    return np.arange(n * width, dtype=np.float32).reshape(n, width)


def as_numpy(batch):
    return keras.tree.map_structure(np.asarray, batch)


def test_an_array_feed_gives_the_rows_in_order_in_batches_of_its_size():
    x, y = rows(), rows() * -1
    got = [as_numpy(b) for b in feeds.array_feed((x, y), 4)]
    assert [len(b[0]) for b in got] == [4, 4, 2]
    np.testing.assert_array_equal(np.concatenate([b[0] for b in got]), x)
    np.testing.assert_array_equal(got[2][1], y[8:10])


def test_the_tensorflow_pipelines_do_not_autotune(clean_stream):
    for feed in (feeds.array_feed(rows(), 4), clean_stream.feed(1)):
        assert feed.options().autotune.enabled is False


def test_array_batches_slice_nested_arrays_like_numpy():
    x, u, y = rows(7), rows(7) + 100, np.arange(7.0)
    batches = feeds.ArrayBatches(((x, u), y), 3)
    assert len(batches) == 3
    (bx, bu), by = batches[2]
    np.testing.assert_array_equal(bx, x[6:])
    np.testing.assert_array_equal(bu, u[6:])
    np.testing.assert_array_equal(by, y[6:])


def test_predict_through_each_feed_equals_keras_on_the_arrays():
    model = models.build_autoencoder(hidden=[16, 4])
    x = np.random.default_rng(0).uniform(-1, 1, (70, 784)).astype(np.float32)
    expected = model.predict(x, batch_size=32, verbose=0)
    np.testing.assert_allclose(models.predict(model, x, batch_size=32), expected, rtol=0, atol=1e-6)
    np.testing.assert_allclose(model.predict(feeds.ArrayBatches(x, 32), verbose=0), expected, rtol=0, atol=1e-6)


@pytest.fixture
def clean_stream(digits):
    clean = digits[0][:40]
    index, levels = noise.structure_levels("one_level", len(clean), np.random.default_rng(0))
    return training.NoisyStream(clean, index, levels, seed=3, batch_size=16, mode="mixed")


def test_a_stream_feed_gives_the_streams_batches_to_the_bit(clean_stream):
    got = [as_numpy(b) for b in clean_stream.feed(2)]
    expected = list(clean_stream.batches(2))
    assert len(got) == len(expected) == 2 * len(clean_stream)
    for mine, theirs in zip(got, expected):
        for a, b in zip(keras.tree.flatten(mine), keras.tree.flatten(theirs)):
            np.testing.assert_array_equal(a, b)


def test_floating_arrays_reach_keras_in_its_float_type_and_labels_keep_theirs():
    (x, labels), = [as_numpy(b) for b in feeds.array_feed((np.ones((3, 2)), np.arange(3)), 4)]
    assert x.dtype == np.dtype(keras.config.floatx()) and labels.dtype == np.arange(3).dtype
