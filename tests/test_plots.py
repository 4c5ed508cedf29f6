"""Figures: the report's charts draw from the intervals table, every label with the seed's styles
and a 95 % band exactly where n > 1; heatmaps, confusion matrices, training curves and the tree
show what the tables say; single-run figures (renoise.report.figures) tile and mark what they should."""

import matplotlib

matplotlib.use("Agg")

import zlib

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.colors import to_rgba
from matplotlib.patches import Rectangle
from scipy import stats

from renoise.report import diagrams, evaluation, figures, plots, styles, tables
from renoise.science import metrics, noise
from renoise.pipeline.specs import Family

ARROW = "\u2192"
SETS = list(noise.SET_NAMES)
#: Every kind of label the charts draw: (label, family, structure, mode).
LABELS = [("Noisy input", "baseline", None, None), ("Median 3x3", "baseline", None, None),
          ("Adaptive median", "baseline", None, None), ("one lvl parent", "parent", "one_level", None),
          (f"one lvl {ARROW} 25", "child", "one_level", 0.25), ("multi lvl parent", "parent", "multiple_levels", None),
          (f"multi lvl {ARROW} Multi", "child", "multiple_levels", "multi"),
          (f"multi lvl {ARROW} Multi (renoised at eval)", "renoised", "multiple_levels", "multi")]


def row(key, label, family, structure=None, mode=None, repetition=1, values=None, n_images=4, parent=None):
    rng = np.random.default_rng(zlib.crc32(key.encode()))
    by_metric = {m: 0.5 + rng.normal(0, 0.05, 12) if values is None else np.full(12, values) for m in metrics.METRICS}
    return evaluation.Evaluation(key, label, Family(family), structure, mode, repetition, by_metric,
                                 np.zeros((12, n_images), np.int64), np.zeros((12, n_images, 784), np.float32),
                                 rng.normal(size=(2, 5, 2)).astype(np.float32), parent=parent)


def results(repetitions=3, skip=()):
    """A row per repetition of every model of LABELS (baselines once), keyed as the planner keys runs."""
    rows = []
    for label, family, structure, mode in LABELS:
        if family == "baseline":
            rows.append(row(f"baselines/{label.lower().replace(' ', '_')}", label, family))
            continue
        for rep in range(1, repetitions + 1):
            key = f"{structure}/{rep:03d}" + ("" if mode is None else f"/{noise.mode_name(mode)}/0001")
            key += "/renoised" if family == "renoised" else ""
            if key not in skip:
                rows.append(row(key, label, family, structure, mode, rep,
                                parent=None if mode is None else f"{structure}/{rep:03d}"))
    return rows


def spans_and_notes(rows, planned):
    summary = tables.summary(rows)
    notes = {label: styles.sample_note(r) for label, r in tables.counts(summary, planned).iterrows()}
    return tables.intervals(summary), notes


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def bands(ax):
    return [c for c in ax.collections if isinstance(c, PolyCollection)]


def band_points(band):
    """The (x, y) corners of a fill_between band, rounded for set comparisons."""
    return {(round(x, 9), round(y, 9)) for path in band.get_paths() for x, y in path.vertices}


def band_heights(band):
    """x -> the band's height there."""
    ys = {}
    for x, y in band_points(band):
        ys.setdefault(x, []).append(y)
    return {x: max(v) - min(v) for x, v in sorted(ys.items())}


# -- the metric charts -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def charted():
    spans, notes = spans_and_notes(results(3), planned=3)
    return spans, notes, plots.metric_charts(spans, notes)


def test_every_chart_draws_every_label_with_the_seeds_style(charted):
    spans, notes, fig = charted
    charts = [ax for ax in fig.axes if ax.get_visible()]
    assert len(charts) == len(metrics.METRICS)
    for ax in charts:
        lines = {line.get_label(): line for line in ax.get_lines()}
        assert list(lines) == [f"{label} ({notes[label]})" for label, *_ in LABELS]
        assert [t.get_text() for t in ax.get_xticklabels()] == SETS
    style = {label.rsplit(" (n = ", 1)[0]: (line.get_linestyle(), line.get_marker(), line.get_color())
             for label, line in lines.items()}
    assert style["one lvl parent"][:2] == ("-", "x") and style[f"one lvl {ARROW} 25"][:2] == ("-", "o")
    assert style["multi lvl parent"][:2] == ("--", "x") and style[f"multi lvl {ARROW} Multi"][:2] == ("--", "o")
    assert style[f"multi lvl {ARROW} Multi (renoised at eval)"][0] == ":"
    assert [style[b][2] for b in ("Noisy input", "Median 3x3", "Adaptive median")] == ["0.35", "0.55", "0.75"]
    assert len({style[label][2] for label, family, *_ in LABELS if family != "baseline"}) == 5  # models apart
    titles = {metric: ax.get_title() for metric, ax in zip(metrics.METRICS, charts)}
    assert "\\uparrow" in titles["psnr"] and "\\downarrow" in titles["mse"]


def test_the_legend_carries_each_labels_n(charted):
    _, _, fig = charted
    texts = [t.get_text() for t in fig.legends[0].get_texts()]
    assert texts == [f"{label} (n = {1 if family == 'baseline' else 3})" for label, family, *_ in LABELS]
    assert "95 % Student-t intervals" in fig.get_suptitle()


def test_a_band_spans_each_models_interval_and_single_runs_get_none(charted):
    spans, _, fig = charted
    psnr = [ax for ax in fig.axes if ax.get_visible()][list(metrics.METRICS).index("psnr")]
    models = [label for label, family, *_ in LABELS if family != "baseline"]
    drawn = bands(psnr)
    assert len(drawn) == len(models)  # the three n = 1 baselines have none
    lines = {line.get_label().rsplit(" (n = ", 1)[0]: line for line in psnr.get_lines()}
    for label, band in zip(models, drawn):
        assert band.get_facecolor()[0][:3] == pytest.approx(to_rgba(lines[label].get_color())[:3])
        block = spans[(spans["label"] == label) & (spans["metric"] == "psnr")].set_index("set").loc[SETS]
        assert (block["high"] > block["low"]).all()
        corners = band_points(band)
        for k, (low, high) in enumerate(zip(block["low"], block["high"])):
            assert (k, round(low, 9)) in corners and (k, round(high, 9)) in corners


def test_with_one_run_per_model_no_band_is_drawn_and_the_title_says_so():
    spans, notes = spans_and_notes(results(1), planned=1)
    fig = plots.metric_charts(spans, notes, metric_names=("psnr", "mse"))
    assert "no intervals drawn" in fig.get_suptitle()
    assert all(not bands(ax) for ax in fig.axes)
    assert all(text.get_text().endswith("(n = 1)") for text in fig.legends[0].get_texts())
    assert len([ax for ax in fig.axes if ax.get_visible()]) == 2


def test_a_missing_repetition_shows_as_n_2_of_3():
    spans, notes = spans_and_notes(results(3, skip={"one_level/003/25/0001"}), planned=3)
    fig = plots.metric_charts(spans, notes, metric_names=("ssim",))
    texts = [t.get_text() for t in fig.legends[0].get_texts()]
    assert f"one lvl {ARROW} 25 (n = 2 of 3)" in texts and "one lvl parent (n = 3)" in texts


# -- verdicts, confusion matrices -----------------------------------------------------------------


def test_the_verdict_heatmap_sorts_constant_levels_numerically_and_hatches_unclear_cells():
    import pandas as pd

    # (structure, mode name, level) as data: the labels are anything, and never read
    children = {"a": ("one_level", "50", 0.5, 3.0), "b": ("one_level", "5", 0.05, 1.0),
                "c": ("one_level", "25", 0.25, 2.0), "d": ("one_level", "Mixed", np.nan, 9.0),
                "e": ("multiple_levels", "25", 0.25, -9.0)}
    rows = []
    for child, (structure, mode, level, value) in children.items():
        for j, set_ in enumerate(SETS):
            unclear = mode == "25" and j in (2, 7)
            rows.append((child, "parent", set_, "psnr", 3, value + j / 100, value - 1, value + 1,
                         "unclear" if unclear else "better", structure, mode, level))
    judged = pd.DataFrame(rows, columns=tables.VERDICT_COLUMNS)
    fig = plots.verdict_heatmap(judged, "one_level", "psnr")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["5 %", "25 %", "50 %"]  # not 25, 5, 50; no Mixed
    image = np.asarray(ax.get_images()[0].get_array())
    assert image[:, 0] == pytest.approx([1.0, 2.0, 3.0]) and image[1, 11] == pytest.approx(2.11)
    hatched = {(p.get_x(), p.get_y()) for p in ax.patches if isinstance(p, Rectangle) and p.get_hatch()}
    assert hatched == {(2 - 0.5, 1 - 0.5), (7 - 0.5, 1 - 0.5)}  # only the 25 % row's unclear cells


def test_confusion_matrices_are_row_normalised_percentages():
    labels = np.array([0, 0, 0, 0, 1, 1, 2])
    predictions = np.zeros((12, 7), np.int64)
    predictions[0] = [0, 0, 0, 1, 1, 1, 2]  # the 0 % set
    predictions[11] = [3, 3, 3, 3, 1, 0, 2]  # Mixed
    fig = plots.confusion_matrices([("Noisy input", predictions), ("Median 3x3", predictions)], labels)
    panels = [ax for ax in fig.axes if ax.get_images()][:8]
    assert len(panels) == 2 * len(plots.CONFUSION_SETS)
    clean = np.asarray(panels[0].get_images()[0].get_array())
    expected = np.zeros((10, 10))
    expected[0, 0], expected[0, 1], expected[1, 1], expected[2, 2] = 75, 25, 100, 100
    assert clean == pytest.approx(expected)
    mixed = np.asarray(panels[3].get_images()[0].get_array())
    assert mixed[0, 3] == 100 and mixed[1, 0] == mixed[1, 1] == 50 and mixed[5].sum() == 0  # class 5 absent
    assert [ax.get_title() for ax in panels[:4]] == list(plots.CONFUSION_SETS)


def test_confusion_matrices_pool_the_repetitions_of_a_model():
    labels = np.array([0, 0, 1, 1])
    first, second = np.zeros((12, 4), np.int64), np.zeros((12, 4), np.int64)
    first[0], second[0] = [0, 0, 1, 1], [0, 1, 1, 0]  # 4 of 4 right, then 2 of 4
    fig = plots.confusion_matrices([("one lvl parent", np.stack([first, second]))], labels)
    clean = np.asarray([ax for ax in fig.axes if ax.get_images()][0].get_images()[0].get_array())
    assert clean[0, 0] == clean[1, 1] == 75 and clean[0, 1] == clean[1, 0] == 25


# -- training --------------------------------------------------------------------------------------


def specs_for(labels_and_reps):
    specs = []
    for label, structure, mode, reps in labels_and_reps:
        for rep in range(1, reps + 1):
            parent = f"{structure}/{rep:03d}"
            key = parent if mode is None else f"{parent}/{noise.mode_name(mode)}/0001"
            specs.append({"key": key, "label": label, "family": "parent" if mode is None else "child",
                          "structure": structure, "mode": mode, "repetition": rep,
                          "parent": None if mode is None else parent, "run_dir": f"runs/x/{key}"})
    return specs


def test_training_curves_band_several_runs_and_star_each_kept_epoch():
    specs = specs_for([("one lvl parent", "one_level", None, 3), (f"one lvl {ARROW} 25", "one_level", 0.25, 1)])
    val = {"one_level/001": [1.0, 0.8, 0.7, 0.72], "one_level/002": [1.1, 0.9, 0.75], "one_level/003": [0.9, 0.85, 0.8],
           "one_level/001/25/0001": [0.5, 0.4]}
    kept = {"one_level/001": 3, "one_level/002": 3, "one_level/003": 2, "one_level/001/25/0001": 2}
    records = {key: {"loss": [v + 0.1 for v in curve], "val_loss": curve, "kept_epoch": kept[key],
                     "stopped_early": key != "one_level/003"} for key, curve in val.items()}
    fig = plots.training_curves(specs, records)
    parent_ax, child_ax = [ax for ax in fig.axes if ax.get_visible()]
    assert parent_ax.get_title() == "one lvl parent (n = 3, 1 at the epoch cap)"
    assert child_ax.get_title() == f"one lvl {ARROW} 25 (n = 1)"
    # the validation band at epoch 2 is scipy's interval of the three runs' second values
    epoch2 = np.array([0.8, 0.9, 0.85])
    low, high = stats.t.interval(0.95, 2, loc=epoch2.mean(), scale=stats.sem(epoch2))
    val_band = bands(parent_ax)[1]  # loss first, then val_loss
    assert {(2, round(low, 9)), (2, round(high, 9))} <= band_points(val_band)
    heights = band_heights(val_band)
    assert all(heights[e] > 0.1 for e in (1, 2, 3)) and heights[4] == 0  # epoch 4: one run left
    assert all(h == 0 for band in bands(child_ax) for h in band_heights(band).values())  # one run: no band
    stars = [line for line in parent_ax.get_lines() if line.get_marker() == "*"]
    assert len(stars) == 1
    assert list(stars[0].get_xdata()) == [3, 3, 2] and list(stars[0].get_ydata()) == [0.7, 0.75, 0.85]


def test_the_training_tree_names_each_model_once_and_clips_arrows_at_the_boxes():
    specs = specs_for([("one lvl parent", "one_level", None, 2), (f"one lvl {ARROW} 25", "one_level", 0.25, 2),
                       (f"one lvl {ARROW} Mixed", "one_level", "mixed", 2),
                       ("multi lvl parent", "multiple_levels", None, 2),
                       (f"multi lvl {ARROW} 25", "multiple_levels", 0.25, 2)])
    ax = plots.training_tree(specs, "MNIST", repetitions=2).axes[0]
    boxes = [t for t in ax.texts if t.get_text()]
    names = [t.get_text() for t in boxes]
    assert sorted(names) == sorted(["MNIST training split", "one lvl parent × 2", "multi lvl parent × 2",
                                    "renoise\n25", "renoise\nMixed", "renoise\n25"])  # a 25 child per structure
    arrows = [t for t in ax.texts if not t.get_text()]
    assert len(arrows) == 5  # data -> 2 parents, parents -> 3 children
    patches = {id(t.get_bbox_patch()) for t in boxes}
    for arrow in arrows:
        patch = arrow.arrow_patch
        assert patch.patchA is not None and patch.patchB is not None
        assert id(patch.patchA) in patches and id(patch.patchB) in patches and patch.patchA is not patch.patchB


def test_point_size_shrinks_with_the_number_of_points():
    assert plots.point_size(500) == pytest.approx(12.0)
    assert plots.point_size(500) > 5 * plots.point_size(10000)
    assert plots.point_size(1) == 16 and plots.point_size(10**6) == 0.8


# -- grids and single-run figures ----------------------------------------------------------------------


def test_the_mosaic_tiles_images_with_white_gaps():
    rows = [("Target", np.zeros((4, 784))), ("Input", -np.ones((4, 784)))]
    tiles = figures.mosaic([images for _, images in rows], 3)
    assert tiles.shape == (2 * 28 + 2, 3 * 28 + 2 * 2)
    assert np.all(tiles[:28, :28] == 0) and np.all(tiles[30:, :28] == -1) and np.all(tiles[28:30] == 1)
    assert np.all(tiles[:, 28:30] == 1)
    fig = figures.image_grid(rows, n=3, title="two rows")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["Target", "Input"]
    assert np.array_equal(ax.get_images()[0].get_array(), tiles) and ax.get_title(loc="left") == "two rows"
    assert figures.image_grid(rows, n=50).axes[0].get_images()[0].get_array().shape[1] == 4 * 30 - 2  # n capped


def test_the_noise_sets_and_result_grids_label_every_row():
    sets = np.stack([np.full((3, 784), k / 12 - 0.5, np.float32) for k in range(12)])
    names = [t.get_text() for t in figures.noise_sets(sets, n=2).axes[0].get_yticklabels()]
    assert names == ["Original"] + [f"Noisy {name}" for name in SETS[1:]]
    shown = [row("one_level/001", "one lvl parent", "parent", "one_level"), row("baselines/noisy_input", "Noisy input",
                                                                              "baseline")]
    ax = plots.result_grid(shown, sets, "50%", n=2).axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["Target", "one lvl parent", "Noisy input"]
    assert ax.get_title(loc="left") == "Input data: 50% noise"
    assert np.all(ax.get_images()[0].get_array()[:28, :28] == sets[0][0].reshape(28, 28))  # the clean target


def test_tsne_grids_have_a_panel_per_set_and_model():
    shown = [row("one_level/001", "one lvl parent", "parent", "one_level"),
             row("one_level/001/25/0001", f"one lvl {ARROW} 25", "child", "one_level", 0.25)]
    fig = plots.tsne_grid(shown, np.arange(5), ["0%", "Mixed"])
    titled = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titled == ["one lvl parent", f"one lvl {ARROW} 25"]
    assert len(fig.axes) == 2 * 2 + 1  # panels and the colour bar
    points = fig.axes[1].collections[0].get_offsets()  # set 0 %, second model
    assert np.allclose(points, shown[1].embeddings[0])


def test_a_history_marks_the_kept_epoch_with_a_star():
    fig = figures.history({"loss": [3.0, 2.0, 1.0], "val_loss": [3.5, 2.5, 2.7], "kept_epoch": 2}, "parent")
    lines = {line.get_label(): line for line in fig.axes[0].get_lines()}
    assert list(lines) == ["loss", "val_loss", "kept (epoch 2)"]
    star = lines["kept (epoch 2)"]
    assert star.get_marker() == "*" and list(star.get_xdata()) == [2] and list(star.get_ydata()) == [2.5]
    assert list(lines["val_loss"].get_xdata()) == [1, 2, 3]
    plain = figures.history({"loss": [1.0, 0.5], "accuracy": [0.5, 0.9]})
    assert [line.get_label() for line in plain.axes[0].get_lines()] == ["loss", "accuracy"]


def test_a_model_diagram_is_a_png_where_graphviz_is_installed(tmp_path):
    import keras

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    drawn = diagrams.model_diagram(model, tmp_path / "m.png")
    assert drawn == (tmp_path / "m.png").is_file()  # False only where Graphviz is missing
    if drawn:
        assert (tmp_path / "m.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(tmp_path.glob("*.tmp*"))  # written atomically: no temporary file left


def test_a_layer_table_lists_every_layer_with_its_shape_activation_and_weights():
    from renoise.science.models import build_autoencoder

    model = build_autoencoder("dense", [1024, 529, 256, 36])  # the seed's: ten boxes in a row, too small to read
    table = diagrams.layer_table(model)
    assert len(table) == len(model.layers) == 9 > diagrams.DIAGRAM_LAYERS
    assert list(table.index) == ["noisy", "encode_0", "encode_1", "encode_2", "encode_3", "decode_0", "decode_1",
                                 "decode_2", "denoised"]
    assert list(table["output shape"]) == ["784", "1024", "529", "256", "36", "256", "529", "1024", "784"]
    assert list(table["activation"]) == [""] + ["elu"] * 7 + ["tanh"]
    assert table.loc["encode_0", "weights"] == 784 * 1024 + 1024  # a dense layer's kernel and bias, by hand
    assert table["weights"].sum() == model.count_params()


def test_a_model_of_more_than_five_layers_shows_as_a_table_and_a_short_one_as_a_diagram(tmp_path, monkeypatch):
    import keras
    from IPython import display as ipython_display

    shown = []
    monkeypatch.setattr(ipython_display, "display", shown.append)
    long = keras.Sequential([keras.Input((4,))] + [keras.layers.Dense(4) for _ in range(6)])
    diagrams.show_model(long, tmp_path / "long.png")
    assert isinstance(shown[-1], pd.DataFrame) and len(shown[-1]) == 6
    assert not (tmp_path / "long.png").exists()  # never drawn
    short = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    diagrams.show_model(short, tmp_path / "short.png")
    drawn = (tmp_path / "short.png").is_file()  # a diagram where Graphviz is installed, else the table
    assert isinstance(shown[-1], ipython_display.Image) if drawn else isinstance(shown[-1], pd.DataFrame)


def _smallest_shown_px(fig, width=plots.SHOWN_WIDTH):
    """The smallest text of ``fig`` in px as a ``width`` px page shows it, after a fresh draw."""
    from matplotlib.text import Text

    fig.canvas.draw()
    scale = min(1.0, width / (fig.get_figwidth() * fig.dpi))
    return min(t.get_fontsize() * fig.dpi / 72 * scale for t in fig.findobj(Text) if t.get_text().strip())


@pytest.mark.parametrize("inches", [6.0, 18.1])  # shown at its size; wider than the page, so scaled down
def test_legible_raises_every_text_to_nine_pixels_as_shown(inches):
    fig, ax = plt.subplots(figsize=(inches, 3), dpi=figures.DPI)
    ax.plot([0, 1], [0, 1], label="a line")
    ax.set_title("title", fontsize=6)
    ax.tick_params(labelsize=5)
    ax.legend(fontsize=6)
    assert _smallest_shown_px(fig) < 7
    plots.legible(fig)
    assert _smallest_shown_px(fig) == pytest.approx(plots.SMALLEST_TEXT) and ax.get_title() == "title"
    plt.close(fig)


def test_show_makes_every_open_figure_legible(monkeypatch):
    shown = []
    monkeypatch.setattr(plt, "show", lambda: shown.append([_smallest_shown_px(plt.figure(n)) for n in plt.get_fignums()]))
    plt.close("all")
    for size in (4, 7):
        plt.subplots(figsize=(5, 2), dpi=figures.DPI)[1].set_title("t", fontsize=size)
    plots.show()
    assert shown and all(px >= plots.SMALLEST_TEXT - 1e-9 for px in shown[0]) and len(shown[0]) == 2
    plt.close("all")
