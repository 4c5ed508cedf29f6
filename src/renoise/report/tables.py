"""The tables of a comparison: the long summary, intervals, verdicts, the structures' comparison,
who wins and training convergence, as DataFrames (the report's styled versions are in
:mod:`renoise.report.styles`).

Everything starts from :func:`summary`, one row per run x set x metric, which is also
``storage/<experiment>/summary.csv``; the other tables are computed from it with
:mod:`renoise.report.statistics`, so anyone can recompute them from the CSV files alone.
"""

from __future__ import annotations

import base64
import html
import math
from pathlib import Path

import numpy as np
import pandas as pd

from renoise import atomic
from renoise.science import noise
from renoise.science.baselines import BASELINES, NOISY_INPUT, REFERENCE
from renoise.science.metrics import METRICS
from renoise.pipeline.specs import Family
from renoise.report.statistics import Interval, paired, t_interval, verdict, welch

SUMMARY_COLUMNS = ["run", "label", "family", "structure", "mode", "level", "repetition", "parent", "model_run", "set",
                   "metric", "value"]
INTERVAL_COLUMNS = ["label", "family", "structure", "set", "metric", "n", "mean", "sd", "low", "high"]
VERDICT_COLUMNS = ["child", "parent", "set", "metric", "n", "mean_difference", "low", "high", "verdict", "structure",
                   "mode", "level"]
#: The metrics the verdict tables and heatmaps show.
HEADLINE = ("psnr", "ssim", "classifier_accuracy")
#: What a table shows instead of a number where a model's evaluation produced NaN (a diverged run).
DIVERGED = "diverged"
#: The mark after a model that did not converge (a repetition ended at its epoch cap); see :data:`LEGEND`.
NOT_CONVERGED = "†"
#: The mark's legend, printed under every table that uses it.
LEGEND = f"{NOT_CONVERGED} not converged: a repetition ended at its epoch cap, not at its plateau"


def higher_is_better(metric: str) -> bool:
    return METRICS[metric][1]


def estimate(mean: float, low: float, high: float, *, signed: bool = False) -> str:
    """``17.6 ± 0.53``: the mean to the decimal place of its interval's half-width, the half-width
    to two significant digits, so no digit is printed that the interval does not support. A value
    without an interval (``low == high``: one run, or a baseline) gets three significant digits;
    NaN (a diverged run) is :data:`DIVERGED`."""
    if not math.isfinite(mean):
        return DIVERGED
    sign = "+" if signed else ""
    half = (high - low) / 2
    if not (math.isfinite(half) and half > 0):
        return f"{mean:{sign}.3g}"
    half = float(f"{half:.2g}")
    digits = 1 - math.floor(math.log10(half))
    places = max(digits, 0)
    return f"{round(mean, digits):{sign}.{places}f} ± {round(half, digits):.{places}f}"


# -- the long summary -----------------------------------------------------------------------------


def summary(results) -> pd.DataFrame:
    """One row per result x set x metric (:data:`SUMMARY_COLUMNS`); ``parent`` is a child's parent
    run key, ``model_run`` the run that trained the model (a re-noised row's child; empty for a
    baseline), ``mode`` a child's renoise mode as its folder names it, ``level`` its constant
    renoise level in [0, 1] (NaN for a parent, a baseline, and the modes ``mixed`` and ``multi``)."""
    rows = []
    for r in results:
        mode = "" if r.mode is None else noise.mode_name(r.mode)
        for metric in METRICS:
            for name, value in zip(noise.SET_NAMES, r.metrics[metric]):
                rows.append((r.key, r.label, str(r.family), r.structure or "", mode, level(r.mode), r.repetition,
                             r.parent or "", r.model_run or "", name, metric, float(value)))
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def level(mode) -> float:
    """A renoise mode's constant level, or NaN where it has none (``None``, ``mixed``, ``multi``)."""
    return math.nan if mode is None or isinstance(mode, str) else float(mode)


def representatives(results) -> list:
    """The first result of each label (its lowest repetition): what image grids and t-SNE maps show."""
    seen: dict[str, object] = {}
    for r in sorted(results, key=lambda r: r.repetition):
        seen.setdefault(r.label, r)
    return [r for r in results if seen[r.label] is r]


def best_label(intervals: pd.DataFrame, metric: str, *, family: str | None = None, structure: str | None = None) -> str | None:
    """The label with the best mean ``metric`` over all sets among ``family`` (and ``structure``);
    a label with NaN on any set (a diverged run) is never the best."""
    block = intervals[intervals["metric"] == metric]
    block = block[block.groupby("label")["mean"].transform(lambda m: bool(np.isfinite(m).all()))]
    if family is not None:
        block = block[block["family"] == family]
    if structure is not None:
        block = block[block["structure"] == structure]
    if block.empty:
        return None
    means = block.groupby("label", sort=False)["mean"].mean()
    return means.idxmax() if higher_is_better(metric) else means.idxmin()


def confusion_choices(intervals: pd.DataFrame, metric: str = "classifier_accuracy") -> list[str]:
    """The rows of the confusion-matrix figure: the noisy input, the best other baseline and the
    best model of each structure, by mean ``metric`` over the sets."""
    noisy = BASELINES[NOISY_INPUT].label
    baselines = intervals[(intervals["family"] == str(Family.BASELINE)) & (intervals["label"] != noisy)]
    chosen = [noisy, best_label(baselines, metric)]
    trained = intervals[intervals["family"].isin([str(Family.PARENT), str(Family.CHILD)])]
    for structure in noise.STRUCTURES:
        chosen.append(best_label(trained, metric, structure=structure))
    return [label for label in dict.fromkeys(chosen) if label is not None]


def confusion_rows(results, intervals: pd.DataFrame) -> list[tuple[str, list[np.ndarray]]]:
    """The confusion matrices' rows: each of :func:`confusion_choices`' labels with the
    predictions of its every repetition (pooled by :func:`renoise.report.plots.confusion_matrices`)."""
    return [(label, [r.predictions for r in results if r.label == label]) for label in confusion_choices(intervals)]


def swept(specs) -> list[str]:
    """The structures (``one_level``) with children at three or more constant renoise levels:
    those that get a renoise-sweep heatmap."""
    levels: dict[str, set] = {}
    for spec in specs:
        if spec["parent"] is not None and not isinstance(spec["mode"], str):
            levels.setdefault(spec["structure"], set()).add(spec["mode"])
    return [structure for structure, modes in levels.items() if len(modes) >= 3]


def write_csv(table: pd.DataFrame, path) -> None:
    """Write ``table`` as CSV without its index, atomically."""
    with atomic.atomic_path(path, suffix=".csv") as tmp:
        table.to_csv(tmp, index=False)


def csv_link(table: pd.DataFrame, name: str) -> str:
    """An HTML link that downloads ``table`` as the CSV file ``name`` (what :func:`write_csv`
    writes) from the report itself, a data URI: a report sent alone still carries its numbers."""
    data = base64.b64encode(table.to_csv(index=False).encode()).decode("ascii")
    return f'<a download="{html.escape(name)}" href="data:text/csv;base64,{data}">{html.escape(name)}</a>'


# -- intervals and verdicts -----------------------------------------------------------------------


def intervals(table: pd.DataFrame) -> pd.DataFrame:
    """One row per (label, set, metric): ``n``, ``mean``, ``sd`` and the 95 % t-interval over the
    repetitions (``low == high == mean`` where n = 1). Labels keep the summary's order."""
    rows = []
    for (label, set_, metric), group in table.groupby(["label", "set", "metric"], sort=False):
        i = t_interval(group["value"])
        rows.append((label, group["family"].iloc[0], group["structure"].iloc[0], set_, metric, i.n, i.mean, i.sd, i.low,
                     i.high))
    return pd.DataFrame(rows, columns=INTERVAL_COLUMNS)


def verdicts(table: pd.DataFrame) -> pd.DataFrame:
    """One row per child label x set x metric: the mean of child - parent, paired by repetition
    (each child with the parent of its own run key), its 95 % t-interval and the verdict, with
    the child's ``structure``, ``mode`` and ``level`` as data."""
    parents = table[table["family"] == str(Family.PARENT)].set_index(["run", "set", "metric"])["value"]
    labels = table[table["family"] == str(Family.PARENT)].groupby("run")["label"].first()
    children = table[table["family"] == str(Family.CHILD)]
    rows = []
    for (label, set_, metric), group in children.groupby(["label", "set", "metric"], sort=False):
        pairs = [(value, parents[(parent, set_, metric)]) for value, parent in zip(group["value"], group["parent"])
                 if (parent, set_, metric) in parents.index]
        if not pairs:
            continue
        difference = paired([c for c, _ in pairs], [p for _, p in pairs])
        first = group.iloc[0]
        rows.append((label, labels[first["parent"]], set_, metric, difference.n, difference.mean, difference.low,
                     difference.high, str(verdict(difference, higher_is_better(metric))), first["structure"],
                     first["mode"], first["level"]))
    return pd.DataFrame(rows, columns=VERDICT_COLUMNS)


def structures(table: pd.DataFrame) -> pd.DataFrame:
    """The two structures' parents compared per set and metric (Welch): one-level minus
    multiple-levels, its 95 % interval, p-value and the verdict for the one-level parent."""
    parents = table[table["family"] == str(Family.PARENT)]
    if set(parents["structure"]) != set(noise.STRUCTURES):
        return pd.DataFrame(columns=["set", "metric", "n_one_level", "n_multiple_levels", "difference", "low", "high",
                                     "p_value", "verdict"])
    rows = []
    for (set_, metric), group in parents.groupby(["set", "metric"], sort=False):
        a = group.loc[group["structure"] == "one_level", "value"]
        b = group.loc[group["structure"] == "multiple_levels", "value"]
        difference, p = welch(a, b)
        rows.append((set_, metric, int(a.count()), int(b.count()), difference.mean, difference.low, difference.high, p,
                     str(verdict(difference, higher_is_better(metric)))))
    return pd.DataFrame(rows, columns=["set", "metric", "n_one_level", "n_multiple_levels", "difference", "low",
                                       "high", "p_value", "verdict"])


def counts(table: pd.DataFrame, planned: int) -> pd.DataFrame:
    """Repetitions per model label: ``n`` present, ``of`` planned (baselines: 1 of 1)."""
    n = table.groupby("label", sort=False).agg(family=("family", "first"), n=("run", "nunique"))
    n["of"] = np.where(n["family"] == str(Family.BASELINE), 1, planned)
    return n


# -- who wins ----------------------------------------------------------------------------------


def _interval(row) -> Interval:
    return Interval(int(row["n"]), row["mean"], row["sd"], row["low"], row["high"])


def separated(best, second) -> bool:
    """True where ``best``'s interval and ``second``'s share no point, both being intervals: a
    model's single run (n = 1) has none, a baseline (deterministic) is exactly its value."""
    for row in (best, second):
        if row["n"] < 2 and row["family"] != str(Family.BASELINE):
            return False
    return not _interval(best).overlaps(_interval(second))


def winners(intervals: pd.DataFrame, metric: str, reference: str = BASELINES[REFERENCE].label,
            unconverged: set[str] = frozenset()) -> pd.DataFrame:
    """Per set: the best and second-best model by mean (baselines apart), each with its interval,
    the winner where their intervals do not overlap (else none; ``none (n = 1)`` where either is a
    single run, which has no interval), and whether the best model's interval lies wholly on the
    good side of ``reference`` (a deterministic baseline). Models in ``unconverged`` are marked."""
    higher = higher_is_better(metric)
    block = intervals[intervals["metric"] == metric]
    rows = []
    for set_, group in block.groupby("set", sort=False):
        models = group[(group["family"] != str(Family.BASELINE)) & np.isfinite(group["mean"])]
        models = models.sort_values("mean", ascending=not higher)
        if models.empty:
            continue
        best = models.iloc[0]
        second = models.iloc[1] if len(models) > 1 else None
        clear = second is None or separated(best, second)
        single = second is not None and min(best["n"], second["n"]) < 2
        base = group[group["label"] == reference]
        versus = ""
        if not base.empty:
            shifted = Interval(int(best["n"]), best["mean"] - base["mean"].iloc[0], math.nan,
                               best["low"] - base["mean"].iloc[0], best["high"] - base["mean"].iloc[0])
            versus = str(verdict(shifted, higher)) if best["n"] > 1 else "unclear"
        rows.append({"set": set_, "best model": flag(best["label"], unconverged), "best": _describe(best),
                     "runner-up": "" if second is None else flag(second["label"], unconverged),
                     "runner-up score": "" if second is None else _describe(second),
                     "winner": flag(best["label"], unconverged) if clear else "none (n = 1)" if single
                     else "none (intervals overlap)",
                     reference: "" if base.empty else f"{base['mean'].iloc[0]:.3g}", f"best vs {reference}": versus})
    return pd.DataFrame(rows).set_index("set")


def _describe(row) -> str:
    """``18.4 ± 0.41 (n=3)``, or ``18.4 (n=1)``."""
    return f"{estimate(row['mean'], row['low'], row['high'])} (n={row['n']})"


# -- training --------------------------------------------------------------------------------------


def histories(specs, root: Path = Path(".")) -> dict[str, dict]:
    """Each model run's training history (``history.json``), by run key. keras logs no learning
    rate under the constant schedule: there the run's own rate (its ``parameters.json``) is each
    epoch's ``learning_rate``."""
    records = {}
    for spec in specs:
        folder = Path(root) / spec["run_dir"]
        record = atomic.read_json(folder / "history.json")
        if "learning_rate" not in record and (folder / "parameters.json").is_file():
            rate = atomic.read_json(folder / "parameters.json").get("learning_rate")
            if rate is not None:
                record["learning_rate"] = [rate] * len(record.get("loss", []))
        records[spec["key"]] = record
    return records


def convergence(specs, records: dict[str, dict]) -> pd.DataFrame:
    """Per model label: repetitions that ended at their plateau (early stopping) and at the epoch
    cap, the mean kept epoch, what an epoch is (a pass over the set or a fraction of one), what
    counted as better (``min_delta``, a fraction of the best loss), the learning-rate schedule, the
    rate at the first epoch and at the last (its range over the repetitions), and a verdict:
    ``not converged`` where any repetition hit the cap."""
    rows = []
    for spec in specs:
        record = records[spec["key"]]
        rates = record.get("learning_rate") or [math.nan]
        rows.append((spec["label"], spec["key"], len(record.get("loss", [])), record.get("max_epochs"),
                     record.get("kept_epoch"), bool(record.get("stopped_early", False)), record.get("min_delta", math.nan),
                     _schedule(record.get("schedule")), _epoch_length(record), rates[0], rates[-1]))
    frame = pd.DataFrame(rows, columns=["label", "run", "epochs", "max_epochs", "kept_epoch", "stopped_early",
                                        "min_delta", "schedule", "epoch", "first_rate", "last_rate"])
    table = frame.groupby("label", sort=False).agg(
        runs=("run", "count"), at_plateau=("stopped_early", "sum"), mean_kept_epoch=("kept_epoch", "mean"),
        max_epochs=("max_epochs", "max"), epoch=("epoch", "first"), min_delta=("min_delta", "first"),
        schedule=("schedule", "first"),
        first_rate=("first_rate", "first"), lowest_rate=("last_rate", "min"), highest_rate=("last_rate", "max"))
    table["converged"] = table["at_plateau"] == table["runs"]
    table["training"] = np.where(table["converged"], "converged (early stopping)", "not converged (epoch cap)")
    return table


def _epoch_length(record: dict) -> str:
    """``1/4 pass (44 steps)`` or ``1 pass (16 steps)``: what one epoch of a history is (a pass is the
    structure's whole training set); ``1 pass`` for a history that does not say."""
    per_pass, steps = record.get("epochs_per_pass", 1), record.get("steps_per_epoch")
    return (f"1/{per_pass} pass" if per_pass > 1 else "1 pass") + (f" ({steps} steps)" if steps else "")


def _schedule(schedule: dict | None) -> str:
    """``plateau: × 0.5 after 2 epochs, ≥ 1e-05`` or ``constant``: a history's schedule in words."""
    if not schedule or schedule.get("schedule", "constant") == "constant":
        return "constant"
    return f"plateau: × {schedule['lr_factor']:g} after {schedule['lr_patience']} epochs, ≥ {schedule['min_lr']:g}"


def training_table(trained: pd.DataFrame, unconverged: set[str] = frozenset()) -> pd.DataFrame:
    """:func:`convergence`'s table as the report shows it: one row per model (marked where it did
    not converge), the threshold in %, the learning rate from its first epoch to its last."""
    def rate(row) -> str:
        last = f"{row['lowest_rate']:.2g}" if row["lowest_rate"] == row["highest_rate"] else (
            f"{row['lowest_rate']:.2g} to {row['highest_rate']:.2g}")
        return "" if not math.isfinite(row["first_rate"]) else f"{row['first_rate']:.2g} → {last}"

    return pd.DataFrame({
        "repetitions at their plateau": [f"{a} of {n}" for a, n in zip(trained["at_plateau"], trained["runs"])],
        "kept epoch (mean)": [f"{e:.1f}" for e in trained["mean_kept_epoch"]],
        "epoch cap": list(trained["max_epochs"]),
        "an epoch": list(trained["epoch"]),
        "better by at least": [f"{100 * m:.3g} %" if math.isfinite(m) else "" for m in trained["min_delta"]],
        "schedule": list(trained["schedule"]),
        "learning rate (first → last epoch)": [rate(row) for _, row in trained.iterrows()],
    }, index=[flag(label, unconverged) for label in trained.index])


def unconverged_labels(table: pd.DataFrame) -> set[str]:
    """The labels :func:`convergence` finds not converged (a repetition stopped at the epoch cap)."""
    return set(table.index[~table["converged"].astype(bool)])


def flag(label: str, unconverged: set[str]) -> str:
    """``label``, with :data:`NOT_CONVERGED` where it is in ``unconverged``: nobody should read an
    undertrained model as a finding (:data:`LEGEND` says what the mark means)."""
    return f"{label} {NOT_CONVERGED}" if label in unconverged else label
