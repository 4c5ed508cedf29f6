"""Figures of the comparison report: each drawn by one function, called as often as needed.

Line styles follow the seed (In[13]): one-level parent ``-x``, its children ``-o``, multiple-levels
parent ``--x``, its children ``--o``; children re-noised at evaluation are dotted; baselines grey.
A model's line is its mean over repetitions, with a shaded band for the 95 % t-interval (the same
numbers as ``intervals.csv``); with n = 1 there is no band, and the figure says so.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure
from matplotlib.text import Text

from renoise.science import noise
from renoise.report.figures import DPI, image_grid
from renoise.science.metrics import METRICS, PSNR_CAP
from renoise.pipeline.specs import LABELS, Family, model_label
from renoise.report.statistics import t_interval

_MARKERS = {"parent": "x", "child": "o", "renoised": "o"}
_DASHES = {"one_level": "-", "multiple_levels": "--"}
_GREYS = ("0.35", "0.55", "0.75")
_BASELINE_MARKERS = ("s", "^", "v")
#: The sets of the confusion matrices.
CONFUSION_SETS = ("0%", "50%", "100%", "Mixed")
#: The widest a figure is shown in the report, in px: its image area in a 1400 px browser window
#: (measured in headless Chromium); a wider figure is scaled down to it.
SHOWN_WIDTH = 1355
#: The smallest text a reader meets in a report's figure, in px as shown.
SMALLEST_TEXT = 9


def styles(intervals: pd.DataFrame) -> dict[str, dict]:
    """Matplotlib keywords for each label's line: the seed's styles, grey for baselines."""
    result, baselines, models = {}, 0, 0
    for label, family, structure in _labels(intervals):
        if family == str(Family.BASELINE):
            result[label] = {"color": _GREYS[baselines % 3], "marker": _BASELINE_MARKERS[baselines % 3],
                             "linestyle": "-", "linewidth": 1}
            baselines += 1
        else:
            linestyle = ":" if family == str(Family.RENOISED) else _DASHES.get(structure, "-")
            result[label] = {"color": plt.cm.tab10(models % 10), "marker": _MARKERS[family], "linestyle": linestyle}
            models += 1
    return result


def _labels(intervals: pd.DataFrame) -> list[tuple[str, str, str]]:
    """(label, family, structure) of each label, in order of first appearance."""
    first = intervals.drop_duplicates("label")
    return list(zip(first["label"], first["family"], first["structure"]))


def _series(intervals: pd.DataFrame, label: str, metric: str) -> pd.DataFrame:
    """One label's rows for ``metric``, in set order."""
    rows = intervals[(intervals["label"] == label) & (intervals["metric"] == metric)].set_index("set")
    return rows.loc[[s for s in noise.SET_NAMES if s in rows.index]]


def metric_chart(ax, intervals: pd.DataFrame, metric: str, style: dict[str, dict], notes: dict[str, str]) -> None:
    """One metric over the 12 sets: every label's mean with its 95 % band, and the seed's arrow."""
    title, higher = METRICS[metric]
    x = np.arange(len(noise.SET_NAMES))
    for label, kw in style.items():
        rows = _series(intervals, label, metric)
        ax.plot(x[: len(rows)], rows["mean"], label=f"{label} ({notes.get(label, 'n = 1')})", markersize=4, **kw)
        if (rows["n"] > 1).any():
            ax.fill_between(x[: len(rows)], rows["low"], rows["high"], color=kw["color"], alpha=0.15, linewidth=0)
    arrow = r"$\uparrow$" if higher else r"$\downarrow$"
    ax.set_title(f"{title} {arrow}", fontsize=10)
    if metric == "psnr":  # an identical image counts PSNR_CAP dB: keep it from flattening the rest
        below = intervals[(intervals["metric"] == metric) & (intervals["high"] < PSNR_CAP)]["high"]
        if len(below):
            ax.set_ylim(top=below.max() * 1.05)
    ax.set_xticks(x, noise.SET_NAMES, fontsize=7)
    ax.set_xlabel("Noise level", fontsize=8)
    ax.tick_params(axis="y", labelsize=7)
    ax.grid(alpha=0.3)


def metric_charts(intervals: pd.DataFrame, notes: dict[str, str], metric_names=tuple(METRICS)) -> Figure:
    """Every metric's chart in a grid of three columns, with one legend for all; ``notes`` gives
    each label's ``n = 3`` (or ``n = 2 of 3``)."""
    cols = 3
    rows = int(np.ceil(len(metric_names) / cols))
    style = styles(intervals)
    legend_rows = int(np.ceil(len(style) / 3))
    height = 3.6 * rows + 0.25 * legend_rows + 0.6
    fig, axes = plt.subplots(rows, cols, figsize=(15, height), dpi=DPI, squeeze=False)
    for ax, metric in zip(axes.flat, metric_names):
        metric_chart(ax, intervals, metric, style, notes)
    for ax in axes.flat[len(metric_names):]:
        ax.set_visible(False)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=8, frameon=False)
    banded = bool((intervals["n"] > 1).any())
    fig.suptitle("Lines: means over repetitions; bands: 95 % Student-t intervals" if banded
                 else "n = 1 for every model: single runs, no intervals drawn", fontsize=10)
    fig.tight_layout(rect=(0, (0.25 * legend_rows + 0.3) / height, 1, 0.97))
    return fig


def result_grid(results, sets: np.ndarray, name: str, n: int = 20, dataset: str = "MNIST") -> Figure:
    """The seed's In[12] for one test set: the clean target, then every result's outputs (the
    "Noisy input" baseline row is the input the models saw)."""
    k = noise.SET_NAMES.index(name)
    label = f"original {dataset}" if k == 0 else "Mixed noise levels" if name == "Mixed" else f"{name} noise"
    rows = [("Target", sets[0])] + [(r.label, r.samples[k]) for r in results]
    return image_grid(rows, n, f"Input data: {label}")


def point_size(points: int) -> float:
    """Marker area (pt²) for a t-SNE panel of ``points`` points: about 12 at 500, 1 at 10,000."""
    return float(np.clip(6000 / max(points, 1), 0.8, 16))


def tsne_grid(results, labels: np.ndarray, set_names=noise.SHOWN_SETS) -> Figure:
    """t-SNE maps: a row per set, a column per result, points coloured by class (10-colour bar)."""
    cmap = plt.get_cmap("tab10", 10)
    fig, axes = plt.subplots(len(set_names), len(results), figsize=(1.9 * len(results) + 1, 1.9 * len(set_names) + 0.5),
                             dpi=DPI, squeeze=False)
    scatter = None
    for c, evaluation in enumerate(results):
        for r, name in enumerate(set_names):
            points = evaluation.embeddings[r]
            scatter = axes[r, c].scatter(points[:, 0], points[:, 1], c=labels[: len(points)], cmap=cmap, vmin=-0.5,
                                         vmax=9.5, s=point_size(len(points)), marker="o", linewidths=0)
            axes[r, c].set_xticks([])
            axes[r, c].set_yticks([])
            if r == 0:
                axes[r, c].set_title(evaluation.label, fontsize=7)
            if c == 0:
                axes[r, c].set_ylabel(name, fontsize=9)
    fig.subplots_adjust(left=0.03, right=0.93, top=0.93, bottom=0.02, wspace=0.05, hspace=0.05)
    if scatter is not None:
        fig.colorbar(scatter, ax=axes, ticks=range(10), fraction=0.02, pad=0.01, label="class")
    return fig


def training_tree(specs: list[dict], dataset: str = "MNIST", repetitions: int = 1) -> Figure:
    """The training structure as a tree (the seed's "Decision Tree"): data -> parents -> children,
    one box per structure's parent and per renoise mode (repetitions share them); arrows end at
    the boxes' borders."""
    structures = list(dict.fromkeys(s["structure"] for s in specs if s["parent"] is None))
    kids = {structure: list(dict.fromkeys(s["mode"] for s in specs if s["parent"] is not None
                                          and s["structure"] == structure)) for structure in structures}
    leaves = max(1, sum(max(1, len(k)) for k in kids.values()))
    fig, ax = plt.subplots(figsize=(max(6, 1.5 * leaves), 3.4), dpi=DPI)
    ax.set_xlim(-0.2, leaves + 0.2)
    ax.set_ylim(-0.5, 2.5)
    ax.axis("off")
    box = {"boxstyle": "round", "facecolor": "white"}
    root = ax.text(leaves / 2, 2, f"{dataset} training split", ha="center", va="center", bbox={**box, "facecolor": "0.9"})
    times = f" × {repetitions}" if repetitions > 1 else ""
    x = 0.0
    for structure in structures:
        width = max(1, len(kids[structure]))
        node = ax.text(x + width / 2, 1, f"{model_label(structure)}{times}", ha="center", va="center",
                       bbox={**box, "facecolor": "#dde8f5"}, fontsize=9)
        _edge(ax, root, node)
        for k, mode in enumerate(kids[structure]):
            leaf = ax.text(x + k + 0.5, 0, f"renoise\n{noise.mode_name(mode)}", ha="center", va="center", bbox=box,
                           fontsize=8)
            _edge(ax, node, leaf)
        x += width
    return fig


def _edge(ax, source, target) -> None:
    """An arrow from one text box to another, clipped at both boxes' borders."""
    ax.annotate("", xy=target.get_position(), xytext=source.get_position(),
                arrowprops={"arrowstyle": "->", "color": "0.4", "patchA": source.get_bbox_patch(),
                            "patchB": target.get_bbox_patch(), "shrinkA": 2, "shrinkB": 2})


def training_curves(specs: list[dict], records: dict[str, dict]) -> Figure:
    """Loss (dashed) and validation loss (solid) of every model over the epochs: the mean over its
    repetitions with a 95 % band where two or more are still training, and each repetition's kept
    epoch marked (a star on its validation loss)."""
    labels = list(dict.fromkeys(s["label"] for s in specs))
    cols = min(4, len(labels)) or 1
    rows = int(np.ceil(len(labels) / cols)) or 1
    fig, axes = plt.subplots(rows, cols, figsize=(3.8 * cols, 2.6 * rows + 0.3), dpi=DPI, squeeze=False)
    for ax, label in zip(axes.flat, labels):
        runs = [records[s["key"]] for s in specs if s["label"] == label]
        for key, style in (("loss", "--"), ("val_loss", "-")):
            mean, low, high = _epoch_band([r.get(key, []) for r in runs])
            epochs = np.arange(1, len(mean) + 1)
            ax.plot(epochs, mean, style, marker=".", color="C0" if key == "val_loss" else "C1", label=key)
            ax.fill_between(epochs, low, high, color="C0" if key == "val_loss" else "C1", alpha=0.2, linewidth=0)
        kept = [(r["kept_epoch"], r["val_loss"][r["kept_epoch"] - 1]) for r in runs if r.get("kept_epoch") and r.get("val_loss")]
        if kept:
            ax.plot(*zip(*kept), "k*", markersize=7, label="kept epoch")
        capped = sum(not r.get("stopped_early", False) for r in runs)
        ax.set_title(f"{label} (n = {len(runs)}" + (f", {capped} at the epoch cap)" if capped else ")"), fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(labels):]:
        ax.set_visible(False)
    axes.flat[0].legend(fontsize=7)
    fig.supxlabel("epoch", fontsize=8)
    fig.tight_layout()
    return fig


def _epoch_band(curves: list[list[float]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and 95 % t-interval per epoch over curves of different lengths (a point where one runs)."""
    longest = max((len(c) for c in curves), default=0)
    intervals = [t_interval([c[e] for c in curves if len(c) > e]) for e in range(longest)]
    return tuple(np.array([getattr(s, f) for s in intervals]) for f in ("mean", "low", "high"))


def verdict_heatmap(judged: pd.DataFrame, structure: str, metric: str) -> Figure:
    """Mean child - parent difference for every constant renoise level (rows, the verdicts'
    ``level`` column) and test set (columns) of one ``structure``: a diverging map centred on 0;
    cells whose interval covers 0 (``unclear``) are greyed and hatched."""
    block = judged[(judged["metric"] == metric) & (judged["structure"] == structure) & judged["level"].notna()]
    levels = sorted(set(block["level"]))
    values = np.full((len(levels), len(noise.SET_NAMES)), np.nan)
    unclear = np.zeros_like(values, dtype=bool)
    for i, level in enumerate(levels):
        rows = block[block["level"] == level].set_index("set")
        for j, set_ in enumerate(noise.SET_NAMES):
            if set_ in rows.index:
                values[i, j] = rows.loc[set_, "mean_difference"]
                unclear[i, j] = rows.loc[set_, "verdict"] == "unclear"
    title, higher = METRICS[metric]
    fig, ax = plt.subplots(figsize=(9, 0.35 * len(levels) + 1.6), dpi=DPI)
    image = _diverging(ax, values, higher)
    for i, j in zip(*np.nonzero(unclear)):
        ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, facecolor="0.85", edgecolor="0.6", hatch="///",
                                   linewidth=0))
    ax.set_xticks(range(len(noise.SET_NAMES)), noise.SET_NAMES, fontsize=7)
    ax.set_yticks(range(len(levels)), [f"{noise.mode_name(level)} %" for level in levels], fontsize=7)
    ax.set_xlabel("test set", fontsize=8)
    ax.set_ylabel("renoise level while training", fontsize=8)
    ax.set_title(f"{LABELS[structure]}: child − parent, {title} (hatched: interval covers 0)", fontsize=9)
    fig.colorbar(image, ax=ax, fraction=0.03, pad=0.02)
    fig.tight_layout()
    return fig


def _diverging(ax, values: np.ndarray, higher: bool):
    """``values`` drawn on a red-blue map centred on 0, blue on the metric's good side."""
    limit = np.nanmax(np.abs(values)) if np.isfinite(values).any() else 1.0
    cmap = plt.get_cmap("RdBu" if higher else "RdBu_r")
    return ax.imshow(values, cmap=cmap, norm=TwoSlopeNorm(0, -limit or -1, limit or 1), aspect="auto")


def confusion_matrices(rows: list[tuple[str, np.ndarray]], labels: np.ndarray, set_names=CONFUSION_SETS) -> Figure:
    """The clean classifier's confusion matrices (row-normalised %, true class in rows) on the
    outputs of each (title, predictions) pair, at each of ``set_names``. Predictions are (12, N),
    or (R, 12, N) for R repetitions of one model, whose counts are pooled."""
    classes = 10
    fig, axes = plt.subplots(len(rows), len(set_names), figsize=(2.3 * len(set_names) + 1, 2.3 * len(rows) + 0.4),
                             dpi=DPI, squeeze=False)
    image = None
    for r, (title, predictions) in enumerate(rows):
        by_repetition = np.asarray(predictions).reshape(-1, len(noise.SET_NAMES), len(labels))
        for c, name in enumerate(set_names):
            k = noise.SET_NAMES.index(name)
            counts = np.zeros((classes, classes))
            for repetition in by_repetition:
                np.add.at(counts, (labels, repetition[k]), 1)
            percent = 100 * counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
            image = axes[r, c].imshow(percent, cmap="Blues", vmin=0, vmax=100)
            axes[r, c].set_xticks(range(classes), range(classes), fontsize=6)
            axes[r, c].set_yticks(range(classes), range(classes), fontsize=6)
            if r == 0:
                axes[r, c].set_title(name, fontsize=9)
            if c == 0:
                axes[r, c].set_ylabel(f"{title}\ntrue class", fontsize=7)
            if r == len(rows) - 1:
                axes[r, c].set_xlabel("predicted", fontsize=7)
    if image is not None:
        fig.colorbar(image, ax=axes, fraction=0.02, pad=0.01, label="% of the true class")
    return fig



def legible(fig: Figure, *, width: int = SHOWN_WIDTH, smallest: float = SMALLEST_TEXT) -> Figure:
    """Raise every text of ``fig`` (tick labels, legends, titles) to at least ``smallest`` px as the
    report shows the figure: at its own size, or scaled down to ``width`` px where it is wider."""
    scale = min(1.0, width / (fig.get_figwidth() * fig.dpi))
    floor = smallest * 72 / (fig.dpi * scale)  # in points
    fig.canvas.draw()  # makes the tick labels
    for ax in fig.axes:
        for axis in ("x", "y"):
            labels = ax.get_xticklabels() if axis == "x" else ax.get_yticklabels()
            if any(label.get_fontsize() < floor for label in labels):
                ax.tick_params(axis=axis, labelsize=floor)
    for text in fig.findobj(Text):
        if text.get_fontsize() < floor:
            text.set_fontsize(floor)
    return fig


def show() -> None:
    """``plt.show()`` for the report: every open figure made :func:`legible` first."""
    for number in plt.get_fignums():
        legible(plt.figure(number))
    plt.show()
