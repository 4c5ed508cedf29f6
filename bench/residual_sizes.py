"""The residual denoiser's size against its margin over the adaptive median (README, "The residual denoiser").

Each configuration (width x depth: ``depth`` full-resolution 3x3 layers of ``width`` filters) is
trained as the one-level parent with ``training.train_autoencoder`` and residual.yaml's settings
(cap, patience, threshold, schedule, learning rate, threads per op) on mnist5k's training split,
once per seed, to its plateau; then scored with PSNR and SSIM on the 12 noisy sets of the 500 test
digits against the adaptive median (``baselines.adaptive_median``) on the same sets. Each result is
written to the JSON file as soon as it exists; a rerun skips the (configuration, seed) pairs there.

    .venv/bin/python bench/residual_sizes.py [--configs 32x7,16x5] [--seeds 0,1,2,3,4] [--output FILE]
                                             [--experiment experiments/residual.yaml]

Prints the trade-off table: per configuration its parameters, training FLOP per image
(``bench/flops.py``), training img/s (epochs x 4,050 images / seconds of ``fit``, validation
included), epochs to the plateau and the worst seed's PSNR / SSIM margin at 10 %, 50 %, 100 % and Mixed.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
from pathlib import Path

import numpy as np

import renoise.pipeline.config
import renoise.pipeline.plan
from renoise import atomic
from renoise.science.data import load_dataset, prepare

#: The experiment whose one-level parent settings every configuration trains with (``--experiment``).
EXPERIMENT = Path(__file__).resolve().parents[1] / "experiments" / "residual.yaml"
OUTPUT = Path(__file__).with_name("residual_sizes.json")
#: The sets a margin is required at (every level from 10 % to 100 %, and Mixed) and the ones the table shows.
JUDGED = tuple(range(1, 12))
SHOWN = ("10%", "50%", "100%", "Mixed")
#: The margin a configuration must keep on every seed and judged set (the issue's "clear margin").
MIN_PSNR_MARGIN, MIN_SSIM_MARGIN = 5.0, 0.05


@functools.lru_cache(maxsize=1)
def settings() -> tuple[dict, dict]:
    """The experiment as loaded (:data:`EXPERIMENT`), and its first one-level parent's notebook parameters."""
    config = renoise.pipeline.config.load(EXPERIMENT)
    parent = next(run for run in renoise.pipeline.plan.plan(config) if run.key == renoise.pipeline.plan.parent_key("one_level", 1))
    return config, parent.parameters


@functools.lru_cache(maxsize=1)
def arrays() -> dict:
    """residual.yaml's data: training and validation splits and the 12 noisy test sets."""
    config, _ = settings()
    data = config["data"]
    dataset = load_dataset(data["dataset"], seed=config["seed"], test_fraction=data["test_fraction"])
    prepared = prepare(dataset, validation_fraction=data["validation_fraction"], seed=config["seed"])
    prepared["clean"] = prepared["sets"][0]
    return prepared


@functools.lru_cache(maxsize=1)
def baseline_scores() -> dict:
    """The adaptive median's PSNR and SSIM on each of the 12 sets."""
    from renoise.science import baselines

    return score(lambda sets: np.stack([baselines.adaptive_median(s) for s in sets]))


def score(denoise) -> dict:
    """``{"psnr": [...], "ssim": [...]}`` of ``denoise`` (sets (12, N, 784) -> outputs) on every set."""
    from renoise.science import metrics

    prepared = arrays()
    outputs = denoise(prepared["sets"])
    return {name: [float(getattr(metrics, name)(out, prepared["clean"])) for out in outputs] for name in ("psnr", "ssim")}


def train_one(width: int, depth: int, seed: int) -> dict:
    """Train one configuration on one seed with the experiment's parent settings; its record."""
    import flops
    from renoise.science import backend, training

    _, p = settings()
    prepared = arrays()
    model, history = training.train_autoencoder(
        prepared["x_train"], prepared["x_val"], "one_level", epochs=p["epochs"], seed=seed, architecture="residual",
        hidden=[width] * depth, learning_rate=p["learning_rate"], patience=p["patience"], min_delta=p["min_delta"],
        schedule=p["schedule"], verbose=2)  # one line an epoch: live progress
    scores = score(lambda sets: np.stack([training.predict(model, s) for s in sets]))
    epochs = len(history["loss"])
    return {"width": width, "depth": depth, "seed": seed, "params": model.count_params(),
            "train_flops": flops.training_flops(model), "epochs": epochs, "kept_epoch": history["kept_epoch"],
            "stopped_early": history["stopped_early"], "fit_seconds": history["fit_seconds"],
            "img_per_s": epochs * len(prepared["x_train"]) / history["fit_seconds"],
            "best_val_loss": min(history["val_loss"]), "val_loss": history["val_loss"],
            "learning_rate": history.get("learning_rate"), "backend": backend.name(), "experiment": EXPERIMENT.stem,
            **scores}


def margins(record: dict) -> dict:
    """Per set, the record's PSNR and SSIM minus the adaptive median's."""
    base = baseline_scores()
    return {name: [a - b for a, b in zip(record[name], base[name])] for name in ("psnr", "ssim")}


def table(records: list[dict]) -> str:
    """The trade-off table in Markdown: one row per configuration, worst seed's margins."""
    from renoise.science import noise

    shown = [noise.SET_NAMES.index(s) for s in SHOWN]
    lines = ["| configuration | params | train MFLOP/img | img/s | epochs (kept) | seeds | passes | "
             + " | ".join(f"ΔPSNR / ΔSSIM {s}" for s in SHOWN) + " |", "| --- " * (7 + len(SHOWN)) + "|"]
    for key in sorted({(r["width"], r["depth"]) for r in records}, reverse=True):
        rows = [r for r in records if (r["width"], r["depth"]) == key]
        worst = {name: np.min([margins(r)[name] for r in rows], axis=0) for name in ("psnr", "ssim")}
        passes = all(worst["psnr"][k] >= MIN_PSNR_MARGIN and worst["ssim"][k] >= MIN_SSIM_MARGIN for k in JUDGED)
        epochs = ", ".join(f"{r['epochs']} ({r['kept_epoch']}{'' if r['stopped_early'] else ' cap'})" for r in rows)
        cells = [f"{worst['psnr'][k]:+.2f} / {worst['ssim'][k]:+.3f}" for k in shown]
        lines.append(f"| {key[0]} x {key[1]} | {rows[0]['params']:,} | {rows[0]['train_flops'] / 1e6:.0f} | "
                     f"{np.median([r['img_per_s'] for r in rows]):.0f} | {epochs} | {len(rows)} | "
                     f"{'yes' if passes else 'no'} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Train residual configurations to their plateau and score them.")
    parser.add_argument("--configs", default="32x7,32x5,16x7,16x5,16x4",
                        help="comma-separated WIDTHxDEPTH (default: %(default)s)")
    parser.add_argument("--seeds", default="0,1,2,3,4", help="comma-separated seeds (default: %(default)s)")
    parser.add_argument("--output", type=Path, default=OUTPUT, help="the JSON results (default: %(default)s)")
    parser.add_argument("--experiment", type=Path, default=EXPERIMENT,
                        help="the experiment whose one-level parent settings are used (default: %(default)s)")
    parser.add_argument("--table-only", action="store_true", help="print the table of the results so far")
    args = parser.parse_args(argv)
    try:
        args.configs = [tuple(int(n) for n in c.split("x")) for c in args.configs.split(",")]
        args.seeds = [int(s) for s in args.seeds.split(",")]
    except ValueError:
        parser.error("--configs is like 32x7,16x5 and --seeds like 0,1,2")
    return args


def main(argv=None) -> int:
    """Train every (configuration, seed) not yet in the output, then print the table."""
    args = parse_args(argv)
    records = json.loads(args.output.read_text())["records"] if args.output.exists() else []
    done = {(r["width"], r["depth"], r["seed"]) for r in records}
    for width, depth in [] if args.table_only else args.configs:
        for seed in args.seeds:
            if (width, depth, seed) in done:
                continue
            records.append(train_one(width, depth, seed))
            r = records[-1]
            print(f"{width}x{depth} seed {seed}: {r['epochs']} epochs, {r['fit_seconds']:.0f} s, "
                  f"min PSNR margin {min(margins(r)['psnr'][k] for k in JUDGED):+.2f} dB", flush=True)
            atomic.write_json(args.output, {"baseline": baseline_scores(), "records": records})
    print(table(records))
    return 0


if __name__ == "__main__":
    EXPERIMENT = parse_args().experiment
    # TensorFlow's threads per op as the experiment sets them, before renoise.science.models builds the pools.
    os.environ.setdefault("RENOISE_OP_THREADS", str(settings()[0]["threads"]))
    sys.path.insert(0, str(Path(__file__).parent))
    sys.exit(main())
