"""Salt-and-pepper noise as the seed notebook defines it, its Mixed and Multi variants, the 12
evaluation sets and the two training structures.

The seed (``salt_and_pepper_mixed``, In[5]) picks each pixel with probability ``p`` and adds
``10 * s`` with ``s`` uniform in {-1, 0, +1}, then clips to [-1, 1]. Since every pixel lies in
[-1, 1], ``s = +1`` always lands on 1 (salt), ``s = -1`` on -1 (pepper) and ``s = 0`` changes
nothing. We draw one uniform ``u`` per pixel and read both choices off it: ``u < p/3`` is pepper
(``s = -1``), ``2p/3 <= u < p`` is salt (``s = +1``). That is the seed's distribution exactly,
with one draw instead of three and no per-image Python loop; the rest is the seed's arithmetic,
``clip(x + 10 s, -1, 1)``, in whole-array operations that release the GIL.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

#: The 11 noise levels of the experiment: 0 %, 10 %, ..., 100 %.
LEVELS = np.round(np.linspace(0.0, 1.0, 11), 1)

#: Names of the 12 evaluation sets, in order: the 11 levels, then Mixed.
SET_NAMES = tuple(f"{round(p * 100)}%" for p in LEVELS) + ("Mixed",)

#: The sets the report shows in image grids and t-SNE maps, as the seed did (In[12], In[14]).
SHOWN_SETS = ("0%", "20%", "50%", "80%", "100%", "Mixed")

#: Images noised at a time: a block's temporaries stay in the CPU's cache. The generator is read
#: in order, so the result does not depend on the block size.
BLOCK = 256

#: An image's side in pixels, and its pixels flattened (28 x 28 = 784): every array of images
#: in renoise is (N, IMAGE_SIZE).
IMAGE_SIDE = 28
IMAGE_SIZE = IMAGE_SIDE * IMAGE_SIDE

#: The two ways the parent's training set is built.
STRUCTURES = ("one_level", "multiple_levels")

#: Re-noising modes of a child besides a constant level.
MODES = ("mixed", "multi")


def check_levels(p) -> np.ndarray:
    """Return ``p`` as a float array, raising ``ValueError`` for NaN or values outside [0, 1]."""
    levels = np.asarray(p, dtype=np.float64)
    if np.isnan(levels).any() or (levels < 0).any() or (levels > 1).any():
        raise ValueError(f"noise level must be in [0, 1], got {p!r}")
    return levels


def salt_and_pepper(images: np.ndarray, p, rng: np.random.Generator, *, out: np.ndarray | None = None) -> np.ndarray:
    """Corrupt ``images`` (N, 784) in [-1, 1] with salt-and-pepper noise of level ``p``.

    ``p`` is one level for all images or an array with one level per image. Returns a new float32
    array (or fills ``out``); the input is left untouched. The same as ``impulses(images, p,
    uniforms(len(images), rng))``, a block at a time.
    """
    images = np.asarray(images, dtype=np.float32)
    levels = _levels(p, images)
    out = np.empty_like(images) if out is None else out
    for start in range(0, len(images), BLOCK):
        block = slice(start, start + BLOCK)
        u = rng.random(images[block].shape, dtype=np.float32)
        _corrupt(images[block], levels if levels.ndim == 0 else levels[block], u, out[block])
    return out


def uniforms(n: int, rng: np.random.Generator) -> np.ndarray:
    """The uniform draws (n, 784) float32 that :func:`salt_and_pepper` takes from ``rng`` for ``n``
    images: the same numbers in the same order, whatever the block size."""
    return rng.random((n, IMAGE_SIZE), dtype=np.float32)


def impulses(images: np.ndarray, p, u: np.ndarray) -> np.ndarray:
    """The seed's salt-and-pepper arithmetic on ``images`` at level ``p`` with given uniform draws
    ``u`` (same shape as ``images``): what :func:`salt_and_pepper` does once it has drawn ``u``."""
    images = np.asarray(images, dtype=np.float32)
    levels = _levels(p, images)
    out = np.empty_like(images)
    _corrupt(images, levels, np.asarray(u, dtype=np.float32), out)
    return out


def _levels(p, images: np.ndarray) -> np.ndarray:
    """Levels as float32: a scalar, or a column (N, 1) with one level per image."""
    levels = check_levels(p).astype(np.float32)
    if levels.ndim == 1:
        if images.ndim != 2 or len(levels) != len(images):
            raise ValueError(f"{len(levels)} levels for images of shape {images.shape}")
        levels = levels[:, None]
    return levels


def _corrupt(images: np.ndarray, levels: np.ndarray, u: np.ndarray, out: np.ndarray) -> None:
    """Salt where ``2p/3 <= u < p``, pepper where ``u < p/3``: the seed's ``clip(x + 10 s, -1, 1)``."""
    salt = u < levels
    salt &= u >= 2 * levels / 3
    step = np.subtract(salt, u < levels / 3, dtype=np.float32)  # the seed's s in {-1, 0, +1}
    step *= 10
    np.add(images, step, out=out)
    np.clip(out, -1, 1, out=out)


def random_levels(n: int, rng: np.random.Generator) -> np.ndarray:
    """Draw ``n`` levels uniformly from :data:`LEVELS` (the seed's ``choice(11) / 10``)."""
    return LEVELS[rng.integers(0, len(LEVELS), size=n)]


def mixed(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Mixed noise: every image gets its own level drawn from :data:`LEVELS`."""
    return salt_and_pepper(images, random_levels(len(images), rng), rng)


def evaluation_sets(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The 12 test sets (12, N, 784): levels 0 %, 10 %, ..., 100 %, then Mixed. Set 0 is clean.

    Each set draws from its own generator spawned from ``rng``, so the sets are filled by two
    threads (NumPy releases the GIL) and still come out the same on every run.
    """
    images = np.asarray(images, dtype=np.float32)
    sets = np.empty((len(SET_NAMES),) + images.shape, dtype=np.float32)
    streams = rng.spawn(len(SET_NAMES))

    def fill(k: int) -> None:
        if k < len(LEVELS):
            salt_and_pepper(images, LEVELS[k], streams[k], out=sets[k])
        else:
            salt_and_pepper(images, random_levels(len(images), streams[k]), streams[k], out=sets[k])

    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(fill, range(len(SET_NAMES))))
    return sets


def structure_levels(structure: str, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The parent's training items as (image index, noise level) for ``n`` training images.

    ``one_level``: every image once, at a level drawn once per image. ``multiple_levels``: the
    set repeated at all 11 levels, group ``k`` at level ``k/10`` (11 x n items).
    """
    if structure == "one_level":
        return np.arange(n), random_levels(n, rng)
    if structure == "multiple_levels":
        return np.tile(np.arange(n), len(LEVELS)), np.repeat(LEVELS, n)
    raise ValueError(f"unknown training structure {structure!r}; choose one of {', '.join(STRUCTURES)}")


def parse_mode(mode) -> float | str:
    """Normalise a child's re-noising mode: a level in [0, 1], ``"mixed"`` or ``"multi"``.

    Levels may be written as fractions (0.25) or percentages ("25%").
    """
    if isinstance(mode, str):
        text = mode.strip().lower()
        if text in MODES:
            return text
        try:
            value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
        except ValueError:
            raise ValueError(f"unknown renoise mode {mode!r}; use a level in [0, 1], 'mixed' or 'multi'") from None
    elif isinstance(mode, (int, float)) and not isinstance(mode, bool):
        value = float(mode)
    else:
        raise ValueError(f"unknown renoise mode {mode!r}; use a level in [0, 1], 'mixed' or 'multi'")
    check_levels(value)
    return value


def mode_name(mode) -> str:
    """The run-directory name of a mode, as the seed wrote it: ``0``, ``25``, ``Mixed``, ``Multi``."""
    mode = parse_mode(mode)
    if isinstance(mode, str):
        return mode.capitalize()
    return f"{mode * 100:g}"


def renoise_levels(mode, item_levels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Levels at which a child re-noises the parent's outputs for items noised at ``item_levels``.

    A constant level applies to all items; ``mixed`` draws one level per item; ``multi`` re-noises
    each group at its own level, so it needs the multiple-levels structure.
    """
    mode = parse_mode(mode)
    if mode == "mixed":
        return random_levels(len(item_levels), rng)
    if mode == "multi":
        return np.asarray(item_levels, dtype=np.float64)
    return np.full(len(item_levels), mode)
