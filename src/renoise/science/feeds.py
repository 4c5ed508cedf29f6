"""How batches reach keras' ``fit`` and ``predict``: the one place that differs by backend.

On TensorFlow, keras wraps arrays and generators in tf.data pipelines that autotune, and deleting
an autotuned iterator (each epoch's validation pass, each ``predict``, the end of each ``fit``)
waits for the autotuning thread's next wake-up: often 4-7 s with the cores idle. Measured on the
residual parent, 2 cores, six 3-epoch fits from arrays with a validation set: 51 of 151 s went to
those waits, and none with autotuning off (``bench/iterator_stall.py``; README, "Training
throughput"). So on TensorFlow renoise builds its own pipelines, autotuning off; on JAX and PyTorch
keras iterates NumPy directly, and the feeds are plain.

The classifier still trains on keras' own pipeline (its order of the images comes from keras'
shuffle, and a change would change every result downstream); its validation uses a feed.
"""

from __future__ import annotations

import math
from typing import Callable, Iterator

import keras
import numpy as np

from renoise.science.backend import name

#: Batches a TensorFlow pipeline draws ahead of the step that consumes them (a few MB at batch 256).
PREFETCH = 2


def stream_feed(batches: Callable[[], Iterator[tuple]], example: tuple):
    """What ``fit`` trains on for the stream of batches ``batches()``: a tf.data pipeline over it
    on TensorFlow, the generator itself elsewhere. ``example``, one batch, gives the pipeline's
    signature (the batch axis left free)."""
    if name() != "tensorflow":
        return batches()
    import tensorflow as tf

    signature = keras.tree.map_structure(lambda a: tf.TensorSpec((None, *np.shape(a)[1:]), np.asarray(a).dtype), example)
    return _untuned(tf.data.Dataset.from_generator(batches, output_signature=signature))


def array_feed(arrays, batch_size: int):
    """``arrays`` (one array, or a tuple of equally long ones) in order, ``batch_size`` rows at a
    time, for ``predict`` and for ``fit``'s validation data. Floating arrays are cast to keras'
    float type, as keras' own adapters do (one-hot labels come as float64)."""
    arrays = keras.tree.map_structure(_floatx, arrays)
    if name() != "tensorflow":
        return ArrayBatches(arrays, batch_size)
    import tensorflow as tf

    return _untuned(tf.data.Dataset.from_tensor_slices(arrays).batch(batch_size))


def _floatx(array):
    """``array`` as a NumPy array, floating ones in keras' float type."""
    array = np.asarray(array)
    return array.astype(keras.config.floatx(), copy=False) if np.issubdtype(array.dtype, np.floating) else array


def _untuned(dataset):
    """``dataset`` with tf.data's autotuning off and :data:`PREFETCH` batches drawn ahead."""
    import tensorflow as tf

    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.with_options(options).prefetch(PREFETCH)


class ArrayBatches(keras.utils.PyDataset):
    """Arrays in order, ``batch_size`` rows a batch (the last may be shorter), for any backend."""

    def __init__(self, arrays, batch_size: int):
        super().__init__()
        self.arrays, self.batch_size = arrays, batch_size
        self.rows = len(keras.tree.flatten(arrays)[0])

    def __len__(self) -> int:
        return math.ceil(self.rows / self.batch_size)

    def __getitem__(self, index: int):
        rows = slice(index * self.batch_size, (index + 1) * self.batch_size)
        return keras.tree.map_structure(lambda a: a[rows], self.arrays)
