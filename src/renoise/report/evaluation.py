"""Evaluation of every model of an experiment on the 12 test sets, cached in ``storage/``.

Each model's outputs are predicted once per set and reused by every metric, by the t-SNE maps
and, for a parent, as its children's inputs. A model is known by its run key (``one_level/002``),
never by its display label: cache folders, the pairing of a child with its parent and the seeds
of re-noising at evaluation use the key, so repetitions never collide and renaming a label costs
nothing.

A cache entry is keyed by the evaluation code (the hash of this module and every library module
it imports, which the runner computes and hands to the compare run, so this module never imports
the hashing code), the settings, the classifier's run hash and the model's run hash: changing a
metric re-evaluates, changing a plot does not, and retraining a model re-evaluates that model
only. Without a code hash (a notebook run by hand) nothing is cached. The entry's
``evaluation.json``, written last, records each file as a run marker does
(:func:`renoise.atomic.mismatch`); an entry that is unreadable or does not match is a cache miss,
recomputed with one warning line, never an error.
"""

from __future__ import annotations

import hashlib
import json
import time
import zlib
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable

import keras
import numpy as np

from renoise import atomic, logs
from renoise.science import embedding, metrics, models, noise
from renoise.science.baselines import BASELINES
from renoise.errors import DataError, first_line
from renoise.pipeline.specs import Family, ModelSpec

#: Where a baseline's cache entry lives, below the evaluations folder.
BASELINE_PREFIX = "baselines"
#: A child evaluated on its parent's outputs re-noised Mixed: its key is the child's plus this.
RENOISED_SUFFIX = "renoised"


@dataclass
class Evaluation:
    """One row of the comparison: a model's (or baseline's) results on the 12 sets.

    ``key`` is its identity (a run key, ``baselines/median_3x3`` or ``<child key>/renoised``),
    ``label`` its display name, shared by the repetitions of one model; ``structure``, ``mode``,
    ``parent`` (a child's parent run key) and ``model_run`` (the run that trained the model: the
    row's own key, a re-noised row's child; ``None`` for a baseline) say what it is as data, so no
    table parses a label or a key. ``metrics`` maps each name
    of :data:`renoise.science.metrics.METRICS` to 12 values; ``predictions`` holds the classifier's class
    for every output (12, N); ``samples`` the first digits of each output set (12, k, 784) for the
    image grids; ``embeddings`` the t-SNE maps of the chosen sets (S, n, 2), empty for baselines;
    ``outputs`` all outputs (12, N, 784), kept for parents.
    """

    key: str
    label: str
    family: Family
    structure: str | None
    mode: float | str | None
    repetition: int
    metrics: dict[str, np.ndarray]
    predictions: np.ndarray
    samples: np.ndarray
    embeddings: np.ndarray
    outputs: np.ndarray | None = field(default=None, repr=False)
    parent: str | None = None
    model_run: str | None = None


@dataclass
class TestBed:
    """What every evaluation shares: the 12 test sets, labels, the clean classifier, the metrics'
    :class:`~renoise.science.metrics.Reference` of the clean set, and the classifier run's hash."""

    sets: np.ndarray
    labels: np.ndarray
    judge: keras.Model  # classifier with two outputs: class probabilities and features
    reference: metrics.Reference
    classifier_hash: str

    @classmethod
    def load(cls, data_dir, classifier_dir, classifier_hash: str = "") -> "TestBed":
        """Load the data run's test sets and the classifier run's model."""
        test = atomic.load_arrays(Path(data_dir) / "test.npz")
        classifier = models.load_model(Path(classifier_dir) / "model.keras")
        return cls.build(test["sets"], test["labels"], classifier, classifier_hash)

    @classmethod
    def build(cls, sets: np.ndarray, labels: np.ndarray, classifier: keras.Model, classifier_hash: str = "") -> "TestBed":
        """A test bed from arrays and a classifier in memory (``sets[0]`` is the clean target)."""
        judge = models.judge(classifier)
        _, target_features = models.predict(judge, sets[0])
        return cls(sets, labels, judge, metrics.Reference.of(sets[0], target_features), classifier_hash)

    def score(self, outputs: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Every metric for each of the 12 output sets, and the classifier's class of every output
        (12, N) int8; the classifier sees all sets in one pass."""
        probabilities, features = models.predict(self.judge, outputs.reshape(-1, outputs.shape[-1]))
        sets = len(outputs)
        rows = [metrics.evaluate(output, self.reference, probabilities=p, labels=self.labels, features=f)
                for output, p, f in zip(outputs, np.split(probabilities, sets), np.split(features, sets))]
        predictions = np.argmax(probabilities, axis=1).astype(np.int8).reshape(sets, -1)
        return {name: np.array([row[name] for row in rows]) for name in metrics.METRICS}, predictions


@dataclass(frozen=True)
class Settings:
    """Evaluation settings from the compare notebook's parameters (all part of the cache key)."""

    tsne_sets: tuple[str, ...] = noise.SHOWN_SETS
    tsne_backend: str = "opentsne"
    tsne_points: int | None = None
    shared_map: bool = False
    grid_digits: int = 20
    seed: int = 0


class Maps:
    """t-SNE maps of output sets by :class:`Settings`: each set a map of its own, or every set placed
    into one shared openTSNE map of the clean test set, fitted the first time it is needed."""

    def __init__(self, settings: Settings, clean: np.ndarray):
        self.settings = settings
        self.clean = clean
        self._shared: embedding.SharedMap | None = None

    def of(self, outputs: np.ndarray) -> np.ndarray:
        """Maps (S, n, 2) of the chosen output sets (S = len(tsne_sets), n = tsne_points or all)."""
        s = self.settings
        n = min(s.tsne_points or len(self.clean), len(self.clean))
        chosen = [outputs[noise.SET_NAMES.index(name)][:n] for name in s.tsne_sets]
        if not chosen:
            return np.zeros((0, n, 2), np.float32)
        if s.shared_map:
            if self._shared is None:
                self._shared = embedding.SharedMap(self.clean[:n], seed=s.seed)
            return np.stack([self._shared.place(x) for x in chosen])
        return np.stack([embedding.embed(x, backend=s.tsne_backend, seed=s.seed) for x in chosen])


def cache_key(*parts) -> str:
    """One hash of JSON-able ``parts``."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


class Cache:
    """Evaluations on disk, one folder per key: ``arrays.npz``, ``outputs.npy`` (parents) and
    ``evaluation.json`` (written last: the cache key and each file's :func:`renoise.atomic.file_record`)."""

    def __init__(self, folder, warn: Callable[[str], None] = logs.note):
        self.folder = Path(folder)
        self.warn = warn

    def load(self, row: Evaluation, key: str, *, need_outputs: bool = False) -> Evaluation | None:
        """``row`` filled from the cache if its entry holds ``key`` (and outputs, if needed), else ``None``."""
        folder = self.folder / row.key
        if not (folder / "evaluation.json").exists():
            return None
        try:
            info = atomic.read_json(folder / "evaluation.json")
            if info.get("key") != key or (need_outputs and "outputs.npy" not in info["files"]):
                return None
            problem = atomic.mismatch(info["files"], folder, "evaluation.json")
            if problem:
                raise DataError(f"{folder}/{problem}")
            return self._read(row, folder, "outputs.npy" in info["files"])
        except (DataError, OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            self.warn(f"  warning: {first_line(exc)}; evaluating {row.key} again")
            return None

    @staticmethod
    def _read(row: Evaluation, folder: Path, with_outputs: bool) -> Evaluation:
        arrays = atomic.load_arrays(folder / "arrays.npz")
        outputs = np.load(folder / "outputs.npy", allow_pickle=False, mmap_mode="r") if with_outputs else None
        return replace(row, metrics={m: arrays[f"metric_{m}"] for m in metrics.METRICS}, predictions=arrays["predictions"],
                       samples=arrays["samples"], embeddings=arrays["embeddings"], outputs=outputs)

    def save(self, evaluation: Evaluation, key: str) -> None:
        """Store ``evaluation`` under ``key``; the JSON that marks it complete goes last."""
        folder = self.folder / evaluation.key
        (folder / "evaluation.json").unlink(missing_ok=True)
        atomic.save_arrays(folder / "arrays.npz", samples=evaluation.samples, embeddings=evaluation.embeddings,
                           predictions=evaluation.predictions,
                           **{f"metric_{m}": v for m, v in evaluation.metrics.items()})
        names = ["arrays.npz"]
        if evaluation.outputs is not None:
            with atomic.atomic_path(folder / "outputs.npy", suffix=".npy") as tmp:
                np.save(tmp, np.asarray(evaluation.outputs), allow_pickle=False)
            names.append("outputs.npy")
        atomic.write_json(folder / "evaluation.json", {
            "key": key, "model": evaluation.key, "label": evaluation.label, "family": str(evaluation.family),
            "files": {name: atomic.file_record(folder / name) for name in names},
            "metrics": {m: v.tolist() for m, v in evaluation.metrics.items()}, "sets": list(noise.SET_NAMES),
        })


class Evaluator:
    """Evaluates rows of the comparison, from the cache where its entry is current.

    ``code`` is the hash of the evaluation code (the runner's ``evaluation_code`` parameter);
    without it no row is cached.
    """

    def __init__(self, bed: TestBed, cache: Cache, settings: Settings, *, code: str = "", recalculate: bool = False,
                 log: Callable[[str], None] = logs.note):
        self.bed, self.cache, self.settings, self.recalculate, self.log = bed, cache, settings, recalculate, log
        self.maps = Maps(settings, bed.sets[0])
        self.base = code and cache_key(code, asdict(settings), bed.classifier_hash, bed.sets.shape)

    def key(self, *parts) -> str:
        """The cache key of a row computed from ``parts`` (run hashes, a parent's key); ``""`` (not
        cached) where a part or the code hash is missing."""
        return cache_key(self.base, *parts) if self.base and all(parts) else ""

    def row(self, row: Evaluation, key: str, outputs_of: Callable[[], np.ndarray], *, keep_outputs: bool = False) -> Evaluation:
        """``row`` with its results: from the cache under ``key`` where possible, else computed
        from ``outputs_of()`` and stored."""
        start = time.perf_counter()
        cached = None if self.recalculate or not key else self.cache.load(row, key, need_outputs=keep_outputs)
        if cached is not None:
            self.log(f"  cached     {row.key}")
            return cached
        outputs = outputs_of()
        scores, predictions = self.bed.score(outputs)
        maps = np.zeros((0, 0, 2), np.float32) if row.family is Family.BASELINE else self.maps.of(outputs)
        evaluation = replace(row, metrics=scores, predictions=predictions,
                             samples=outputs[:, : self.settings.grid_digits].copy(), embeddings=maps,
                             outputs=outputs if keep_outputs else None)
        if key:
            self.cache.save(evaluation, key)
        self.log(f"  evaluated  {row.key} in {time.perf_counter() - start:.1f} s")
        return evaluation


def _blank(key: str, label: str, family: Family, structure=None, mode=None, repetition: int = 1,
           parent: str | None = None, model_run: str | None = None) -> Evaluation:
    """A row not evaluated yet: its identity only."""
    empty = np.zeros(0)
    return Evaluation(key, label, family, structure, mode, repetition, {}, empty, empty, empty, parent=parent,
                      model_run=model_run)


def _row_of(spec: ModelSpec) -> Evaluation:
    """The blank row of a model run (its re-noised row keeps ``model_run``: the same run's model)."""
    return _blank(spec["key"], spec["label"], Family(spec["family"]), spec["structure"], spec["mode"],
                  spec["repetition"], spec["parent"], spec["key"])


def evaluate_all(specs: list[ModelSpec], bed: TestBed, cache: Cache, settings: Settings, *, code: str = "",
                 run_hashes: dict[str, str] | None = None, renoise_at_eval: bool = False,
                 root: Path = Path("."), recalculate: bool = False,
                 log: Callable[[str], None] = logs.note) -> list[Evaluation]:
    """Evaluate the baselines and every model of ``specs`` (the compare run's ``models``: parents
    before their children), from the cache where possible.

    ``code`` is the evaluation code's hash and ``run_hashes`` maps run keys to run hashes (the
    runner hands both to the compare run); a row without them is evaluated afresh and not cached.
    Returns one :class:`Evaluation` per row: baselines, then each parent followed by its children
    in ``specs`` order (and, with ``renoise_at_eval``, each child again on its parent's outputs
    re-noised Mixed).
    """
    evaluator = Evaluator(bed, cache, settings, code=code, recalculate=recalculate, log=log)
    results = evaluate_baselines(evaluator)
    for parent in (spec for spec in specs if spec["parent"] is None):
        children = [spec for spec in specs if spec["parent"] == parent["key"]]
        results += evaluate_family(evaluator, parent, children, run_hashes or {}, root=root,
                                   renoise_at_eval=renoise_at_eval)
    return results


def evaluate_baselines(evaluator: Evaluator) -> list[Evaluation]:
    """Every baseline of :data:`renoise.science.baselines.BASELINES`, cached by its fixed key."""
    sets = evaluator.bed.sets
    return [evaluator.row(_blank(f"{BASELINE_PREFIX}/{key}", baseline.label, Family.BASELINE), evaluator.key(key),
                          lambda d=baseline.denoise: np.stack([d(s) for s in sets]))
            for key, baseline in BASELINES.items()]


def evaluate_family(evaluator: Evaluator, parent: ModelSpec, children: list[ModelSpec], run_hashes: dict[str, str], *,
                    root: Path, renoise_at_eval: bool) -> list[Evaluation]:
    """A parent's row, then each child's on the parent's outputs (the parent keeps them in
    memory, and in its cache entry, while it has children)."""
    model = models.load_model(root / parent["run_dir"] / "model.keras")
    key = evaluator.key(run_hashes.get(parent["key"]))
    evaluated = evaluator.row(_row_of(parent), key, lambda: _predict_sets(model, evaluator.bed.sets),
                              keep_outputs=bool(children))
    rows = [evaluated]
    for child in children:
        rows += evaluate_child(evaluator, child, evaluated, key, run_hashes, root=root, renoise_at_eval=renoise_at_eval)
    return rows


def evaluate_child(evaluator: Evaluator, spec: ModelSpec, parent: Evaluation, parent_key: str,
                   run_hashes: dict[str, str], *, root: Path, renoise_at_eval: bool) -> list[Evaluation]:
    """A child's row on its parent's outputs, and with ``renoise_at_eval`` its row on them
    re-noised Mixed, seeded by the child's key."""
    model = models.load_model(root / spec["run_dir"] / "model.keras")
    key = evaluator.key(run_hashes.get(spec["key"]), parent_key)
    rows = [evaluator.row(_row_of(spec), key, lambda: _predict_sets(model, parent.outputs))]
    if renoise_at_eval:
        rng = np.random.default_rng([evaluator.settings.seed, zlib.crc32(spec["key"].encode())])
        renoised = replace(_row_of(spec), key=f"{spec['key']}/{RENOISED_SUFFIX}", family=Family.RENOISED,
                           label=f"{spec['label']} (renoised at eval)")
        rows.append(evaluator.row(renoised, key and cache_key(key, RENOISED_SUFFIX),
                                  lambda: _predict_sets(model, np.stack([noise.mixed(o, rng) for o in parent.outputs]))))
    return rows


def _predict_sets(model: keras.Model, sets: np.ndarray) -> np.ndarray:
    """``model``'s outputs for each of the 12 input sets, in one batched pass."""
    flat = np.asarray(sets).reshape(-1, sets.shape[-1])
    return models.predict(model, flat).reshape(sets.shape)
