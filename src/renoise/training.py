"""Training: the clean classifier, the parent autoencoder and its children.

Training sets are streamed. :class:`NoisyBatches` holds only the clean images and a list of
(image, level) items; each batch is noised on the fly from a generator seeded by
``(seed, epoch, batch)``, so the multiple-levels set (11 x N) and a child's re-noised inputs are
never materialised, peak memory stays flat as the set grows, and a batch is the same whatever
order or process draws it. A child's batch goes through the parent first, then is re-noised.
"""

from __future__ import annotations

import math

import keras
import numpy as np

from renoise import noise
from renoise.models import AUTOENCODER_BATCH, CLASSIFIER_BATCH, build_autoencoder, build_classifier, set_seed

# Named streams of one run's seed, so that no two uses of the seed share random numbers.
STREAM_LEVELS, STREAM_BATCHES, STREAM_VALIDATION = 1, 2, 3


def predict(model: keras.Model, x: np.ndarray, batch_size: int = 1024) -> np.ndarray:
    """``model``'s output for ``x`` as float32, batched, without a progress bar."""
    return np.asarray(model.predict(x, batch_size=batch_size, verbose=0), dtype=np.float32)


class NoisyBatches(keras.utils.PyDataset):
    """Batches of (noisy input, clean target) drawn from a training structure.

    ``clean`` are the clean images; ``index`` and ``levels`` list the items of one epoch (image
    index, noise level). With a ``parent``, the noisy batch is first denoised by the parent, then
    re-noised according to ``mode`` (a level, ``"mixed"`` or ``"multi"``), as a child is trained.
    """

    def __init__(self, clean, index, levels, *, seed, batch_size=AUTOENCODER_BATCH, parent=None, mode=None):
        super().__init__()
        self.clean = np.asarray(clean, dtype=np.float32)
        self.index = np.asarray(index)
        self.levels = np.asarray(levels, dtype=np.float64)
        self.seed = seed
        self.batch_size = batch_size
        self.parent = parent
        self.mode = None if parent is None else noise.parse_mode(mode)
        self.epoch = 0
        self._order = self._shuffle()

    def _shuffle(self) -> np.ndarray:
        return np.random.default_rng([self.seed, STREAM_BATCHES, self.epoch]).permutation(len(self.index))

    def __len__(self) -> int:
        return math.ceil(len(self.index) / self.batch_size)

    def __getitem__(self, batch: int):
        items = self._order[batch * self.batch_size : (batch + 1) * self.batch_size]
        rng = np.random.default_rng([self.seed, STREAM_BATCHES, self.epoch, batch])
        target = self.clean[self.index[items]]
        return noisy_input(target, self.levels[items], rng, parent=self.parent, mode=self.mode), target

    def on_epoch_end(self) -> None:
        self.epoch += 1
        self._order = self._shuffle()


def noisy_input(clean, levels, rng, *, parent=None, mode=None) -> np.ndarray:
    """Noise ``clean`` at ``levels``; for a child, denoise with ``parent`` and re-noise by ``mode``."""
    x = noise.salt_and_pepper(clean, levels, rng)
    if parent is None:
        return x
    x = predict(parent, x) if len(x) > AUTOENCODER_BATCH else np.asarray(parent.predict_on_batch(x), dtype=np.float32)
    return noise.salt_and_pepper(x, noise.renoise_levels(mode, levels, rng), rng)


def validation_set(clean_val, *, seed, parent=None, mode=None) -> tuple[np.ndarray, np.ndarray]:
    """Held-out images noised Mixed (the seed's real-world case), passed through the parent and
    re-noised like the training input for a child. Returns (input, target)."""
    rng = np.random.default_rng([seed, STREAM_VALIDATION])
    levels = noise.random_levels(len(clean_val), rng)
    return noisy_input(clean_val, levels, rng, parent=parent, mode=mode), np.asarray(clean_val, dtype=np.float32)


def _fit(model: keras.Model, data, *, patience: int | None, **kw) -> dict:
    """``model.fit`` with early stopping on validation loss when ``patience`` is set (best weights
    restored); returns the history as plain lists plus ``kept_epoch``, the epoch whose weights the
    model now holds (the last one without early stopping)."""
    stopping = [keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience, restore_best_weights=True)] if patience else []
    history = model.fit(*data, callbacks=stopping, **kw)
    record = {key: [float(v) for v in values] for key, values in history.history.items()}
    last = len(record.get("loss", []))
    record["kept_epoch"] = stopping[0].best_epoch + 1 if stopping and stopping[0].best_weights is not None else last
    return record


def train_classifier(x, y, x_val, y_val, *, epochs: int, seed: int, patience: int | None = None, verbose=2):
    """Train the classifier on clean digits (batch 32). Returns (model, history dict)."""
    set_seed(seed)
    model = build_classifier()
    onehot = keras.utils.to_categorical
    history = _fit(model, (x, onehot(y, 10)), validation_data=(x_val, onehot(y_val, 10)), epochs=epochs,
                   batch_size=CLASSIFIER_BATCH, patience=patience, verbose=verbose)
    return model, history


def train_autoencoder(
    clean_train, clean_val, structure: str, *, epochs: int, seed: int, parent=None, mode=None,
    architecture: str = "dense", hidden=None, patience: int | None = None, verbose=2,
):
    """Train a parent (``parent=None``) or a child autoencoder on ``structure``'s items.

    The child sees the parent's outputs re-noised by ``mode``; ``multi`` needs the
    multiple-levels structure. Returns (model, history dict).
    """
    mode = None if parent is None else noise.parse_mode(mode)
    if mode == "multi" and structure != "multiple_levels":
        raise ValueError("renoise mode 'multi' needs the multiple_levels structure")
    set_seed(seed)
    index, levels = noise.structure_levels(structure, len(clean_train), np.random.default_rng([seed, STREAM_LEVELS]))
    batches = NoisyBatches(clean_train, index, levels, seed=seed, parent=parent, mode=mode)
    validation = validation_set(clean_val, seed=seed, parent=parent, mode=mode)
    model = build_autoencoder(architecture, **({"hidden": hidden} if hidden else {}))
    history = _fit(model, (batches,), validation_data=validation, epochs=epochs, patience=patience, verbose=verbose)
    return model, history
