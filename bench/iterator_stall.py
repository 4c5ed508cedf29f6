"""Where a fit's time goes outside its training steps, with keras' own tf.data pipelines and with
renoise's (README, "Training throughput").

The residual parent (or ``--architecture``) trains ``--epochs``-epoch fits on the same 4,050
noisy mnist5k images held in memory, the feeds taking turns: keras' arrays (``fit(x, y,
batch_size=256)``, a pipeline that autotunes) and :func:`renoise.science.feeds.array_feed`
(autotuning off), with a Mixed validation set on 500 images, as a run has. A callback stamps every
hook; any gap of over 1 s outside a training step (at an epoch's start, its validation, or the
end of the fit) is a stall. Prints each fit, then per feed: fits, fits with a stall, seconds
stalled, seconds in all.

    .venv/bin/python bench/iterator_stall.py [--fits 6] [--epochs 3] [--architecture residual]
"""

from __future__ import annotations

import argparse
import os
import time

from renoise.pipeline import engine
from renoise.science import backend

# A run's kernel environment (1 thread per op), as bench/run.py, before TensorFlow starts.
for _name, _value in {**engine.thread_settings(None, 1), **backend.kernel_environment(backend.DEFAULT, 1)}.items():
    os.environ.setdefault(_name, _value)

import keras  # noqa: E402
import numpy as np  # noqa: E402

from renoise.science import data, feeds, models, noise, training  # noqa: E402
from renoise.science.architectures import ARCHITECTURES, AUTOENCODER_BATCH  # noqa: E402

IMAGES, VALIDATION = 4_050, 500
#: A gap outside the training steps longer than this is a stall (seconds).
STALL = 1.0


class Stamps(keras.callbacks.Callback):
    """The time of every hook of a fit, to find the gaps between training steps."""

    def __init__(self):
        super().__init__()
        self.stamps = []

    def stamp(self, hook: str) -> None:
        self.stamps.append((hook, time.perf_counter()))

    def on_epoch_begin(self, epoch, logs=None):
        self.stamp("epoch")

    def on_train_batch_begin(self, batch, logs=None):
        self.stamp("step")

    def on_train_batch_end(self, batch, logs=None):
        self.stamp("step end")

    def on_epoch_end(self, epoch, logs=None):
        self.stamp("epoch end")

    def stalls(self) -> list[float]:
        """Gaps over :data:`STALL` seconds between hooks, training steps excepted."""
        pairs = zip(self.stamps, self.stamps[1:])
        return [round(b - a, 1) for (hook, a), (_, b) in pairs if hook != "step" and b - a > STALL]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fits", type=int, default=6, help="timed fits per feed (default 6)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per fit (default 3)")
    parser.add_argument("--architecture", default="residual", choices=ARCHITECTURES,
                        help="the autoencoder (default residual)")
    args = parser.parse_args()
    dataset = data.load_dataset("mnist5k")
    clean, clean_val = dataset.x_train[:IMAGES], dataset.x_test[:VALIDATION]
    rng = np.random.default_rng(0)
    noisy = noise.salt_and_pepper(clean, noise.random_levels(len(clean), rng), rng)
    validation = training.validation_set(clean_val, seed=0)
    model = models.build_autoencoder(args.architecture)
    fits = {
        "keras' arrays": lambda epochs, **kw: model.fit(noisy, clean, batch_size=AUTOENCODER_BATCH, epochs=epochs,
                                                        validation_data=validation, verbose=0, **kw),
        "renoise's feeds": lambda epochs, **kw: model.fit(feeds.array_feed((noisy, clean), AUTOENCODER_BATCH),
                                                          epochs=epochs, shuffle=False, verbose=0, **kw,
                                                          validation_data=feeds.array_feed(validation, AUTOENCODER_BATCH)),
    }
    for fit in fits.values():
        fit(1)  # traces the training and validation steps
    results = {feed: [] for feed in fits}
    for i in range(args.fits):
        for feed, fit in fits.items():
            stamps = Stamps()
            start = time.perf_counter()
            fit(args.epochs, callbacks=[stamps])
            stamps.stamp("returned")
            seconds = time.perf_counter() - start
            results[feed].append((seconds, stamps.stalls()))
            print(f"fit {i}, {feed}: {seconds:.1f} s, stalls {stamps.stalls()} s", flush=True)
    for feed, runs in results.items():
        print(f"{feed}: {len(runs)} fits, {sum(1 for _, s in runs if s)} with a stall, "
              f"{sum(sum(s) for _, s in runs):.1f} s stalled, {sum(t for t, _ in runs):.1f} s in all")


if __name__ == "__main__":
    main()
