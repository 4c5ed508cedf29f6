"""Evaluation of every model of an experiment on the 12 test sets, cached in ``storage/``.

Each model's outputs are predicted once per set and reused by every metric, by the t-SNE maps
and, for a parent, as its children's inputs. A model's evaluation is cached under a key made of
its run's marker hash and the evaluation settings; the cache entry's ``evaluation.json`` is
written last, so an interrupted evaluation is simply redone.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import keras
import numpy as np

from renoise import atomic, embedding, metrics, models, noise
from renoise.baselines import BASELINES
from renoise.errors import DataError
from renoise.runs import read_marker, require_complete
from renoise.training import predict

@dataclass
class Evaluation:
    """One row of the comparison: a model's (or baseline's) metrics on the 12 sets.

    ``metrics`` maps each name of :data:`renoise.metrics.METRICS` to 12 values; ``samples`` holds
    the first digits of each output set (12, k, 784) for the image grids; ``embeddings`` the t-SNE
    maps of the chosen sets (S, n, 2), empty for baselines; ``outputs`` all outputs (12, N, 784),
    kept for parents.
    """

    name: str
    family: str
    structure: str | None
    metrics: dict[str, np.ndarray]
    samples: np.ndarray
    embeddings: np.ndarray
    outputs: np.ndarray | None = field(default=None, repr=False)


@dataclass
class TestBed:
    """What every evaluation shares: the 12 test sets, labels, the clean classifier, and the
    metrics' :class:`~renoise.metrics.Reference` of the clean set."""

    sets: np.ndarray
    labels: np.ndarray
    judge: keras.Model  # classifier with two outputs: class probabilities and features
    reference: metrics.Reference
    classifier_hash: str

    @classmethod
    def load(cls, data_dir, classifier_dir) -> "TestBed":
        """Load the data run's test sets and the classifier run's model (both must be complete)."""
        test = atomic.load_arrays(Path(data_dir) / "test.npz")
        classifier_dir = require_complete(classifier_dir, "classifier run")
        classifier = models.load_model(classifier_dir / "model.keras")
        return cls.build(test["sets"], test["labels"], classifier, read_marker(classifier_dir)["hash"])

    @classmethod
    def build(cls, sets: np.ndarray, labels: np.ndarray, classifier: keras.Model, classifier_hash: str = "") -> "TestBed":
        """A test bed from arrays and a classifier in memory (``sets[0]`` is the clean target)."""
        judge = models.judge(classifier)
        _, target_features = judge.predict(sets[0], batch_size=1024, verbose=0)
        return cls(sets, labels, judge, metrics.Reference.of(sets[0], target_features), classifier_hash)

    def score(self, outputs: np.ndarray) -> dict[str, np.ndarray]:
        """Every metric for each of the 12 output sets (the classifier sees all of them in one pass)."""
        probabilities, features = self.judge.predict(outputs.reshape(-1, outputs.shape[-1]), batch_size=1024, verbose=0)
        sets = len(outputs)
        rows = [metrics.evaluate(output, self.reference, probabilities=p, labels=self.labels, features=f)
                for output, p, f in zip(outputs, np.split(probabilities, sets), np.split(features, sets))]
        return {name: np.array([row[name] for row in rows]) for name in metrics.METRICS}


@dataclass(frozen=True)
class Settings:
    """Evaluation settings from the compare notebook's parameters."""

    tsne_sets: tuple[str, ...] = noise.SHOWN_SETS
    tsne_backend: str = "opentsne"
    tsne_points: int | None = None
    shared_map: bool = False
    grid_digits: int = 20
    renoise_at_eval: bool = False
    seed: int = 0

    def maps(self, outputs: np.ndarray, labels_count: int, shared: embedding.SharedMap | None) -> np.ndarray:
        """t-SNE maps (S, n, 2) of the chosen output sets."""
        n = min(self.tsne_points or labels_count, labels_count)
        chosen = [outputs[noise.SET_NAMES.index(s)][:n] for s in self.tsne_sets]
        if shared is not None:
            return np.stack([shared.place(x) for x in chosen])
        return np.stack([embedding.embed(x, backend=self.tsne_backend, seed=self.seed) for x in chosen])


def slug(name: str) -> str:
    """A folder name for a model's display name."""
    return re.sub(r"[^A-Za-z0-9]+", "_", name.replace("\u2192", "to")).strip("_").lower()


class Cache:
    """Evaluations on disk, one folder per model: ``arrays.npz``, ``outputs.npy`` (parents) and
    ``evaluation.json`` (written last, holding the cache key)."""

    def __init__(self, folder):
        self.folder = Path(folder)

    def load(self, name: str, key: str) -> Evaluation | None:
        """The cached evaluation of ``name`` if its key matches, else ``None``."""
        folder = self.folder / slug(name)
        try:
            info = atomic.read_json(folder / "evaluation.json")
        except DataError:
            return None
        if info.get("key") != key:
            return None
        arrays = atomic.load_arrays(folder / "arrays.npz")
        outputs = np.load(folder / "outputs.npy", allow_pickle=False, mmap_mode="r") if info["has_outputs"] else None
        return Evaluation(info["name"], info["family"], info["structure"],
                          {m: arrays[f"metric_{m}"] for m in metrics.METRICS}, arrays["samples"],
                          arrays["embeddings"], outputs)

    def save(self, evaluation: Evaluation, key: str) -> None:
        """Store ``evaluation`` under ``key``; the JSON that marks it complete goes last."""
        folder = self.folder / slug(evaluation.name)
        (folder / "evaluation.json").unlink(missing_ok=True)
        atomic.save_arrays(folder / "arrays.npz", samples=evaluation.samples, embeddings=evaluation.embeddings,
                           **{f"metric_{m}": v for m, v in evaluation.metrics.items()})
        if evaluation.outputs is not None:
            with atomic.atomic_path(folder / "outputs.npy", suffix=".npy") as tmp:
                np.save(tmp, np.asarray(evaluation.outputs), allow_pickle=False)
        atomic.write_json(folder / "evaluation.json", {
            "key": key, "name": evaluation.name, "family": evaluation.family, "structure": evaluation.structure,
            "has_outputs": evaluation.outputs is not None,
            "metrics": {m: v.tolist() for m, v in evaluation.metrics.items()}, "sets": list(noise.SET_NAMES),
        })


def _key(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def evaluate_all(specs: list[dict], bed: TestBed, cache: Cache, settings: Settings, *,
                 recalculate: bool = False, log: Callable[[str], None] = print) -> list[Evaluation]:
    """Evaluate the baselines and every model of ``specs`` (the compare run's ``models`` parameter:
    parents before their children), from the cache where possible. Returns one :class:`Evaluation` per row:
    baselines, then each parent followed by its children (and, with ``renoise_at_eval``, each child
    again on its parent's outputs re-noised Mixed)."""
    shared = embedding.SharedMap(bed.sets[0][: settings.tsne_points], seed=settings.seed) if settings.shared_map else None
    base_key = _key(settings, bed.classifier_hash, bed.sets.shape)
    results: list[Evaluation] = []
    by_name: dict[str, tuple[Evaluation, str]] = {}

    def row(name, family, structure, key, outputs_of: Callable[[], np.ndarray], keep_outputs=False):
        start = time.perf_counter()
        cached = None if recalculate else cache.load(name, key)
        if cached is not None and keep_outputs and cached.outputs is None:
            cached = None  # a child was added since: its parent's outputs are needed now
        if cached is not None:
            log(f"  cached     {name}")
            evaluation = cached
        else:
            outputs = outputs_of()
            maps = np.zeros((0, 0, 2), np.float32) if family == "baseline" else settings.maps(outputs, len(bed.labels), shared)
            evaluation = Evaluation(name, family, structure, bed.score(outputs), outputs[:, : settings.grid_digits].copy(),
                                    maps, outputs if keep_outputs else None)
            cache.save(evaluation, key)
            log(f"  evaluated  {name} in {time.perf_counter() - start:.1f} s")
        results.append(evaluation)
        by_name[name] = (evaluation, key)

    for name, denoise in BASELINES.items():
        row(name, "baseline", None, _key(base_key, name), lambda d=denoise: np.stack([d(s) for s in bed.sets]))
    children = {spec["parent"] for spec in specs if spec["parent"]}
    for spec in specs:
        run_dir = require_complete(spec["run_dir"], f"model run of {spec['name']!r}")
        model_key = _key(base_key, read_marker(run_dir)["hash"])
        model = models.load_model(run_dir / "model.keras")
        if spec["parent"] is None:
            row(spec["name"], "parent", spec["structure"], model_key, lambda: _predict_sets(model, bed.sets),
                keep_outputs=spec["name"] in children)
            continue
        parent, parent_key = by_name[spec["parent"]]
        row(spec["name"], "child", spec["structure"], _key(model_key, parent_key),
            lambda: _predict_sets(model, parent.outputs))
        if settings.renoise_at_eval:
            rng = np.random.default_rng([settings.seed, zlib.crc32(spec["name"].encode())])
            row(f"{spec['name']} (renoised at eval)", "renoised", spec["structure"], _key(model_key, parent_key, "renoised"),
                lambda: _predict_sets(model, np.stack([noise.mixed(o, rng) for o in parent.outputs])))
    return results


def _predict_sets(model: keras.Model, sets: np.ndarray) -> np.ndarray:
    """``model``'s outputs for each of the 12 input sets, in one batched pass."""
    flat = np.asarray(sets).reshape(-1, sets.shape[-1])
    return predict(model, flat).reshape(sets.shape)


def write_summary(table, path) -> None:
    """Write the summary table as CSV, atomically."""
    with atomic.atomic_path(path, suffix=".csv") as tmp:
        table.to_csv(tmp)


def summary(results: list[Evaluation]):
    """A long table (metric, model, family) x 12 sets of every result, as a pandas DataFrame."""
    import pandas as pd

    frames = []
    for metric in metrics.METRICS:
        values = np.array([r.metrics[metric] for r in results])
        index = pd.MultiIndex.from_tuples([(metric, r.name, r.family) for r in results], names=["metric", "model", "family"])
        frames.append(pd.DataFrame(values, index=index, columns=list(noise.SET_NAMES)))
    return pd.concat(frames)


def winners(table, metric: str, reference: str = "Median 3x3"):
    """Per set: the best model (baselines excluded), its score, ``reference``'s score, the margin
    (positive where the model is better) and the best row overall, baselines included."""
    import pandas as pd

    higher = metrics.METRICS[metric][1]
    block = table.loc[metric]
    candidates = block[block.index.get_level_values("family") != "baseline"].droplevel("family")
    everything = block.droplevel("family")
    rows = []
    for column in block.columns:
        best = candidates[column].idxmax() if higher else candidates[column].idxmin()
        overall = everything[column].idxmax() if higher else everything[column].idxmin()
        margin = candidates[column][best] - everything[column][reference]
        rows.append({"set": column, "best model": best, "score": candidates[column][best],
                     reference: everything[column][reference], "margin": margin if higher else -margin,
                     "best overall": overall})
    return pd.DataFrame(rows).set_index("set")
