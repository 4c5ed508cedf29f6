"""Streamed training sets: identical batches whoever draws them, flat memory, children through
their parent inside the training step, early stopping that keeps the best epoch."""

import itertools
import tracemalloc

import keras
import numpy as np
import pytest

from renoise import atomic
from renoise.science import models, noise, training


@pytest.fixture(scope="module")
def clean(digits):
    return digits[0][:120]


def stream(clean, structure="multiple_levels", seed=1, **kw):
    index, levels = noise.structure_levels(structure, len(clean), np.random.default_rng(0))
    return training.NoisyStream(clean, index, levels, seed=seed, batch_size=32, **kw)


def numpy_batch(clean, index, levels, seed, epoch, batch, parent=None, mode=None, size=32):
    """A batch as the original NoisyBatches drew it, written out by hand: permute, noise, and for a
    child predict with the parent and re-noise, all from one generator per (seed, epoch, batch)."""
    order = np.random.default_rng([seed, training.STREAM_BATCHES, epoch]).permutation(len(index))
    items = order[batch * size : (batch + 1) * size]
    rng = np.random.default_rng([seed, training.STREAM_BATCHES, epoch, batch])
    target = clean[index[items]]
    x = noise.salt_and_pepper(target, levels[items], rng)
    if parent is not None:
        x = noise.salt_and_pepper(models.predict(parent, x), noise.renoise_levels(mode, levels[items], rng), rng)
    return x, target


def test_batches_cover_the_structure(clean):
    s = stream(clean)
    assert len(s) == int(np.ceil(11 * 120 / 32))
    x, y = s.batch(0, 0)
    assert x.shape == y.shape == (32, 784) and x.dtype == np.float32
    targets = np.concatenate([s.batch(0, b)[1] for b in range(len(s))])
    assert len(targets) == 1320
    assert set(np.unique(targets, axis=0, return_counts=True)[1]) == {11}  # every image once per level


def test_a_batch_depends_on_seed_epoch_and_index_only(clean):
    a, b = stream(clean), stream(clean)
    b.batch(0, 5)  # drawing another batch first changes nothing
    assert np.array_equal(a.batch(0, 3)[0], b.batch(0, 3)[0])
    assert not np.array_equal(a.batch(0, 3)[0], stream(clean, seed=2).batch(0, 3)[0])
    assert not np.array_equal(a.batch(0, 3)[0], a.batch(1, 3)[0])  # fresh order and noise each epoch


def test_parent_batches_are_the_original_streams_to_the_bit(clean):
    index, levels = noise.structure_levels("one_level", len(clean), np.random.default_rng(0))
    s = training.NoisyStream(clean, index, levels, seed=5, batch_size=32)
    for epoch, batch in ((0, 0), (2, 3)):
        x, y = numpy_batch(clean, index, levels, 5, epoch, batch)
        np.testing.assert_array_equal(s.batch(epoch, batch)[0], x)
        np.testing.assert_array_equal(s.batch(epoch, batch)[1], y)


def test_the_generator_yields_each_epoch_in_turn(clean):
    """What ``fit`` reads: the stream's batches, epoch after epoch, drawn ahead in a thread, are
    :meth:`NoisyStream.batch`'s to the bit (the tf.data pipeline of blocks they replace gave these too)."""
    s = stream(clean, mode="mixed")
    got = list(s.batches(2))
    assert len(got) == 2 * len(s)
    for epoch in (0, 1):
        for b in (0, len(s) - 1):
            (x, u, r), y = s.batch(epoch, b)
            (gx, gu, gr), gy = got[epoch * len(s) + b]
            for mine, theirs in ((x, gx), (u, gu), (r, gr), (y, gy)):
                np.testing.assert_array_equal(mine, theirs)


def test_a_childs_input_is_its_parents_output_renoised_as_the_original_stream_drew_it(clean):
    parent = models.build_autoencoder(hidden=[32, 8])
    index, levels = noise.structure_levels("multiple_levels", len(clean), np.random.default_rng(0))
    s = training.NoisyStream(clean, index, levels, seed=5, batch_size=32, mode="mixed")
    inputs, target = s.batch(1, 2)
    expected, expected_target = numpy_batch(clean, index, levels, 5, 1, 2, parent=parent, mode="mixed")
    np.testing.assert_array_equal(target, expected_target)
    np.testing.assert_array_equal(training.child_input(parent, inputs), expected)
    # the same inside the child's training step (TensorFlow's arithmetic on the same draws)
    trainer = training.child_trainer(parent, models.build_autoencoder(hidden=[32, 8]))
    in_graph = np.asarray(trainer.renoise(parent(inputs[0], training=False), inputs[1], inputs[2]))
    np.testing.assert_allclose(in_graph, expected, atol=1e-6)


def test_training_a_child_changes_the_child_not_the_parent(clean):
    parent = models.build_autoencoder(hidden=[16, 4])
    before = [w.copy() for w in parent.get_weights()]
    child, history = training.train_autoencoder(clean, clean[:20], "one_level", epochs=2, seed=0, parent=parent,
                                                mode=0.25, hidden=[16, 4], verbose=0)
    for a, b in zip(before, parent.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert history["loss"][-1] < history["loss"][0] and child.name == "autoencoder"


@pytest.mark.parametrize("architecture, hidden, rate, expected", [("dense", [16, 4], 5e-4, 5e-4),
                                                                   ("residual", [8], None, 3e-3)])
def test_a_child_trains_at_its_own_learning_rate(architecture, hidden, rate, expected):
    parent = models.build_autoencoder(architecture, hidden)
    trainer = training.child_trainer(parent, models.build_autoencoder(architecture, hidden, rate))
    assert float(keras.ops.convert_to_numpy(trainer.optimizer.learning_rate)) == pytest.approx(expected)


def test_memory_stays_flat_as_the_multiple_levels_set_grows():
    """Peak allocation while drawing batches must not grow with N (no 11 x N copy)."""
    peaks = []
    for n in (500, 4000):
        clean = np.zeros((n, 784), np.float32)
        tracemalloc.start()
        s = stream(clean)
        list(itertools.islice(s.batches(1), 3))
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    full_set = 11 * 4000 * 784 * 4
    assert peaks[1] < full_set / 10
    assert peaks[1] - peaks[0] < 3500 * 784 * 4 + 2**20  # at most the copy of the clean images


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
    assert history_a.pop("fit_seconds") > 0 and history_b.pop("fit_seconds") > 0
    assert history_a == history_b
    for wa, wb in zip(model_a.get_weights(), model_b.get_weights()):
        np.testing.assert_array_equal(wa, wb)


def test_a_pass_split_into_epochs_trains_on_the_same_batches_and_validates_each_part(clean):
    """1,320 multiple-levels items are 6 steps of 256: split 3 ways, three epochs of 2 steps take
    the stream's batches in the order one 6-step epoch does, so the weights are the same to the bit,
    with a validation loss after each part."""
    kw = dict(epochs_per_pass=3, epochs=3)
    split = training.train_autoencoder(clean, clean[:20], "multiple_levels", seed=4, hidden=[16], verbose=0, **kw)
    whole = training.train_autoencoder(clean, clean[:20], "multiple_levels", epochs=1, seed=4, hidden=[16], verbose=0)
    (model, history), (whole_model, whole_history) = split, whole
    assert (history["steps_per_epoch"], history["epochs_per_pass"]) == (2, 3)
    assert (whole_history["steps_per_epoch"], whole_history["epochs_per_pass"]) == (6, 1)
    assert len(history["val_loss"]) == 3 and len(whole_history["val_loss"]) == 1
    for mine, theirs in zip(model.get_weights(), whole_model.get_weights()):
        np.testing.assert_array_equal(mine, theirs)
    assert history["val_loss"][-1] == pytest.approx(whole_history["val_loss"][0], rel=1e-6)


def test_epochs_that_do_not_divide_a_pass_run_on_into_the_next(monkeypatch):
    """Split 4 ways, a 6-step pass gives epochs of 2 steps: 4 epochs need 8 steps, which the
    stream draws from a second pass (a stream one pass long would run dry after 6)."""
    drawn, batch = [], training.NoisyStream.batch
    monkeypatch.setattr(training.NoisyStream, "batch", lambda self, *a: drawn.append(a[:2]) or batch(self, *a))
    _, history = training.train_autoencoder(np.zeros((120, 784), np.float32) - 1, np.zeros((20, 784), np.float32) - 1,
                                            "multiple_levels", epochs=4, epochs_per_pass=4, seed=0, hidden=[8], verbose=0)
    assert history["steps_per_epoch"] == 2 and len(history["loss"]) == 4
    assert drawn[:8] == [(0, b) for b in range(6)] + [(1, 0), (1, 1)]


@pytest.mark.parametrize("patience", [None, 1])
def test_the_kept_epoch_is_the_one_whose_weights_the_model_holds(clean, patience):
    model, history = training.train_autoencoder(clean, clean[:20], "one_level", epochs=6, seed=0, hidden=[8],
                                                patience=patience, verbose=0)
    x_val, y_val = training.validation_set(clean[:20], seed=0)
    kept = history["val_loss"][history["kept_epoch"] - 1]
    assert model.evaluate(x_val, y_val, verbose=0) == pytest.approx(kept, rel=1e-4)
    assert history["max_epochs"] == 6
    if patience is None:
        assert history["kept_epoch"] == 6 and not history["stopped_early"]


def test_early_stopping_keeps_the_best_epoch_and_says_it_stopped(clean):
    """The learning rate jumps to 10 after three epochs (one step each), so the validation loss
    gets worse: training stops after ``patience`` more epochs, and the model holds the best
    epoch's weights, not the last."""
    original = models.build_autoencoder

    def wild(*args, **kw):
        model = original(*args, **kw)
        schedule = keras.optimizers.schedules.PiecewiseConstantDecay([3], [1e-3, 10.0])
        model.compile(optimizer=keras.optimizers.Adam(learning_rate=schedule), loss="mse")
        return model

    training.build_autoencoder = wild
    try:
        model, history = training.train_autoencoder(clean, clean[:20], "one_level", epochs=30, seed=0, hidden=[8],
                                                    patience=2, verbose=0)
    finally:
        training.build_autoencoder = original
    best = int(np.argmin(history["val_loss"])) + 1
    assert history["stopped_early"] and len(history["loss"]) == best + 2 < 30
    assert history["kept_epoch"] == best
    x_val, y_val = training.validation_set(clean[:20], seed=0)
    assert model.evaluate(x_val, y_val, verbose=0) == pytest.approx(min(history["val_loss"]), rel=1e-4)


def test_the_progress_file_follows_the_epochs(clean, tmp_path):
    seen = []

    class Spy(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append(atomic.read_json(tmp_path / "progress.json"))

    callback = training.ProgressFile(tmp_path / "progress.json", epochs=3)
    model = models.build_autoencoder(hidden=[8])
    x = noise.mixed(clean, np.random.default_rng(0))
    model.fit(x, clean, validation_data=(x[:20], clean[:20]), epochs=3, verbose=0, callbacks=[callback, Spy()])
    assert [(s["epoch"], s["epochs"]) for s in seen] == [(1, 3), (2, 3), (3, 3)]
    assert seen[-1]["val_loss"] == pytest.approx(model.history.history["val_loss"][-1])


def test_classifier_training_and_accuracy(digits):
    images, labels = digits
    model, history = training.train_classifier(images[:150], labels[:150], images[150:], labels[150:], epochs=2,
                                               seed=0, verbose=0)
    assert set(history) >= {"loss", "val_loss", "accuracy", "kept_epoch"}
    probabilities = models.predict(model, images[:40])
    assert probabilities.shape == (40, 10)
    assert models.accuracy(model, images[:40], labels[:40]) == np.mean(probabilities.argmax(axis=1) == labels[:40])


def test_the_residual_denoiser_trains_as_a_child_on_its_parents_outputs(clean):
    parent, _ = training.train_autoencoder(clean, clean[:20], "multiple_levels", epochs=1, seed=0,
                                           architecture="residual", hidden=[8, 8], verbose=0)
    child, history = training.train_autoencoder(clean, clean[:20], "multiple_levels", epochs=2, seed=1, parent=parent,
                                                mode="multi", architecture="residual", hidden=[8, 8], verbose=0)
    assert history["loss"][-1] < history["loss"][0]
    x_val, y_val = training.validation_set(clean[:20], seed=1, parent=parent, mode="multi")
    out = models.predict(child, x_val)
    assert out.shape == (20, 784) and -1 <= out.min() and out.max() <= 1
    assert child.evaluate(x_val, y_val, verbose=0) == pytest.approx(history["val_loss"][history["kept_epoch"] - 1], rel=1e-4)


def drive(callback, losses, model=None):
    """Feed ``callback`` one epoch's ``val_loss`` after another, as ``fit`` would; the model's
    weights are set to the epoch's number before each epoch ends. Returns the epochs run."""
    model = model or models.build_autoencoder(hidden=[2])
    callback.set_model(model)
    callback.on_train_begin()
    for epoch, loss in enumerate(losses):
        model.set_weights([np.full_like(w, epoch) for w in model.get_weights()])
        callback.on_epoch_end(epoch, {"val_loss": loss})
        if model.stop_training:
            break
    callback.on_train_end()
    return epoch + 1


def test_the_plateau_schedule_lowers_the_rate_when_no_epoch_is_better_by_the_threshold():
    """A hand-made history, threshold 1 %, patience 2, factor 0.5, floor 2e-4: a drop of 0.5 % is
    no improvement, so the rate halves after the 2nd and 4th flat epochs, resets its count on the
    real drop (epoch 4), and halves again only down to the floor."""
    losses = [1.0, 0.995, 0.992, 0.5, 0.4985, 0.497, 0.496, 0.4955]
    model = models.build_autoencoder(hidden=[2], learning_rate=1e-3)
    seen = []

    class Spy(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append(float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)))

    plateau = training.RelativeReduceLROnPlateau(factor=0.5, patience=2, min_lr=2e-4, min_delta=0.01)
    spy = Spy()
    spy.set_model(model)
    plateau.set_model(model)
    plateau.on_train_begin()
    for epoch, loss in enumerate(losses):
        plateau.on_epoch_end(epoch, {"val_loss": loss})
        spy.on_epoch_end(epoch)
    assert seen == pytest.approx([1e-3, 1e-3, 5e-4, 5e-4, 5e-4, 2.5e-4, 2.5e-4, 2e-4])


def test_early_stopping_fires_on_a_synthetic_plateau_and_keeps_the_best_epoch():
    """Threshold 1 % of the best, patience 3: after 0.1 the drops to 0.0995 and 0.0992 do not
    count (keras' absolute ``min_delta`` of 1e-4 counts each, and never stops); the 3rd epoch
    after the best ends training, and the model holds the best epoch's weights."""
    stopping = training.RelativeEarlyStopping(patience=3, min_delta=0.01)
    model = models.build_autoencoder(hidden=[2])
    epochs = drive(stopping, [0.3, 0.1, 0.0995, 0.0992, 0.0991, 0.05], model)
    assert epochs == 5 and stopping.best_epoch == 1
    assert all(np.all(w == 1) for w in model.get_weights())
    absolute = keras.callbacks.EarlyStopping(patience=3, min_delta=0.0001, restore_best_weights=True)
    assert drive(absolute, [0.3, 0.1, 0.0995, 0.0992, 0.0991, 0.05]) == 6


def test_converged_means_training_half_as_long_again_gains_less_than_the_threshold(digits):
    """A small model trained to its plateau (threshold 0.5 %, the plateau schedule), then the
    same run (same seed: the same first epochs) 50 % longer without early stopping: its best
    validation loss is better by less than the threshold."""
    clean = digits[0]
    schedule = {"schedule": "plateau", "lr_factor": 0.5, "lr_patience": 1, "min_lr": 1e-5}
    settings = {"seed": 3, "hidden": [32, 8], "min_delta": 0.005, "schedule": schedule, "verbose": 0}
    _, converged = training.train_autoencoder(clean[:150], clean[150:], "one_level", epochs=200, patience=3, **settings)
    run = len(converged["val_loss"])
    assert converged["stopped_early"] and run > 10  # a plateau reached by learning, not a stall at the start
    _, longer = training.train_autoencoder(clean[:150], clean[150:], "one_level", epochs=run + run // 2, patience=None,
                                           **settings)
    assert longer["val_loss"][:run] == converged["val_loss"]
    best, later = min(converged["val_loss"]), min(longer["val_loss"])
    assert later > best * (1 - 0.005)
    assert converged["min_delta"] == 0.005 and converged["schedule"] == schedule
    assert converged["learning_rate"][-1] < 1e-3  # the schedule lowered the rate on the way
