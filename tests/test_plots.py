"""Figures: every result reaches every chart's legend with the seed's line styles; grids have the
right number of panels."""

import matplotlib

matplotlib.use("Agg")

import re

import numpy as np
import pytest

from renoise import evaluation, metrics, noise, plots


def result(name, family, structure=None, value=0.5):
    values = {m: np.full(12, value) for m in metrics.METRICS}
    return evaluation.Evaluation(name, family, structure, values, np.zeros((12, 4, 784), np.float32),
                                 np.zeros((2, 5, 2), np.float32))


@pytest.fixture
def results():
    return [result("Median 3x3", "baseline"), result("one lvl parent", "parent", "one_level"),
            result("one lvl \u2192 25", "child", "one_level"), result("multi lvl parent", "parent", "multiple_levels"),
            result("multi lvl \u2192 Multi", "child", "multiple_levels"),
            result("multi lvl \u2192 Multi (renoised at eval)", "renoised", "multiple_levels")]


def test_every_chart_has_every_result_in_the_seeds_style(results):
    fig = plots.metric_charts(results)
    charts = [ax for ax in fig.axes if ax.get_visible()]
    assert len(charts) == len(metrics.METRICS)
    for ax in charts:
        lines = {line.get_label(): line for line in ax.get_lines()}
        assert list(lines) == [r.name for r in results]
        assert [t.get_text() for t in ax.get_xticklabels()] == list(noise.SET_NAMES)
    styles = {name: (line.get_linestyle(), line.get_marker()) for name, line in lines.items()}
    assert styles["one lvl parent"] == ("-", "x") and styles["one lvl \u2192 25"] == ("-", "o")
    assert styles["multi lvl parent"] == ("--", "x") and styles["multi lvl \u2192 Multi"] == ("--", "o")
    assert styles["multi lvl \u2192 Multi (renoised at eval)"][0] == ":"
    assert lines["Median 3x3"].get_color() == "0.35"  # baselines in grey
    assert [t.get_text() for t in fig.legends[0].get_texts()] == [r.name for r in results]
    assert "\\uparrow" in charts[1].get_title() and "\\downarrow" in charts[0].get_title()


def test_grids_have_a_panel_per_image(results):
    rows = [("Target", np.zeros((4, 784))), ("Input", -np.ones((4, 784)))]
    fig = plots.image_grid(rows, n=3)
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["Target", "Input"]
    tiles = plots.mosaic([images for _, images in rows], 3)
    assert tiles.shape == (2 * 28 + 2, 3 * 28 + 2 * 2)
    assert np.all(tiles[:28, :28] == 0) and np.all(tiles[30:, :28] == -1) and np.all(tiles[28:30] == 1)
    fig = plots.tsne_grid(results[1:3], np.arange(5), ["0%", "Mixed"])
    assert len([ax for ax in fig.axes if ax.get_title() in ("one lvl parent", "one lvl \u2192 25")]) == 2
    assert len(fig.axes) == 2 * 2 + 1  # panels and the colour bar


def test_training_tree_names_every_model():
    models = [{"name": "one lvl parent", "parent": None, "structure": "one_level", "mode": None},
              {"name": "one lvl \u2192 25", "parent": "one lvl parent", "structure": "one_level", "mode": 0.25},
              {"name": "one lvl \u2192 Mixed", "parent": "one lvl parent", "structure": "one_level", "mode": "mixed"}]
    texts = [t.get_text() for t in plots.training_tree(models).axes[0].texts]
    assert "renoise\n25" in texts and "renoise\nMixed" in texts and any(t.startswith("one lvl") for t in texts)


def test_history_model_diagram_and_table(tmp_path, results):
    import keras

    fig = plots.history({"loss": [3.0, 2.0, 1.0], "val_loss": [3.5, 2.5, 2.0]}, "parent")
    assert [line.get_label() for line in fig.axes[0].get_lines()] == ["loss", "val_loss"]
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    drawn = plots.model_diagram(model, tmp_path / "m.png")
    assert drawn == (tmp_path / "m.png").is_file()  # False only where Graphviz is missing
    table = evaluation.summary([result("A", "parent", "one_level", 0.2), result("B", "child", "one_level", 0.4)])
    html = plots.metric_table(table, "mse").to_html()
    bold = set(re.findall(r"_row(\d+)_col\d+ \{\s*font-weight: bold", html))
    assert bold == {"0"}  # A has the lower MSE in every set
