"""What the compare run is told about each model: the model families and the typed model spec.

Plain data, importable without TensorFlow, shared by the planner (:mod:`renoise.pipeline.plan`), the
evaluation and the tables.
"""

from __future__ import annotations

from enum import Enum
from typing import TypedDict

#: How labels name each training structure.
LABELS = {"one_level": "one lvl", "multiple_levels": "multi lvl"}


class Family(str, Enum):
    """Where a row of the comparison comes from. The value is what the CSV files hold."""

    BASELINE = "baseline"  # a classical filter, deterministic: one repetition
    PARENT = "parent"  # an autoencoder trained on noisy digits
    CHILD = "child"  # an autoencoder trained on its parent's re-noised outputs
    RENOISED = "renoised"  # a child evaluated on its parent's outputs re-noised Mixed

    def __str__(self) -> str:
        return self.value


class ModelSpec(TypedDict):
    """One trained model, as the plan hands it to the compare run (a papermill parameter).

    ``key`` is the model's identity (its run key, ``one_level/002/25/0001``): cache folders, the
    pairing of a child with its parent and every seed use it. ``label`` (``one lvl → 25``) is for
    display and groups the repetitions of one model.
    """

    key: str  # the run key
    label: str  # display name, the same for every repetition
    family: str  # Family.PARENT or Family.CHILD
    structure: str  # one_level | multiple_levels
    mode: float | str | None  # a child's renoise mode (a level, "mixed", "multi"); None for a parent
    repetition: int  # 1, 2, ...: the parent's number (a child has its parent's)
    parent: str | None  # a child's parent run key; None for a parent
    run_dir: str  # the run's folder, relative to the project root


def model_label(structure: str, mode_name: str | None = None) -> str:
    """A model's display label, shared by its repetitions: ``one lvl parent`` or ``multi lvl → 25``
    (``mode_name`` as the child's folder names its renoise mode)."""
    return f"{LABELS[structure]} parent" if mode_name is None else f"{LABELS[structure]} \u2192 {mode_name}"
