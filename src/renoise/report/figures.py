"""Figures of a single run's notebook (data, classifier, autoencoder): image grids and training curves.

Kept apart from :mod:`renoise.report.plots`, the comparison report's figures, so that editing the report's
figures never makes a trained model stale (a run's hash covers the modules its notebook imports).
Sizes and DPI are chosen to read on a laptop screen and keep the HTML reports small.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from renoise.science import noise

DPI = 80


def mosaic(rows: list[np.ndarray], n: int, gap: int = 2) -> np.ndarray:
    """Tile the first ``n`` images of each row into one array, ``gap`` pixels apart (gaps white)."""
    step = noise.IMAGE_SIDE + gap
    canvas = np.ones((len(rows) * step - gap, n * step - gap), dtype=np.float32)
    for r, images in enumerate(rows):
        for c in range(n):
            canvas[r * step : r * step + noise.IMAGE_SIDE, c * step : c * step + noise.IMAGE_SIDE] = (
                np.asarray(images[c]).reshape(noise.IMAGE_SIDE, noise.IMAGE_SIDE))
    return canvas


def image_grid(rows: list[tuple[str, np.ndarray]], n: int = 20, title: str | None = None) -> Figure:
    """Digits side by side: one row per (label, images) pair, the first ``n`` images of each.

    Drawn as one mosaic image (the seed drew a subplot per digit: slow, and heavy in the report).
    """
    n = min(n, min(len(images) for _, images in rows))
    width = 0.42 * n + 2.4
    height = 0.42 * len(rows) + (0.5 if title else 0.2)
    fig, ax = plt.subplots(figsize=(width, height), dpi=DPI)
    ax.imshow(mosaic([images for _, images in rows], n), cmap="gray", vmin=-1, vmax=1, interpolation="nearest")
    ax.set_yticks([r * (noise.IMAGE_SIDE + 2) + noise.IMAGE_SIDE / 2 for r in range(len(rows))], [label for label, _ in rows],
                  fontsize=8)
    ax.set_xticks([])
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    if title:
        ax.set_title(title, fontsize=10, loc="left")
    fig.subplots_adjust(left=2.3 / width, right=0.99, top=1 - (0.4 if title else 0.1) / height, bottom=0.05 / height)
    return fig


def noise_sets(sets: np.ndarray, n: int = 20, dataset: str = "MNIST") -> Figure:
    """The 12 evaluation sets, one row each (the seed's "Mnist Data with noising")."""
    labels = ["Original"] + [f"Noisy {name}" for name in noise.SET_NAMES[1:]]
    return image_grid(list(zip(labels, sets)), n, f"{dataset} test images with noise")


def history(record: dict, title: str = "") -> Figure:
    """Training curves of one run's history record (loss and, where present, validation loss and
    accuracy), with the epoch whose weights the model keeps marked."""
    fig, ax = plt.subplots(figsize=(6, 3), dpi=DPI)
    for key in ("loss", "val_loss", "accuracy", "val_accuracy"):
        if key in record:
            ax.plot(range(1, len(record[key]) + 1), record[key], label=key)
    kept = record.get("kept_epoch")
    if kept and "val_loss" in record:
        ax.plot([kept], [record["val_loss"][kept - 1]], "k*", markersize=9, label=f"kept (epoch {kept})")
    ax.set_xlabel("epoch")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return fig
