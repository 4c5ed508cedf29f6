"""Classical denoisers that every comparison includes, so a model's numbers have a bar to clear.

All take and return images (N, 784) in [-1, 1]. They sit in a small registry, :data:`BASELINES`,
by a fixed key (``adaptive_median``): the key names a baseline's cache folder and selects it in
the tables; its :attr:`Baseline.label` is for display only, and renaming it costs nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy import ndimage

from renoise.science.noise import IMAGE_SIDE


def _as_stack(images) -> np.ndarray:
    return np.asarray(images, dtype=np.float32).reshape(-1, IMAGE_SIDE, IMAGE_SIDE)


def identity(images) -> np.ndarray:
    """The noisy input itself: what doing nothing scores."""
    return np.asarray(images, dtype=np.float32).copy()


def median(images, size: int = 3) -> np.ndarray:
    """A ``size`` x ``size`` median filter applied to each image (edges reflected)."""
    stack = _as_stack(images)
    return ndimage.median_filter(stack, size=(1, size, size)).reshape(len(stack), -1)


def adaptive_median(images, max_size: int = 7) -> np.ndarray:
    """The adaptive median filter (Gonzalez & Woods), windows 3, 5, ... up to ``max_size``.

    A pixel whose window median is not an extreme of the window (``min < med < max``) keeps its
    value if it is not an extreme itself, else takes the median; otherwise the window grows. A
    pixel still undecided at ``max_size`` takes the largest window's median. Unlike the plain
    median it leaves uncorrupted detail alone and removes dense noise.
    """
    stack = _as_stack(images)
    out = stack.copy()
    decided = np.zeros(stack.shape, dtype=bool)
    for size in range(3, max_size + 1, 2):
        window = (1, size, size)
        med = ndimage.median_filter(stack, size=window)
        low = ndimage.minimum_filter(stack, size=window)
        high = ndimage.maximum_filter(stack, size=window)
        ready = (low < med) & (med < high) & ~decided
        keep = (low < stack) & (stack < high)
        out[ready] = np.where(keep, stack, med)[ready]
        decided |= ready
    out[~decided] = med[~decided]
    return out.reshape(len(stack), -1)


@dataclass(frozen=True)
class Baseline:
    """A classical denoiser of the comparison: its display ``label`` and its function."""

    label: str
    denoise: Callable[[np.ndarray], np.ndarray]


#: Baselines by key.
BASELINES: dict[str, Baseline] = {
    "noisy_input": Baseline("Noisy input", identity),
    "median_3x3": Baseline("Median 3x3", median),
    "adaptive_median": Baseline("Adaptive median", adaptive_median),
}
#: The baseline that shows the models' inputs, and the strongest one, which models are held against.
NOISY_INPUT, REFERENCE = "noisy_input", "adaptive_median"
