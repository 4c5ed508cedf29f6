"""The report's Findings: a few sentences generated from the tables, each naming the table it comes from.

Every claim is one an interval supports. A child is better or worse than its parent on a set only
where the paired 95 % interval of child − parent excludes 0 (``verdicts.csv``); one structure beats
the other on a set only where Welch's interval excludes 0 (``structures.csv``); the best model
stands above or below the adaptive median on a set only where its whole interval does
(``intervals.csv``). Counts are over (child, set) cells or sets, and *n* is the number of
repetitions. A model whose evaluation gave NaN (a diverged run) is named as diverged and never
ranked.
"""

from __future__ import annotations

import math

import pandas as pd

from renoise.science import baselines
from renoise.science.metrics import METRICS
from renoise.pipeline.specs import Family
from renoise.report.tables import HEADLINE, best_label, higher_is_better

#: The classical baseline the best model is held against: the strongest of the three (its label,
#: which the intervals table shows).
REFERENCE = baselines.BASELINES[baselines.REFERENCE].label


def findings(judged: pd.DataFrame, compared: pd.DataFrame, intervals: pd.DataFrame, trained: pd.DataFrame) -> list[str]:
    """The Findings, one Markdown sentence each: children against parents per headline metric,
    the two structures, the best model against :data:`REFERENCE`, divergence and convergence.
    ``judged``, ``compared`` and ``intervals`` are the verdicts, structures and intervals tables;
    ``trained`` is :func:`renoise.report.tables.convergence`'s table."""
    sentences = [children_against_parents(judged, metric) for metric in HEADLINE]
    sentences += [one_structure_against_the_other(compared, metric) for metric in ("psnr", "ssim")]
    sentences += [best_against_reference(intervals, metric) for metric in ("psnr", "ssim")]
    return [s for s in sentences + [diverged(intervals), convergence(trained)] if s]


def _name(metric: str) -> str:
    return METRICS[metric][0]


def _tally(verdicts: pd.Series) -> str:
    counts = verdicts.value_counts()
    return f"{counts.get('better', 0)} better, {counts.get('worse', 0)} worse, {counts.get('unclear', 0)} unclear"


def _n(values: pd.Series) -> str:
    low, high = int(values.min()), int(values.max())
    return f"n = {low}" if low == high else f"n = {low} to {high}"


def children_against_parents(judged: pd.DataFrame, metric: str) -> str:
    """How many (child, set) cells are better, worse or unclear than the parent on ``metric``."""
    block = judged[(judged["metric"] == metric) & judged["mean_difference"].map(math.isfinite)]
    if block.empty:
        return ""
    children = block["child"].nunique()
    return (f"**Children against their parents, {_name(metric)}:** of {len(block)} paired comparisons "
            f"({children} children × {block['set'].nunique()} sets, {_n(block['n'])}), {_tally(block['verdict'])} "
            f"than the parent (`verdicts.csv`).")


def one_structure_against_the_other(compared: pd.DataFrame, metric: str) -> str:
    """On how many sets the one-level parent is better, worse or unclear than the multiple-levels one."""
    block = compared[compared["metric"] == metric]
    if block.empty:
        return ""
    n = f"n = {int(block['n_one_level'].min())} vs {int(block['n_multiple_levels'].min())}"
    return (f"**One level against multiple levels, {_name(metric)}:** the one-level parent is "
            f"{_tally(block['verdict'])} on the {len(block)} sets (Welch, {n}; `structures.csv`).")


def best_against_reference(intervals: pd.DataFrame, metric: str, reference: str = REFERENCE) -> str:
    """Where the best trained model's interval lies wholly above, wholly below, or across
    ``reference``'s value, set by set; the best model is the one with the best mean over the sets."""
    block = intervals[intervals["metric"] == metric]
    finite = block.groupby("label")["mean"].transform(lambda m: m.map(math.isfinite).all())
    trained = block[finite & block["family"].isin([str(Family.PARENT), str(Family.CHILD)])]
    base = block[block["label"] == reference].set_index("set")["mean"]
    best = best_label(trained, metric)
    if best is None or base.empty:
        return ""
    rows = trained[trained["label"] == best].set_index("set")
    sides = [_side(rows.loc[s], base[s], higher_is_better(metric)) for s in rows.index if s in base.index]
    return (f"**Best model against the {reference.lower()}, {_name(metric)}:** {best} "
            f"({_n(rows['n'])}), the best by its mean over the sets, is better on {sides.count('better')}, "
            f"worse on {sides.count('worse')} and unclear on {sides.count('unclear')} of {len(sides)} sets "
            f"(its 95 % interval against the filter's value; `intervals.csv`).")


def _side(row, value: float, higher: bool) -> str:
    """``better`` / ``worse`` where the interval lies wholly on one side of ``value``; one run
    (no interval) is ``unclear``."""
    if row["n"] < 2:
        return "unclear"
    if row["low"] > value:
        return "better" if higher else "worse"
    if row["high"] < value:
        return "worse" if higher else "better"
    return "unclear"


def diverged(intervals: pd.DataFrame) -> str:
    """The models whose evaluation gave NaN on some set and metric."""
    labels = list(dict.fromkeys(intervals.loc[~intervals["mean"].map(math.isfinite), "label"]))
    if not labels:
        return ""
    return (f"**Diverged:** {', '.join(labels)}: an evaluation gave NaN, so the tables show *diverged* "
            f"and no ranking uses it (`intervals.csv`).")


def convergence(trained: pd.DataFrame) -> str:
    """Whether every model ended at its plateau, or which did not."""
    if trained.empty:
        return ""
    late = list(trained.index[~trained["converged"].astype(bool)])
    if not late:
        return (f"**Training:** all {len(trained)} models ended at their plateau (early stopping) in every "
                f"repetition (training table).")
    return (f"**Training:** {len(late)} of {len(trained)} models reached their epoch cap in at least one "
            f"repetition and are marked † wherever they appear: {', '.join(late)} (training table).")


def sides_against_reference(paired: pd.DataFrame, metric: str) -> list[str]:
    """A comparison's Findings on ``metric``: for each side B, how many of its (model, set)
    differences B − A are better, worse or unclear for B (``paired.csv``'s verdicts)."""
    block = paired[(paired["metric"] == metric) & paired["mean"].map(math.isfinite)]
    sentences = []
    for b, group in block.groupby("b", sort=False):
        tests = " and ".join(sorted(group["test"].unique()))
        sentences.append(f"**`{b}` against `{group['a'].iloc[0]}`, {_name(metric)}:** of {len(group)} differences "
                         f"B − A ({group['label'].nunique()} models × {group['set'].nunique()} sets, {tests}, "
                         f"{_n(group['n'])}), B is {_tally(group['verdict'])} (`paired.csv`).")
    return sentences
