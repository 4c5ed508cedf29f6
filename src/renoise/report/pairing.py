"""Comparisons across experiments or grid points: each model's difference B − A, paired by repetition.

Two experiments, or two points of a grid, whose runs share a key (``one_level/002``) and a seed,
and read the same data, draw the same noise and the same batches: repetition *r* of a model in A
pairs with repetition *r* of the same model (the same label) in B, and the 95 % Student-t interval
of the differences (:func:`renoise.report.statistics.paired`) removes the spread the seeds share. Where
the two sides' seeds or data differ, a pairing would be spurious: the difference gets Welch's
interval (:func:`renoise.report.statistics.welch`) instead, and says so in its ``test`` column. The
verdict follows the experiment's own rule (DESIGN §5): ``better`` or ``worse`` for B only where
the whole interval lies on one side of 0, in the metric's good direction.

Every later side is compared with the first (the reference): ``compare A B C`` gives B − A and
C − A. Baselines are left out: they are deterministic, the same wherever the data is.

Everything is computed from each side's ``summary.csv`` (and its runs' seeds and data files), and
written as CSV: ``values.csv`` (every value used, with its seed) and ``paired.csv``
(:data:`PAIRED_COLUMNS`), so scipy alone can recompute each interval. The sweep chart lives here,
not in :mod:`renoise.report.plots`, so that drawing it never makes an experiment's compare run stale.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from enum import Enum
from pathlib import Path

import numpy as np
import pandas as pd

from renoise import atomic
from renoise.errors import ConfigError
from renoise.pipeline.plan import Run
from renoise.report.html import COMPARISONS
from renoise.pipeline.specs import Family
from renoise.report.statistics import paired, verdict, welch
from renoise.report.tables import HEADLINE, higher_is_better, write_csv

#: ``paired.csv``: the two sides' keys, the model, set and metric, and B − A with its interval.
PAIRED_COLUMNS = ["a", "b", "label", "set", "metric", "n", "mean", "low", "high", "verdict", "test"]
#: ``values.csv``: every model value a comparison used, with the seed its run was trained with.
VALUE_COLUMNS = ["side", "run", "seed", "label", "family", "set", "metric", "value"]
#: The families compared: trained models (baselines are the same wherever the data is).
MODEL_FAMILIES = (str(Family.PARENT), str(Family.CHILD), str(Family.RENOISED))


class Test(str, Enum):
    """How a difference's interval was computed."""

    PAIRED = "paired"  # same data, same seed per run key: the t-interval of the paired differences
    WELCH = "welch"  # seeds or data differ: Welch's interval of two independent groups

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Side:
    """One side of a comparison: an experiment or a grid point.

    ``key`` is its identity (the experiment's name, or the point's key
    ``autoencoder.architecture=conv``), ``storage`` the folder of its tables and ``compare_dir``
    its compare run's folder, both relative to the project root; ``values`` holds a grid point's
    overridden keys and their values (empty for an experiment).
    """

    key: str
    storage: str
    compare_dir: str
    values: dict = field(default_factory=dict)


# -- reading the sides -----------------------------------------------------------------------------


def read_values(root: Path, side: Side) -> pd.DataFrame:
    """The side's model rows of ``summary.csv`` (:data:`VALUE_COLUMNS`), each with the seed of the
    run that trained its model (the ``model_run`` column: a row re-noised at evaluation has its child's)."""
    path = Path(root) / side.storage / "summary.csv"
    if not path.is_file():
        raise ConfigError(f"{side.storage}/summary.csv: not found; run the report of {side.key!r} first")
    table = pd.read_csv(path)
    table = table[table["family"].isin(MODEL_FAMILIES)].copy()
    table["seed"] = table["model_run"].map(run_seeds(root, side))
    table["side"] = side.key
    return table[VALUE_COLUMNS].reset_index(drop=True)


def _compare_parameters(root: Path, side: Side) -> dict:
    path = Path(root) / side.compare_dir / "parameters.json"
    if not path.is_file():
        raise ConfigError(f"{side.compare_dir}/parameters.json: not found; run the report of {side.key!r} first")
    return atomic.read_json(path)


def run_seeds(root: Path, side: Side) -> dict[str, int]:
    """Each model run's seed, by its key within the side, from the run's ``parameters.json``."""
    specs = _compare_parameters(root, side)["models"]
    return {spec["key"]: atomic.read_json(Path(root) / spec["run_dir"] / "parameters.json")["seed"] for spec in specs}


def data_digest(root: Path, side: Side) -> str:
    """One sha256 over the side's data files (``train.npz``, ``test.npz``): equal digests, same data."""
    folder = Path(root) / _compare_parameters(root, side)["data_dir"]
    digests = [atomic.file_record(path)["sha256"] for path in sorted(folder.glob("*.npz"))]
    return hashlib.sha256(" ".join(digests).encode()).hexdigest()


# -- pairing ---------------------------------------------------------------------------------------


def how_to_pair(a: pd.DataFrame, b: pd.DataFrame, same_data: bool) -> tuple[Test, str]:
    """Whether two sides' values (:func:`read_values`) pair by run key, and why (or why not):
    only where they read the same data and every run key they share has one seed on both sides."""
    if not same_data:
        return Test.WELCH, "their data differ"
    seeds_a = a.drop_duplicates("run").set_index("run")["seed"]
    seeds_b = b.drop_duplicates("run").set_index("run")["seed"]
    common = seeds_a.index.intersection(seeds_b.index)
    if common.empty:
        return Test.WELCH, "they share no run key"
    differ = [key for key in common if seeds_a[key] != seeds_b[key]]
    if differ:
        return Test.WELCH, f"their seeds differ (run {differ[0]}: {seeds_a[differ[0]]} and {seeds_b[differ[0]]})"
    return Test.PAIRED, f"same data, and the same seed for each of the {len(common)} run keys they share"


def shared_labels(a: pd.DataFrame, b: pd.DataFrame) -> list[str]:
    """The model labels on both sides, in A's order."""
    theirs = set(b["label"])
    return [label for label in dict.fromkeys(a["label"]) if label in theirs]


def differences(a: pd.DataFrame, b: pd.DataFrame, test: Test) -> pd.DataFrame:
    """Per label on both sides, set and metric: B − A, its 95 % interval (paired by run key, or
    Welch's) and B's verdict (:data:`PAIRED_COLUMNS`; ``a``/``b`` are the sides' keys)."""
    keys = ["label", "set", "metric"]
    theirs = {name: group for name, group in b.groupby(keys, sort=False)}
    rows = []
    for (label, set_, metric), ours in a.groupby(keys, sort=False):
        other = theirs.get((label, set_, metric))
        if other is None:
            continue
        if test is Test.PAIRED:
            both = ours.merge(other, on="run", suffixes=("_a", "_b"))
            interval = paired(both["value_b"], both["value_a"])
        else:
            interval, _ = welch(other["value"], ours["value"])
        rows.append((ours["side"].iloc[0], other["side"].iloc[0], label, set_, metric, interval.n, interval.mean,
                     interval.low, interval.high, str(verdict(interval, higher_is_better(metric))), str(test)))
    return pd.DataFrame(rows, columns=PAIRED_COLUMNS)


@dataclass
class Comparison:
    """Every side's values, the pairing of each later side with the first (:func:`how_to_pair`:
    side key -> (test, reason)) and every difference (:data:`PAIRED_COLUMNS`)."""

    sides: list[Side]
    values: pd.DataFrame
    pairing: dict[str, tuple[Test, str]]
    paired: pd.DataFrame


def compare(root: Path, sides: list[Side]) -> Comparison:
    """Read every side and compare each later one with the first; refuse fewer than two sides, a
    side given twice, and a side that shares no model label with the first."""
    check_sides(sides)
    values = {side.key: read_values(root, side) for side in sides}
    digests = {side.key: data_digest(root, side) for side in sides}
    reference = sides[0].key
    pairing, tables = {}, []
    for side in sides[1:]:
        if not shared_labels(values[reference], values[side.key]):
            raise ConfigError(f"{reference!r} and {side.key!r} share no model label: nothing to compare")
        pairing[side.key] = how_to_pair(values[reference], values[side.key], digests[side.key] == digests[reference])
        tables.append(differences(values[reference], values[side.key], pairing[side.key][0]))
    everything = pd.concat(values.values(), ignore_index=True)
    return Comparison(sides, everything, pairing, pd.concat(tables, ignore_index=True))


def check_sides(sides: list[Side]) -> None:
    """At least two sides, each once."""
    if len(sides) < 2:
        raise ConfigError("compare: give at least two experiments, "
                          "or one experiment with a --grid of two points or more")
    keys = [side.key for side in sides]
    twice = sorted({key for key in keys if keys.count(key) > 1})
    if twice:
        raise ConfigError(f"compare: {twice[0]!r} is given twice")


def write(comparison: Comparison, folder: Path) -> None:
    """``paired.csv`` and ``values.csv`` into ``folder``, atomically."""
    write_csv(comparison.paired, Path(folder) / "paired.csv")
    write_csv(comparison.values, Path(folder) / "values.csv")


# -- reading the results ---------------------------------------------------------------------------


def as_verdicts(table: pd.DataFrame, *, several: bool) -> pd.DataFrame:
    """``paired.csv``'s rows in the shape of an experiment's ``verdicts.csv`` (a row per ``child``,
    here the model, with ``B`` after it where ``several`` sides are compared), so the report's
    verdict tables (:func:`renoise.report.styles.verdict_table`) draw them."""
    rows = table.rename(columns={"mean": "mean_difference", "a": "parent"})
    rows["child"] = [f"{label} · {b}" if several else label for label, b in zip(table["label"], table["b"])]
    return rows


def tally(table: pd.DataFrame, metric: str) -> list[str]:
    """One line per compared side and model: on how many sets B is better, worse or unclear."""
    lines = []
    for (b, label), group in table[table["metric"] == metric].groupby(["b", "label"], sort=False):
        count = group["verdict"].value_counts()
        lines.append(f"{label}, {b} − {group['a'].iloc[0]} ({group['test'].iloc[0]}, n = {group['n'].min()}): "
                     f"better on {count.get('better', 0)}, worse on {count.get('worse', 0)}, "
                     f"unclear on {count.get('unclear', 0)} of {len(group)} sets")
    return lines


def numeric_keys(sides: list[Side]) -> list[str]:
    """The swept keys whose values are numbers (not booleans) on every side, with two values or more."""
    keys = dict.fromkeys(key for side in sides for key in side.values)
    found = []
    for key in keys:
        given = [side.values.get(key) for side in sides]
        numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in given)
        if numbers and len(set(given)) > 1:
            found.append(key)
    return found


def trend(root: Path, sides: list[Side], key: str) -> pd.DataFrame:
    """Each model's interval (``intervals.csv``) at every side's value of ``key``: the columns
    ``value``, ``series`` (the label, with the side's other overridden values where there are any)
    and the interval's ``set``, ``metric``, ``n``, ``mean``, ``low`` and ``high``."""
    frames = []
    for side in sides:
        spans = pd.read_csv(Path(root) / side.storage / "intervals.csv")
        spans = spans[spans["family"].isin(MODEL_FAMILIES)].copy()
        rest = ", ".join(f"{k.rsplit('.', 1)[-1]}={v}" for k, v in side.values.items() if k != key)
        spans["series"] = spans["label"] + (f" [{rest}]" if rest else "")
        spans["value"] = side.values[key]
        frames.append(spans)
    columns = ["value", "series", "set", "metric", "n", "mean", "low", "high"]
    return pd.concat(frames, ignore_index=True)[columns].sort_values("value", kind="stable")


def trend_chart(points: pd.DataFrame, key: str, set_: str, metrics=HEADLINE):
    """One panel per metric: each series' mean on ``set_`` against the value of ``key``, with its
    95 % band where n > 1 (:func:`trend`'s table)."""
    import matplotlib.pyplot as plt

    from renoise.report.figures import DPI
    from renoise.science.metrics import METRICS

    fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 3.8), dpi=DPI, squeeze=False)
    block = points[points["set"] == set_]
    for ax, metric in zip(axes.flat, metrics):
        for number, (series, rows) in enumerate(block[block["metric"] == metric].groupby("series", sort=False)):
            colour = plt.cm.tab10(number % 10)
            ax.plot(rows["value"], rows["mean"], marker="o", color=colour, label=series)
            if (rows["n"] > 1).any():
                ax.fill_between(rows["value"], rows["low"], rows["high"], color=colour, alpha=0.15, linewidth=0)
        title, higher = METRICS[metric]
        ax.set_title(f"{title} {'↑' if higher else '↓'} on {set_}", fontsize=10)
        ax.set_xlabel(key, fontsize=8)
        ax.set_xticks(np.unique(block["value"]))
        ax.grid(alpha=0.3)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=8, frameon=False)
    rows = int(np.ceil(len(labels) / 3))
    fig.tight_layout(rect=(0, min(0.5, 0.05 * rows + 0.03), 1, 1))
    return fig


def comparison_run(name: str, sides: list[Side], *, trend_set: str = "Mixed"):
    """The run of ``notebooks/paired.ipynb`` that compares ``sides`` as ``name``: it executes into
    ``runs/compare/<name>/``, writes its CSV files to ``storage/compare/<name>/``."""
    parameters = {"name": name, "sides": [asdict(side) for side in sides], "run_dir": f"{COMPARISONS}/{name}",
                  "storage_dir": f"storage/compare/{name}", "trend_set": trend_set}
    return Run(f"compare/{name}", "paired.ipynb", f"compare {name}", parameters)
