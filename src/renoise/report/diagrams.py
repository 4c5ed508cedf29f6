"""Diagrams of keras models for the comparison report: keras' ``plot_model`` where Graphviz is
installed and the model is short, its layer table otherwise.

Kept apart from :mod:`renoise.report.plots` (matplotlib figures of the results), since it needs keras and
Graphviz, which no results figure does.
"""

from __future__ import annotations

from pathlib import Path

import keras
import pandas as pd

from renoise.atomic import atomic_path

#: The most layers a model diagram shows: a longer model is a layer table, whose rows stay legible
#: at the page's width where a row of boxes shrinks to a smudge.
DIAGRAM_LAYERS = 5


def model_diagram(model, path) -> bool:
    """Draw ``model`` with keras' ``plot_model`` into ``path`` (PNG, atomically), top to bottom so
    that its boxes keep their size at the page's width; False where Graphviz is missing."""
    try:
        with atomic_path(path, suffix=".png") as tmp:
            keras.utils.plot_model(model, to_file=str(tmp), show_shapes=True, show_layer_activations=True,
                                   rankdir="TB", dpi=60)
    except (ImportError, OSError):
        return False
    return Path(path).is_file()


def layer_table(model) -> pd.DataFrame:
    """One row per layer of ``model``, input first: its name (the index), kind, output shape
    without the batch axis (``1024``, ``28 × 28 × 8``), activation and number of weights."""
    rows = []
    for layer in model.layers:
        activation = getattr(layer, "activation", None)
        rows.append({"layer": layer.name, "kind": type(layer).__name__,
                     "output shape": " × ".join(str(d) for d in layer.output.shape[1:]),
                     "activation": getattr(activation, "__name__", ""), "weights": layer.count_params()})
    return pd.DataFrame(rows).set_index("layer")


def show_model(model, path) -> None:
    """Display ``model``'s diagram in the notebook where it has at most :data:`DIAGRAM_LAYERS`
    layers and Graphviz is installed, else its :func:`layer_table`."""
    from IPython.display import Image, display

    if len(model.layers) <= DIAGRAM_LAYERS and model_diagram(model, path):
        display(Image(filename=str(path)))
    else:
        display(layer_table(model))
