"""t-SNE backends on separable clusters, the shared map, PCA and the label agreement."""

import numpy as np
import pytest

from renoise.science import embedding
from renoise.errors import ConfigError


@pytest.fixture(scope="module")
def clusters():
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 10, (3, 60))
    labels = np.repeat(np.arange(3), 40)
    return (centres[labels] + rng.normal(0, 1, (120, 60))).astype(np.float32), labels


@pytest.mark.parametrize("backend", embedding.available_backends())
def test_backends_separate_clusters(clusters, backend):
    x, labels = clusters
    points = embedding.embed(x, backend=backend, seed=0)
    assert points.shape == (120, 2) and points.dtype == np.float32
    assert embedding.knn_agreement(points, labels) > 0.95


def test_opentsne_is_reproducible(clusters):
    x, _ = clusters
    assert np.array_equal(embedding.embed(x, seed=3), embedding.embed(x, seed=3))


def test_unknown_or_missing_backends_are_refused(monkeypatch):
    with pytest.raises(ConfigError, match="no t-SNE backend named 'umap'"):
        embedding.check_backend("umap")
    monkeypatch.setattr(embedding, "available_backends", lambda: ["opentsne"])
    with pytest.raises(ConfigError, match="'multicore' is not installed"):
        embedding.check_backend("multicore")


def test_reduce(clusters):
    x, _ = clusters
    assert embedding.reduce(x, 10).shape == (120, 10)
    assert embedding.reduce(x, None) is not None and embedding.reduce(x, None).shape == (120, 60)
    assert embedding.reduce(x[:, :8], 50).shape == (120, 8)


def test_shared_map_places_new_points_by_their_neighbours(clusters):
    x, labels = clusters
    shared = embedding.SharedMap(x, seed=0)
    moved = x + np.random.default_rng(1).normal(0, 0.5, x.shape).astype(np.float32)
    placed = shared.place(moved)
    assert placed.shape == (120, 2)
    centres = np.array([shared.embedding[labels == k].mean(0) for k in range(3)])
    nearest = np.argmin(((placed[:, None] - centres[None]) ** 2).sum(-1), axis=1)
    assert np.mean(nearest == labels) > 0.95


def test_knn_agreement_by_hand():
    points = np.array([[0.0, 0], [0, 1], [10, 0], [10, 1]])
    assert embedding.knn_agreement(points, np.array([0, 0, 1, 1]), k=1) == 1.0
    assert embedding.knn_agreement(points, np.array([0, 1, 0, 1]), k=1) == 0.0
