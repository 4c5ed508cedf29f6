"""The autoencoder architectures by name, with their layer-size defaults and the seed's batch sizes.

Plain constants, importable without TensorFlow, so that validating an experiment (and ``renoise
status``) never loads keras. :mod:`renoise.science.models` builds the networks.
"""

from __future__ import annotations

#: The seed's batch sizes (its "Autoencoder structure" and "Classifier" cells).
AUTOENCODER_BATCH = 256
CLASSIFIER_BATCH = 32

#: Default layer sizes of each architecture: units of the dense encoder (the decoder mirrors them;
#: the seed author's thesis network), filters of the two strided conv layers, and filters of each
#: full-resolution conv layer of the residual denoiser (five 3x3 layers of 16 and the 3x3 head: a
#: 13 x 13 receptive field, 9,747 parameters, 45 MFLOP a training image against 264 for seven of 32;
#: the README's "Architectures" gives its margins over the adaptive median).
DEFAULT_SIZES: dict[str, tuple[int, ...]] = {
    "dense": (1024, 529, 256, 36),
    "conv": (32, 64),
    "residual": (16,) * 5,
}

#: Adam's default learning rate for each architecture: keras' own, except for the residual
#: denoiser, which learns about twice as fast at 3e-3 (see the README's "Architectures").
DEFAULT_LEARNING_RATES: dict[str, float] = {"dense": 1e-3, "conv": 1e-3, "residual": 3e-3}

#: Every architecture name an experiment may choose.
ARCHITECTURES = tuple(DEFAULT_SIZES)

#: Hidden layers of the clean-digit classifier; the last one is the ``features`` layer.
CLASSIFIER_HIDDEN = (256, 128)

#: Early stopping: epochs without a better validation loss before an autoencoder stops.
DEFAULT_PATIENCE = 10
#: What counts as better, for early stopping and the plateau schedule: a validation loss at least
#: this fraction (0.2 %) below the best so far. 0 is keras' own rule: any improvement at all.
DEFAULT_MIN_DELTA = 0.002

#: Learning-rate schedules: Adam at a constant rate, or ``plateau``, keras' ``ReduceLROnPlateau``
#: with the relative threshold above (see the README's "Convergence").
SCHEDULES = ("plateau", "constant")
#: The schedule's keys in an experiment's ``autoencoder`` block, with their defaults: the schedule,
#: the factor the rate is multiplied by on a plateau, the epochs without a better loss that make
#: one, and the rate it never goes below.
SCHEDULE_KEYS = {"schedule": "plateau", "lr_factor": 0.5, "lr_patience": 2, "min_lr": 1e-5}


def check_sizes(architecture: str, sizes) -> str:
    """Why ``sizes`` do not suit ``architecture`` (a one-line message), or ``""`` when they do."""
    if architecture not in DEFAULT_SIZES:
        return f"unknown architecture {architecture!r}; choose one of {', '.join(ARCHITECTURES)}"
    if not isinstance(sizes, (list, tuple)) or not sizes:
        return f"expected a list of layer sizes, got {sizes!r}"
    if any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in sizes):
        return f"layer sizes must be whole numbers of at least 1, got {list(sizes)}"
    if architecture == "conv" and len(sizes) != 2:
        return f"conv takes the filters of its two strided layers, like [32, 64]; got {list(sizes)}"
    return ""
