"""Evaluation of a small tree in memory: rows, identity by run key, caching and its healing,
re-noising at evaluation."""

import keras
import numpy as np
import pytest

from renoise.report import evaluation
from renoise.science import baselines, metrics, models, noise
from renoise.pipeline.specs import Family, ModelSpec


def identity_model():
    """An autoencoder that returns its input (a linear layer with identity weights)."""
    inputs = keras.Input((784,))
    layer = keras.layers.Dense(784, use_bias=False)
    model = keras.Model(inputs, layer(inputs))
    layer.set_weights([np.eye(784, dtype=np.float32)])
    return model


def spec(key, label, parent=None, mode=None) -> ModelSpec:
    return ModelSpec(key=key, label=label, family=str(Family.CHILD if parent else Family.PARENT), structure="one_level",
                     mode=mode, repetition=int(key.split("/")[1]), parent=parent, run_dir=f"runs/t/{key}")


@pytest.fixture
def tree(tmp_path, digits):
    """Two repetitions of a parent with one child each, identity models, on 40 test digits."""
    images, labels = digits
    sets = noise.evaluation_sets(images[:40], np.random.default_rng(0))
    bed = evaluation.TestBed.build(sets, labels[:40], models.build_classifier(), "classifier-hash")
    specs = []
    for r in (1, 2):
        specs += [spec(f"one_level/00{r}", "one lvl parent"),
                  spec(f"one_level/00{r}/25/0001", "one lvl \u2192 25", parent=f"one_level/00{r}", mode=0.25)]
    for s in specs:
        models.save_model(identity_model(), tmp_path / s["run_dir"] / "model.keras")
    hashes = {s["key"]: f"hash of {s['key']}" for s in specs}
    # one t-SNE set keeps the tests quick (placing points in a map is an optimisation of its own)
    settings = evaluation.Settings(tsne_sets=("Mixed",), grid_digits=5, shared_map=True)
    return bed, specs, settings, hashes, tmp_path


def run(tree, lines=None, **kw):
    bed, specs, settings, hashes, root = tree
    log = (lines.append if lines is not None else lambda line: None)
    options = {"code": "evaluation code", "run_hashes": hashes, "renoise_at_eval": True, "root": root, **kw}
    return evaluation.evaluate_all(specs, bed, evaluation.Cache(root / "evaluations", warn=log), settings, log=log, **options)


def test_every_row_is_scored_like_its_outputs_and_known_by_its_run_key(tree):
    results = run(tree)
    assert [r.key for r in results] == [
        "baselines/noisy_input", "baselines/median_3x3", "baselines/adaptive_median",
        "one_level/001", "one_level/001/25/0001", "one_level/001/25/0001/renoised",
        "one_level/002", "one_level/002/25/0001", "one_level/002/25/0001/renoised"]
    assert [r.family for r in results][3:6] == [Family.PARENT, Family.CHILD, Family.RENOISED]
    assert [r.repetition for r in results] == [1, 1, 1, 1, 1, 1, 2, 2, 2]
    noisy, parent, child, renoised = results[0], results[3], results[4], results[5]
    # identity models reproduce the noisy input exactly, so their metrics equal the input's
    for name in metrics.METRICS:
        np.testing.assert_allclose(parent.metrics[name], noisy.metrics[name], rtol=1e-6)
        np.testing.assert_allclose(child.metrics[name], noisy.metrics[name], rtol=1e-6)
    assert renoised.metrics["mse"][0] > child.metrics["mse"][0]  # re-noising clean outputs hurts
    assert parent.samples.shape == (12, 5, 784) and parent.embeddings.shape == (1, 40, 2)
    assert parent.predictions.shape == (12, 40) and noisy.embeddings.size == 0
    assert parent.outputs is not None and child.outputs is None  # only parents keep their outputs


def test_the_classifiers_predictions_match_its_accuracy(tree):
    bed = tree[0]
    noisy = run(tree)[0]
    np.testing.assert_allclose(noisy.metrics["classifier_accuracy"], (noisy.predictions == bed.labels).mean(axis=1))


def test_repetitions_are_seeded_by_their_run_keys_so_they_never_collide(tree):
    results = {r.key: r for r in run(tree)}
    first, second = results["one_level/001/25/0001/renoised"], results["one_level/002/25/0001/renoised"]
    assert not np.array_equal(first.samples, second.samples)  # each repetition re-noised by its own key


def test_the_cache_serves_a_second_evaluation_and_recalculate_ignores_it(tree):
    first = run(tree)
    lines = []
    second = run(tree, lines)
    assert lines == [f"  cached     {r.key}" for r in first]
    for a, b in zip(first, second):
        assert (a.key, a.label, a.family) == (b.key, b.label, b.family)
        for name in metrics.METRICS:
            np.testing.assert_array_equal(a.metrics[name], b.metrics[name])
        np.testing.assert_array_equal(a.embeddings, b.embeddings)
        np.testing.assert_array_equal(a.predictions, b.predictions)
    lines.clear()
    run(tree, lines, recalculate=True)
    assert all(line.startswith("  evaluated ") for line in lines)


def test_renaming_a_label_changes_no_number_and_causes_no_cache_miss(tree):
    before = run(tree)
    bed, specs, settings, hashes, root = tree
    renamed = (bed, [{**s, "label": s["label"].replace("one lvl", "single level")} for s in specs], settings, hashes, root)
    lines = []
    after = run(renamed, lines)
    assert all(line.startswith("  cached ") for line in lines)
    assert [r.label for r in after][3:5] == ["single level parent", "single level \u2192 25"]
    for a, b in zip(before, after):
        np.testing.assert_array_equal(a.metrics["psnr"], b.metrics["psnr"])


def test_a_retrained_model_or_new_evaluation_code_is_evaluated_again(tree):
    run(tree)
    bed, specs, settings, hashes, root = tree
    lines = []
    run((bed, specs, settings, {**hashes, "one_level/002": "retrained"}, root), lines)
    assert [line.split()[-1] if line.startswith("  cached") else line.split()[1] for line in lines] == [
        "baselines/noisy_input", "baselines/median_3x3", "baselines/adaptive_median", "one_level/001",
        "one_level/001/25/0001", "one_level/001/25/0001/renoised", "one_level/002", "one_level/002/25/0001",
        "one_level/002/25/0001/renoised"]
    assert [line.split()[0] for line in lines] == ["cached"] * 6 + ["evaluated"] * 3  # the parent and what reads it
    lines.clear()
    run(tree, lines, code="the metrics changed")
    assert all(line.startswith("  evaluated ") for line in lines)


def test_a_truncated_cache_entry_is_a_miss_with_one_warning_naming_the_file(tree):
    first = run(tree)
    root = tree[4]
    arrays = root / "evaluations/one_level/001/arrays.npz"
    arrays.write_bytes(arrays.read_bytes()[:100])
    (root / "evaluations/baselines/median_3x3/evaluation.json").write_text("{not json")
    lines = []
    again = run(tree, lines)
    warnings = [line for line in lines if "warning" in line]
    assert len(warnings) == 2
    assert f"{arrays} has changed size" in warnings[1] and warnings[1].endswith("evaluating one_level/001 again")
    assert "evaluation.json: not valid JSON" in warnings[0]
    assert "  evaluated  one_level/001 " in "\n".join(lines) + " "
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a.metrics["ssim"], b.metrics["ssim"])
    lines.clear()
    run(tree, lines)  # healed: everything from the cache again, without warnings
    assert all(line.startswith("  cached ") for line in lines)


def test_a_model_without_a_run_hash_is_evaluated_but_not_cached(tree):
    bed, specs, settings, hashes, root = tree
    lines = []
    run((bed, specs, settings, {}, root), lines)
    assert not (root / "evaluations/one_level/001/evaluation.json").exists()
    assert (root / "evaluations/baselines/noisy_input/evaluation.json").exists()


def test_without_the_code_hash_nothing_is_cached(tree):
    run(tree, code="")
    assert not list((tree[4] / "evaluations").rglob("evaluation.json"))


def test_a_baseline_renamed_for_display_keeps_its_cache(tree, monkeypatch):
    first = run(tree)
    renamed = {**baselines.BASELINES, "median_3x3": baselines.Baseline("Median of 3 x 3", baselines.median)}
    monkeypatch.setattr(evaluation, "BASELINES", renamed)
    lines = []
    again = run(tree, lines)
    assert lines[1] == "  cached     baselines/median_3x3"
    assert again[1].label == "Median of 3 x 3" and again[1].key == first[1].key == "baselines/median_3x3"
    np.testing.assert_array_equal(again[1].metrics["psnr"], first[1].metrics["psnr"])


def test_each_row_carries_its_structure_mode_parent_and_model_run(tree):
    results = {r.key: r for r in run(tree)}
    child, renoised = results["one_level/002/25/0001"], results["one_level/002/25/0001/renoised"]
    assert (child.structure, child.mode, child.parent) == ("one_level", 0.25, "one_level/002")
    assert (renoised.structure, renoised.mode, renoised.parent) == ("one_level", 0.25, "one_level/002")
    assert results["one_level/002"].parent is None and results["baselines/noisy_input"].structure is None
    assert (child.model_run, renoised.model_run) == ("one_level/002/25/0001",) * 2  # the re-noised row's model
    assert results["one_level/002"].model_run == "one_level/002" and results["baselines/noisy_input"].model_run is None
