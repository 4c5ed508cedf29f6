"""Diagrams of keras models for the comparison report: keras' ``plot_model`` where Graphviz is
installed, the layer list where it is not.

Kept apart from :mod:`renoise.plots` (matplotlib figures of the results), since it needs keras and
Graphviz, which no results figure does.
"""

from __future__ import annotations

from pathlib import Path

import keras

from renoise.atomic import atomic_path


def model_diagram(model, path) -> bool:
    """Draw ``model`` with keras' ``plot_model`` into ``path`` (PNG, atomically); False where
    Graphviz is missing."""
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
