"""Evaluation of a small tree in memory: rows, caching, recalculation, re-noising at evaluation,
the summary table and the winners table."""

import keras
import numpy as np
import pandas as pd
import pytest

from renoise import atomic, evaluation, metrics, models, noise, runs
from renoise.errors import RunError


def identity_model():
    """An autoencoder that returns its input (a linear layer with identity weights)."""
    inputs = keras.Input((784,))
    layer = keras.layers.Dense(784, use_bias=False)
    model = keras.Model(inputs, layer(inputs))
    layer.set_weights([np.eye(784, dtype=np.float32)])
    return model


def completed_run(folder, model, hash_):
    models.save_model(model, folder / "model.keras")
    atomic.write_json(folder / runs.MARKER, {"hash": hash_})
    return folder


@pytest.fixture
def tree(tmp_path, digits):
    images, labels = digits
    sets = noise.evaluation_sets(images[:40], np.random.default_rng(0))
    classifier = models.build_classifier()
    bed = evaluation.TestBed.build(sets, labels[:40], classifier, "classifier-hash")
    parent_dir = completed_run(tmp_path / "one_level/001", identity_model(), "p")
    child_dir = completed_run(tmp_path / "one_level/001/25/0001", identity_model(), "c")
    specs = [{"name": "one lvl parent", "run_dir": parent_dir, "parent": None, "structure": "one_level", "mode": None},
             {"name": "one lvl \u2192 25", "run_dir": child_dir, "parent": "one lvl parent", "structure": "one_level",
              "mode": 0.25}]
    settings = evaluation.Settings(tsne_sets=("0%", "Mixed"), grid_digits=5, renoise_at_eval=True, shared_map=True)
    return bed, specs, settings, evaluation.Cache(tmp_path / "evaluations")


def test_every_row_is_scored_like_its_outputs(tree):
    bed, specs, settings, cache = tree
    lines = []
    results = evaluation.evaluate_all(specs, bed, cache, settings, log=lines.append)
    assert [r.name for r in results] == ["Noisy input", "Median 3x3", "Adaptive median", "one lvl parent",
                                         "one lvl \u2192 25", "one lvl \u2192 25 (renoised at eval)"]
    assert [r.family for r in results][3:] == ["parent", "child", "renoised"]
    noisy, parent, child, renoised = results[0], results[3], results[4], results[5]
    # identity models reproduce the noisy input exactly, so their metrics equal the input's
    for name in metrics.METRICS:
        np.testing.assert_allclose(parent.metrics[name], noisy.metrics[name], rtol=1e-6)
        np.testing.assert_allclose(child.metrics[name], noisy.metrics[name], rtol=1e-6)
    assert renoised.metrics["mse"][0] > child.metrics["mse"][0]  # re-noising clean outputs hurts
    assert parent.samples.shape == (12, 5, 784) and parent.embeddings.shape == (2, 40, 2)
    assert noisy.embeddings.size == 0  # baselines get no t-SNE map
    assert parent.outputs is not None and child.outputs is None  # only parents keep their outputs
    assert all(line.startswith("  evaluated ") for line in lines)


def test_the_cache_serves_a_second_evaluation_and_recalculate_ignores_it(tree):
    bed, specs, settings, cache = tree
    first = evaluation.evaluate_all(specs, bed, cache, settings, log=lambda line: None)
    lines = []
    second = evaluation.evaluate_all(specs, bed, cache, settings, log=lines.append)
    assert all(line.startswith("  cached ") for line in lines) and len(lines) == 6
    for a, b in zip(first, second):
        assert a.name == b.name and a.family == b.family
        for name in metrics.METRICS:
            np.testing.assert_array_equal(a.metrics[name], b.metrics[name])
        np.testing.assert_array_equal(a.embeddings, b.embeddings)
    lines.clear()
    evaluation.evaluate_all(specs, bed, cache, settings, recalculate=True, log=lines.append)
    assert all(line.startswith("  evaluated ") for line in lines)


def test_a_changed_model_or_setting_is_evaluated_again(tree):
    bed, specs, settings, cache = tree
    evaluation.evaluate_all(specs, bed, cache, settings, log=lambda line: None)
    atomic.write_json(specs[1]["run_dir"] / runs.MARKER, {"hash": "retrained"})
    lines = []
    evaluation.evaluate_all(specs, bed, cache, settings, log=lines.append)
    assert [line.split()[0] for line in lines] == ["cached"] * 4 + ["evaluated"] * 2


def test_an_incomplete_model_run_is_refused(tree):
    bed, specs, settings, cache = tree
    (specs[0]["run_dir"] / runs.MARKER).unlink()
    with pytest.raises(RunError, match="model run of 'one lvl parent' .* is incomplete"):
        evaluation.evaluate_all(specs, bed, cache, settings, log=lambda line: None)


def test_summary_and_winners(tree):
    bed, specs, settings, cache = tree
    table = evaluation.summary(evaluation.evaluate_all(specs, bed, cache, settings, log=lambda line: None))
    assert table.shape == (9 * 6, 12) and list(table.columns) == list(noise.SET_NAMES)
    index = pd.MultiIndex.from_tuples([("psnr", "Median 3x3", "baseline"), ("psnr", "Noisy input", "baseline"),
                                       ("psnr", "A", "parent"), ("psnr", "B", "child")], names=["metric", "model", "family"])
    hand = pd.DataFrame([[20.0, 10.0], [30.0, 5.0], [18.0, 15.0], [19.0, 12.0]], index=index, columns=["0%", "100%"])
    wins = evaluation.winners(hand, "psnr")
    assert list(wins["best model"]) == ["B", "A"]
    assert list(wins["margin"]) == [-1.0, 5.0]
    assert list(wins["best overall"]) == ["Noisy input", "A"]


def test_slugs_are_folder_names():
    assert evaluation.slug("multi lvl \u2192 Multi (renoised at eval)") == "multi_lvl_to_multi_renoised_at_eval"
