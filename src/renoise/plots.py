"""Figures of the comparison report: each drawn by one function, called as often as needed.

Line styles follow the seed (In[13]): one-level parent ``-x``, its children ``-o``, multiple-levels
parent ``--x``, its children ``--o``; children re-noised at evaluation are dotted; baselines grey.
Sizes and DPI are chosen to read on a laptop screen and keep the HTML report small.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from renoise import noise
from renoise.atomic import atomic_path
from renoise.data import IMAGE_SIDE
from renoise.metrics import METRICS, PSNR_CAP

SHOWN_SETS = noise.SHOWN_SETS
DPI = 80
_LINES = {"parent": "x", "child": "o", "renoised": "o"}
_DASHES = {"one_level": "-", "multiple_levels": "--"}
_GREYS = ("0.35", "0.55", "0.75")
_BASELINE_MARKERS = ("s", "^", "v")


def style(evaluation, index: int) -> dict:
    """Matplotlib keywords for a result's line: the seed's styles, grey for baselines."""
    if evaluation.family == "baseline":
        return {"color": _GREYS[index % 3], "marker": _BASELINE_MARKERS[index % 3], "linestyle": "-", "linewidth": 1}
    linestyle = ":" if evaluation.family == "renoised" else _DASHES.get(evaluation.structure, "-")
    return {"color": plt.cm.tab10(index % 10), "marker": _LINES[evaluation.family], "linestyle": linestyle}


def mosaic(rows: list[np.ndarray], n: int, gap: int = 2) -> np.ndarray:
    """Tile the first ``n`` images of each row into one array, ``gap`` pixels apart (gaps white)."""
    step = IMAGE_SIDE + gap
    canvas = np.ones((len(rows) * step - gap, n * step - gap), dtype=np.float32)
    for r, images in enumerate(rows):
        for c in range(n):
            canvas[r * step : r * step + IMAGE_SIDE, c * step : c * step + IMAGE_SIDE] = (
                np.asarray(images[c]).reshape(IMAGE_SIDE, IMAGE_SIDE))
    return canvas


def image_grid(rows: list[tuple[str, np.ndarray]], n: int = 20, title: str | None = None) -> Figure:
    """Digits side by side: one row per (label, images) pair, the first ``n`` images of each.

    Drawn as one mosaic image (the seed drew a subplot per digit: slow, and heavy in the report).
    """
    n = min(n, min(len(images) for _, images in rows))
    width = 0.42 * n + 2.0
    height = 0.42 * len(rows) + (0.5 if title else 0.2)
    fig, ax = plt.subplots(figsize=(width, height), dpi=DPI)
    ax.imshow(mosaic([images for _, images in rows], n), cmap="gray", vmin=-1, vmax=1, interpolation="nearest")
    ax.set_yticks([r * (IMAGE_SIDE + 2) + IMAGE_SIDE / 2 for r in range(len(rows))], [label for label, _ in rows],
                  fontsize=8)
    ax.set_xticks([])
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    if title:
        ax.set_title(title, fontsize=10, loc="left")
    fig.subplots_adjust(left=1.9 / width, right=0.99, top=1 - (0.4 if title else 0.1) / height, bottom=0.05 / height)
    return fig


def noise_sets(sets: np.ndarray, n: int = 20) -> Figure:
    """The 12 evaluation sets, one row each ("Mnist Data with noising")."""
    labels = ["Original"] + [f"Noisy {name}" for name in noise.SET_NAMES[1:]]
    return image_grid(list(zip(labels, sets)), n)


def metric_chart(ax, results, metric: str) -> None:
    """One metric over the 12 sets for every result, with the seed's arrow for the better direction."""
    title, higher = METRICS[metric]
    baselines = 0
    models = 0
    for evaluation in results:
        if evaluation.family == "baseline":
            kw = style(evaluation, baselines)
            baselines += 1
        else:
            kw = style(evaluation, models)
            models += 1
        ax.plot(evaluation.metrics[metric], label=evaluation.name, markersize=4, **kw)
    arrow = r"$\uparrow$" if higher else r"$\downarrow$"
    ax.set_title(f"{title} {arrow}", fontsize=10)
    if metric == "psnr":  # an identical image counts PSNR_CAP dB: keep it from flattening the rest
        below = [v for e in results for v in e.metrics[metric] if v < PSNR_CAP]
        if below:
            ax.set_ylim(top=max(below) * 1.1)
    ax.set_xticks(range(len(noise.SET_NAMES)), noise.SET_NAMES, fontsize=7)
    ax.set_xlabel("Noise level", fontsize=8)
    ax.tick_params(axis="y", labelsize=7)
    ax.grid(alpha=0.3)


def metric_charts(results, metric_names=tuple(METRICS)) -> Figure:
    """Every metric's chart in a grid of three columns, with one legend for all."""
    cols = 3
    rows = int(np.ceil(len(metric_names) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(15, 3.6 * rows + 1.2), dpi=DPI, squeeze=False)
    for ax, metric in zip(axes.flat, metric_names):
        metric_chart(ax, results, metric)
    for ax in axes.flat[len(metric_names):]:
        ax.set_visible(False)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.9 / (3.6 * rows + 1.2) + 0.04, 1, 1))
    return fig


def tsne_grid(results, labels: np.ndarray, set_names=SHOWN_SETS) -> Figure:
    """t-SNE maps: a row per set, a column per result, points coloured by digit (10-colour bar)."""
    cmap = plt.get_cmap("jet", 10)
    fig, axes = plt.subplots(len(set_names), len(results), figsize=(1.9 * len(results) + 1, 1.9 * len(set_names) + 0.5),
                             dpi=DPI, squeeze=False)
    for c, evaluation in enumerate(results):
        for r, name in enumerate(set_names):
            points = evaluation.embeddings[r]
            scatter = axes[r, c].scatter(points[:, 0], points[:, 1], c=labels[: len(points)], cmap=cmap, vmin=-0.5,
                                         vmax=9.5, s=1.5, marker=".", linewidths=0)
            axes[r, c].set_xticks([])
            axes[r, c].set_yticks([])
            if r == 0:
                axes[r, c].set_title(evaluation.name, fontsize=7)
            if c == 0:
                axes[r, c].set_ylabel(name, fontsize=9)
    fig.subplots_adjust(left=0.03, right=0.93, top=0.93, bottom=0.02, wspace=0.05, hspace=0.05)
    fig.colorbar(scatter, ax=axes, ticks=range(10), fraction=0.02, pad=0.01, label="digit")
    return fig


def training_tree(models: list[dict]) -> Figure:
    """The training structure as a tree (the seed's "Decision Tree"): data -> parents -> children."""
    parents = [m for m in models if m["parent"] is None]
    leaves = max(1, sum(max(1, sum(1 for c in models if c["parent"] == p["name"])) for p in parents))
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * leaves), 3.4), dpi=DPI)
    box = {"boxstyle": "round", "facecolor": "white"}
    arrow = {"arrowstyle": "->", "color": "0.4"}
    root = (leaves / 2, 2)
    ax.annotate("MNIST training split", root, ha="center", va="center", bbox={**box, "facecolor": "0.9"})
    x = 0.0
    for parent in parents:
        children = [c for c in models if c["parent"] == parent["name"]]
        width = max(1, len(children))
        where = (x + width / 2, 1)
        ax.annotate(parent["name"].replace(" parent", "") + f"\n({parent['structure'].replace('_', ' ')})", where,
                    xytext=where, ha="center", va="center", bbox={**box, "facecolor": "#dde8f5"}, fontsize=9)
        ax.annotate("", where, xytext=root, arrowprops=arrow)
        for k, child in enumerate(children):
            spot = (x + k + 0.5, 0)
            ax.annotate(f"renoise\n{noise.mode_name(child['mode'])}", spot, ha="center", va="center", bbox=box, fontsize=8)
            ax.annotate("", spot, xytext=where, arrowprops=arrow)
        x += width
    ax.set_xlim(-0.2, leaves + 0.2)
    ax.set_ylim(-0.5, 2.5)
    ax.axis("off")
    return fig


def history(record: dict, title: str = "") -> Figure:
    """Training curves of a keras history record (loss and, where present, validation loss)."""
    fig, ax = plt.subplots(figsize=(6, 3), dpi=DPI)
    for key in ("loss", "val_loss", "accuracy", "val_accuracy"):
        if key in record:
            ax.plot(range(1, len(record[key]) + 1), record[key], label=key)
    ax.set_xlabel("epoch")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return fig


def model_diagram(model, path) -> bool:
    """Draw ``model`` with keras' ``plot_model`` into ``path`` (PNG, atomically); False where
    Graphviz is missing."""
    import keras

    try:
        with atomic_path(path, suffix=".png") as tmp:
            keras.utils.plot_model(model, to_file=str(tmp), show_shapes=True, show_layer_activations=True,
                                   rankdir="LR", dpi=60)
    except (ImportError, OSError):
        return False
    return Path(path).is_file()


def show_model(model, path) -> None:
    """Display ``model``'s diagram in the notebook, or its layer list where Graphviz is missing."""
    from IPython.display import Image, display

    if model_diagram(model, path):
        display(Image(filename=str(path)))
    else:
        print("(Graphviz is not installed: the layer list instead)")
        model.summary()


def result_grid(results, sets: np.ndarray, name: str, n: int = 20) -> Figure:
    """The seed's In[12] for one test set: target, noisy input, then every result's outputs."""
    k = noise.SET_NAMES.index(name)
    label = "Original MNIST" if k == 0 else "Mixed noise levels" if name == "Mixed" else f"{name} noise"
    rows = [("Target", sets[0]), ("Input", sets[k])] + [(r.name, r.samples[k]) for r in results]
    return image_grid(rows, n, f"Input data: {label}")


def metric_table(table, metric: str):
    """One metric's table (model x set) as a pandas Styler with the best value of each set in bold."""
    higher = METRICS[metric][1]
    block = table.loc[metric].droplevel("family")
    best = block.max() if higher else block.min()
    return block.style.format("{:.4g}").apply(lambda col: ["font-weight: bold" if v == best[col.name] else "" for v in col])
