"""t-SNE maps of output sets behind one small interface, with interchangeable backends.

:data:`BACKENDS` holds openTSNE (the default: fast, and able to place new points into an existing
map), MulticoreTSNE (the seed's choice; ``make multicore-tsne`` builds it) and scikit-learn (the
fallback). Inputs are reduced by PCA first (:data:`PCA_COMPONENTS`), which keeps the 10-NN label
agreement of the maps (``make bench`` measures it) and makes every backend faster.
"""

from __future__ import annotations

import importlib.util
from typing import Callable

import numpy as np

from renoise import threads
from renoise.errors import ConfigError

PCA_COMPONENTS = 50
#: t-SNE's perplexity (every backend's default), and the fewest points a map of that perplexity takes.
PERPLEXITY = 30.0
MIN_POINTS = int(3 * PERPLEXITY) + 1
#: openTSNE's iterations after its 250 early-exaggeration ones. Its default, 500, gives a map of
#: 10,000 digits with the same 10-NN label agreement (within 0.01, ``make bench``) in 1.5 x the time.
OPENTSNE_ITERATIONS = 250


def _opentsne_model(seed: int):
    """openTSNE with renoise's settings: this process's threads, :data:`OPENTSNE_ITERATIONS`, quiet."""
    from openTSNE import TSNE

    return TSNE(perplexity=PERPLEXITY, n_iter=OPENTSNE_ITERATIONS, n_jobs=threads(), random_state=seed, verbose=False)


def _opentsne(x: np.ndarray, seed: int) -> np.ndarray:
    return np.asarray(_opentsne_model(seed).fit(x))


def _multicore(x: np.ndarray, seed: int) -> np.ndarray:
    from MulticoreTSNE import MulticoreTSNE

    tsne = MulticoreTSNE(n_jobs=threads(), perplexity=PERPLEXITY, random_state=seed)
    return tsne.fit_transform(np.ascontiguousarray(x, dtype=np.float64))


def _sklearn(x: np.ndarray, seed: int) -> np.ndarray:
    from sklearn.manifold import TSNE

    return TSNE(random_state=seed, init="pca", perplexity=PERPLEXITY, n_jobs=threads()).fit_transform(x)


#: t-SNE backends by name: (module that must be importable, function(x, seed) -> (N, 2)).
BACKENDS: dict[str, tuple[str, Callable[[np.ndarray, int], np.ndarray]]] = {
    "opentsne": ("openTSNE", _opentsne),
    "multicore": ("MulticoreTSNE", _multicore),
    "sklearn": ("sklearn", _sklearn),
}


def available_backends() -> list[str]:
    """The backends whose library is installed, in :data:`BACKENDS` order."""
    return [name for name, (module, _) in BACKENDS.items() if importlib.util.find_spec(module)]


def check_backend(name: str) -> str:
    """Return ``name`` if it is a known, installed backend; else raise :class:`ConfigError`."""
    if name not in BACKENDS:
        raise ConfigError(f"no t-SNE backend named {name!r}; choose one of {', '.join(BACKENDS)}")
    if name not in available_backends():
        raise ConfigError(f"t-SNE backend {name!r} is not installed (module {BACKENDS[name][0]})")
    return name


def reduce(x: np.ndarray, components: int | None = PCA_COMPONENTS, seed: int = 0) -> np.ndarray:
    """PCA to ``components`` dimensions (skipped when ``None`` or not fewer than the input's)."""
    x = np.asarray(x, dtype=np.float32)
    if not components or components >= min(x.shape):
        return x
    from sklearn.decomposition import PCA

    return PCA(components, random_state=seed).fit_transform(x).astype(np.float32)


def embed(x: np.ndarray, *, backend: str = "opentsne", seed: int = 0, pca: int | None = PCA_COMPONENTS) -> np.ndarray:
    """A 2-D t-SNE map (N, 2) float32 of ``x`` (N, D) with the named backend."""
    function = BACKENDS[check_backend(backend)][1]
    return np.asarray(function(reduce(x, pca, seed), seed), dtype=np.float32)


class SharedMap:
    """An openTSNE map of reference points (the clean test set) into which other sets are placed,
    so that positions are comparable across models: a point lands where its neighbours among the
    reference points lie. PCA is fitted on the reference and applied to every placed set."""

    def __init__(self, reference: np.ndarray, *, seed: int = 0):
        from sklearn.decomposition import PCA

        reference = np.asarray(reference, dtype=np.float32)
        self._pca = PCA(min(PCA_COMPONENTS, *reference.shape), random_state=seed).fit(reference)
        self._map = _opentsne_model(seed).fit(self._pca.transform(reference))
        self.embedding = np.asarray(self._map, dtype=np.float32)

    def place(self, x: np.ndarray) -> np.ndarray:
        """Positions (N, 2) of ``x`` in the reference map."""
        reduced = self._pca.transform(np.asarray(x, dtype=np.float32))
        return np.asarray(self._map.transform(reduced), dtype=np.float32)


def knn_agreement(embedding: np.ndarray, labels: np.ndarray, k: int = 10) -> float:
    """Mean fraction of each point's ``k`` nearest neighbours in the map that share its label."""
    from sklearn.neighbors import NearestNeighbors

    labels = np.asarray(labels)
    _, neighbours = NearestNeighbors(n_neighbors=k + 1).fit(embedding).kneighbors(embedding)
    return float(np.mean(labels[neighbours[:, 1:]] == labels[:, None]))
