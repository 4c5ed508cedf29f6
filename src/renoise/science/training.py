"""Training: the clean classifier, the parent autoencoder and its children.

Training sets are streamed. :class:`NoisyStream` holds only the clean images and a list of
(image, level) items; each batch is noised on the fly from a generator seeded by
``(seed, epoch, batch)``, so the multiple-levels set (11 x N) and a child's re-noised inputs are
never materialised, peak memory stays flat as the set grows, and a batch is the same whatever
order or process draws it. A generator hands the batches to ``fit`` through
:func:`renoise.science.feeds.stream_feed`, a thread drawing the next while the model trains on this one.

A child's input is its parent's output re-noised. The stream hands the child the parent's noisy
input and the random numbers of the re-noising; the parent's forward pass and the re-noising run
inside the child's training step (:func:`child_trainer`), on the same device as the training,
in batches as large as the training's. The numbers are those of the numpy stream: only the
parent's float rounding may differ from a separate ``predict``.
"""

from __future__ import annotations

import collections
import itertools
import math
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterator

import keras
import numpy as np

from renoise import atomic
from renoise.science import feeds, noise
from renoise.science.architectures import AUTOENCODER_BATCH, CLASSIFIER_BATCH
from renoise.science.backend import set_seed
from renoise.science.models import build_autoencoder, build_classifier, predict

#: Named streams of one run's seed, so that no two uses of the seed share random numbers.
STREAM_LEVELS, STREAM_BATCHES, STREAM_VALIDATION = 1, 2, 3
#: Batches drawn ahead of the training step, in a thread: two keep the model from waiting on noise
#: generation, and hold under 2 MB (256 x 784 float32 each).
PREFETCH = 2


class NoisyStream:
    """Epochs of (noisy input, clean target) batches drawn from a training structure.

    ``clean`` are the clean images (N, 784); ``index`` and ``levels`` list the items of one epoch
    (image index, noise level). For a parent a batch's input is the noisy image. For a child
    (``mode`` set: a level, ``"mixed"`` or ``"multi"``) it is the triple (noisy image for the
    parent, the uniforms and levels of the re-noising), which :func:`child_trainer` turns into the
    parent's output re-noised.

    The stream's epoch is one pass over the items; a keras epoch may be a fraction of it (see
    :func:`train_autoencoder`'s ``epochs_per_pass``), and the batches are the same either way.
    """

    def __init__(self, clean, index, levels, *, seed: int, batch_size: int = AUTOENCODER_BATCH, mode=None):
        self.clean = np.asarray(clean, dtype=np.float32)
        self.index = np.asarray(index)
        self.levels = np.asarray(levels, dtype=np.float64)
        self.seed = seed
        self.batch_size = batch_size
        self.mode = None if mode is None else noise.parse_mode(mode)

    def __len__(self) -> int:
        """Batches per epoch."""
        return math.ceil(len(self.index) / self.batch_size)

    def order(self, epoch: int) -> np.ndarray:
        """The items' order in ``epoch``: a fresh permutation each epoch."""
        return np.random.default_rng([self.seed, STREAM_BATCHES, epoch]).permutation(len(self.index))

    def batch(self, epoch: int, batch: int, order: np.ndarray | None = None):
        """Batch ``batch`` of ``epoch`` as (inputs, target): the same whoever draws it, in any order."""
        order = self.order(epoch) if order is None else order
        items = order[batch * self.batch_size : (batch + 1) * self.batch_size]
        rng = np.random.default_rng([self.seed, STREAM_BATCHES, epoch, batch])
        target = self.clean[self.index[items]]
        return draw_inputs(target, self.levels[items], rng, self.mode), target

    def batches(self, epochs: int, ahead: int = PREFETCH) -> Iterator[tuple]:
        """Every batch of ``epochs`` passes in order, for ``fit`` (with ``steps_per_epoch`` at
        most ``len(stream)``). A thread draws the next ``ahead`` batches while the model
        trains on this one: NumPy's noise generation releases the GIL. Closing the generator
        (``fit`` ending early) waits only for the batches already being drawn."""
        items = ((epoch, b, order) for epoch in range(epochs) for order in (self.order(epoch),) for b in range(len(self)))
        with ThreadPoolExecutor(1, thread_name_prefix="noisy-stream") as pool:
            pending = collections.deque(pool.submit(self.batch, *item) for item in itertools.islice(items, ahead))
            while pending:
                drawn = pending.popleft().result()
                pending.extend(pool.submit(self.batch, *item) for item in itertools.islice(items, 1))
                yield drawn

    def feed(self, epochs: int):
        """:meth:`batches` as ``fit`` takes them on this backend (:func:`renoise.science.feeds.stream_feed`);
        a one-image batch, drawn apart from the stream, shows the feed its shapes and dtypes."""
        example = draw_inputs(self.clean[:1], self.levels[:1], np.random.default_rng(0), self.mode), self.clean[:1]
        return feeds.stream_feed(lambda: self.batches(epochs), example)


def draw_inputs(clean, levels, rng: np.random.Generator, mode=None):
    """A batch's input: ``clean`` noised at ``levels``; for a child (``mode`` set) the triple
    (noisy image, re-noising uniforms, re-noising levels) drawn in the order the seed's code draws."""
    x = noise.salt_and_pepper(clean, levels, rng)
    if mode is None:
        return x
    renoise_levels = noise.renoise_levels(mode, levels, rng).astype(np.float32)
    return x, noise.uniforms(len(x), rng), renoise_levels


class Impulses(keras.layers.Layer):
    """:func:`renoise.science.noise.impulses` in the graph: salt-and-pepper at per-image ``levels`` (N,)
    from given ``uniforms`` (N, 784), with the same float32 arithmetic, so the result is the
    numpy stream's to the bit."""

    def call(self, images, uniforms, levels):
        ops = keras.ops
        p = ops.expand_dims(levels, -1)
        salt = ops.logical_and(ops.less(uniforms, p), ops.greater_equal(uniforms, 2 * p / 3))
        pepper = ops.less(uniforms, p / 3)
        step = (ops.cast(salt, "float32") - ops.cast(pepper, "float32")) * 10
        return ops.clip(images + step, -1, 1)


class ChildTrainer(keras.Model):
    """The model a child trains through: the frozen parent's output of the noisy image, re-noised
    by :class:`Impulses`, then the child. Training it trains the child's weights only; the child
    alone is saved."""

    def __init__(self, parent: keras.Model, child: keras.Model):
        super().__init__(name="child_trainer")
        parent.trainable = False
        self.parent_model, self.child, self.renoise = parent, child, Impulses(name="renoise")

    def call(self, inputs, training=False):
        noisy, draws, levels = inputs
        return self.child(self.renoise(self.parent_model(noisy, training=False), draws, levels), training=training)


def child_trainer(parent: keras.Model, child: keras.Model) -> keras.Model:
    """A compiled :class:`ChildTrainer`: MSE, and Adam at the child's own learning rate."""
    trainer = ChildTrainer(parent, child)
    rate = float(keras.ops.convert_to_numpy(child.optimizer.learning_rate))
    trainer.compile(optimizer=keras.optimizers.Adam(rate), loss="mse")
    return trainer


def child_input(parent: keras.Model, inputs) -> np.ndarray:
    """What a child sees for the stream's ``inputs`` triple: the parent's output, re-noised."""
    x, draws, levels = inputs
    return noise.impulses(predict(parent, x), levels, draws)


def validation_set(clean_val, *, seed, parent=None, mode=None) -> tuple[np.ndarray, np.ndarray]:
    """Held-out images noised Mixed (the seed's real-world case), passed through the parent and
    re-noised like the training input for a child. Returns (input the model sees, target)."""
    inputs, target = _validation_draw(clean_val, seed, None if parent is None else mode)
    return (inputs if parent is None else child_input(parent, inputs)), target


def _validation_draw(clean_val, seed: int, mode) -> tuple:
    rng = np.random.default_rng([seed, STREAM_VALIDATION])
    clean_val = np.asarray(clean_val, dtype=np.float32)
    levels = noise.random_levels(len(clean_val), rng)
    return draw_inputs(clean_val, levels, rng, mode), clean_val


class ProgressFile(keras.callbacks.Callback):
    """Write the epoch reached, the planned epochs and the last losses to a JSON file after every
    epoch (atomically), for the runner's live display; the run's folder is the natural place."""

    def __init__(self, path, epochs: int):
        super().__init__()
        self.path = Path(path)
        self.epochs = epochs
        self.start = time.time()

    def _write(self, epoch: int, logs: dict) -> None:
        atomic.write_json(self.path, {"epoch": epoch, "epochs": self.epochs, "seconds": round(time.time() - self.start, 1),
                                      **{k: float(v) for k, v in logs.items() if k in ("loss", "val_loss")}})

    def on_train_begin(self, logs=None) -> None:
        self.start = time.time()
        self._write(0, {})

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        self._write(epoch + 1, logs or {})


class _Relative:
    """Mixin for keras' monitor callbacks: an epoch counts as better only where it lowers the
    monitored loss by at least ``relative`` (a fraction, 0.005 = 0.5 %) of the best so far. keras'
    own ``min_delta`` is absolute, so one threshold would mean different things at a loss of 0.1
    and of 0.01. Only for a positive loss (MSE, cross-entropy), which is all we monitor."""

    relative = 0.0

    def _is_improvement(self, monitor_value, reference_value) -> bool:
        return reference_value is None or float(monitor_value) < float(reference_value) * (1 - self.relative)


class RelativeEarlyStopping(_Relative, keras.callbacks.EarlyStopping):
    """keras' early stopping on validation loss, best weights restored, with a relative
    ``min_delta``: training stops after ``patience`` epochs none of which was better (see :class:`_Relative`)."""

    def __init__(self, patience: int, min_delta: float = 0.0):
        super().__init__(monitor="val_loss", mode="min", patience=patience, restore_best_weights=True)
        self.relative = min_delta


class RelativeReduceLROnPlateau(_Relative, keras.callbacks.ReduceLROnPlateau):
    """keras' ``ReduceLROnPlateau`` on validation loss with a relative ``min_delta``: after
    ``patience`` epochs none of which was better, the learning rate is multiplied by ``factor``
    (never below ``min_lr``). It logs each epoch's rate as ``learning_rate``."""

    def __init__(self, factor: float, patience: int, min_lr: float, min_delta: float = 0.0):
        super().__init__(monitor="val_loss", mode="min", factor=factor, patience=patience, min_lr=min_lr)
        self.relative = min_delta


def _fit(model: keras.Model, data, *, epochs: int, patience: int | None, min_delta: float = 0.0, schedule=None,
         progress=None, **kw) -> dict:
    """``model.fit`` for at most ``epochs`` epochs, with early stopping on validation loss when
    ``patience`` is set (best weights restored; an epoch is better where it lowers the best loss by
    the fraction ``min_delta``), the learning rate lowered on a plateau where ``schedule`` (a
    :data:`renoise.science.architectures.SCHEDULE_KEYS` mapping) says ``plateau``, and a :class:`ProgressFile`
    at ``progress``.

    Returns the history as plain lists (``learning_rate`` per epoch under the plateau schedule)
    plus ``kept_epoch`` (the epoch whose weights the model now holds), ``max_epochs``,
    ``stopped_early`` (True where training ended at its plateau, False where the epoch cap ended
    it: the model may not have converged), ``min_delta``, ``schedule`` and ``fit_seconds``, the
    time ``fit`` took (a run's marker has its whole time: the rest is the run's overhead).
    """
    stopping = RelativeEarlyStopping(patience, min_delta) if patience else None
    callbacks = [c for c in (_scheduler(schedule, min_delta), stopping, progress and ProgressFile(progress, epochs)) if c]
    start = time.perf_counter()
    history = model.fit(*data, epochs=epochs, callbacks=callbacks, **kw)
    seconds = round(time.perf_counter() - start, 2)
    record = {key: [float(v) for v in values] for key, values in history.history.items()}
    run = len(record.get("loss", []))
    kept = stopping.best_epoch + 1 if stopping is not None and stopping.best_weights is not None else run
    return {**record, "kept_epoch": kept, "max_epochs": epochs, "stopped_early": run < epochs, "min_delta": min_delta,
            "schedule": dict(schedule or {"schedule": "constant"}), "fit_seconds": seconds}


def _scheduler(schedule, min_delta: float):
    """The learning-rate callback ``schedule`` asks for: None for ``constant`` (or no schedule)."""
    if not schedule or schedule["schedule"] == "constant":
        return None
    return RelativeReduceLROnPlateau(schedule["lr_factor"], schedule["lr_patience"], schedule["min_lr"], min_delta)


def train_classifier(x, y, x_val, y_val, *, epochs: int, seed: int, patience: int | None = None, progress=None,
                     verbose=2):
    """Train the classifier on clean images (batch 32); ``progress`` names a :class:`ProgressFile`.
    Returns (model, history dict)."""
    set_seed(seed)
    model = build_classifier()
    onehot = keras.utils.to_categorical
    validation = feeds.array_feed((x_val, onehot(y_val, 10)), CLASSIFIER_BATCH)
    history = _fit(model, (x, onehot(y, 10)), validation_data=validation, epochs=epochs,
                   batch_size=CLASSIFIER_BATCH, patience=patience, progress=progress, verbose=verbose)
    return model, history


def train_autoencoder(
    clean_train, clean_val, structure: str, *, epochs: int, seed: int, parent=None, mode=None,
    architecture: str = "dense", hidden=None, learning_rate: float | None = None, patience: int | None = None,
    min_delta: float = 0.0, schedule=None, epochs_per_pass: int = 1, progress=None, verbose=2,
):
    """Train a parent (``parent=None``) or a child autoencoder on ``structure``'s items for at most
    ``epochs`` epochs (early stopping after ``patience`` epochs without a validation loss better by
    the fraction ``min_delta``; ``schedule`` a :data:`renoise.science.architectures.SCHEDULE_KEYS` mapping, or
    None for Adam at a constant rate).

    An epoch is a pass over the structure's items split ``epochs_per_pass`` ways (keras'
    ``steps_per_epoch``): the validation loss is checked, and early stopping and the schedule
    count, that many times a pass. The multiple-levels set (11 x N) is checked 4 times a pass in
    ``quick``, so its plateau is seen within a quarter pass rather than a whole one.

    The child sees the parent's outputs re-noised by ``mode``; ``multi`` needs the
    multiple-levels structure. ``hidden`` and ``learning_rate`` default to the architecture's own;
    ``progress`` names a :class:`ProgressFile`. Returns (model, history dict, see :func:`_fit`).
    """
    mode = None if parent is None else noise.parse_mode(mode)
    if mode == "multi" and structure != "multiple_levels":
        raise ValueError("renoise mode 'multi' needs the multiple_levels structure")
    set_seed(seed)
    index, levels = noise.structure_levels(structure, len(clean_train), np.random.default_rng([seed, STREAM_LEVELS]))
    stream = NoisyStream(clean_train, index, levels, seed=seed, mode=mode)
    steps = math.ceil(len(stream) / epochs_per_pass)
    validation = feeds.array_feed(_validation_draw(clean_val, seed, mode), AUTOENCODER_BATCH)
    model = build_autoencoder(architecture, hidden, learning_rate)
    trainer = model if parent is None else child_trainer(parent, model)
    history = _fit(trainer, (stream.feed(math.ceil(epochs * steps / len(stream))),), validation_data=validation,
                   epochs=epochs, patience=patience, min_delta=min_delta, schedule=schedule, progress=progress,
                   steps_per_epoch=steps, shuffle=False, verbose=verbose)
    return model, {**history, "epochs_per_pass": epochs_per_pass, "steps_per_epoch": steps}
