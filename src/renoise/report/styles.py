"""The report's styled tables (pandas Stylers) and count lines, drawn from :mod:`renoise.report.tables`'
DataFrames: numbers rounded to their intervals, verdicts as colours, models that did not converge
marked."""

from __future__ import annotations

import math

import pandas as pd

from renoise.science import noise
from renoise.report.statistics import Verdict
from renoise.report.tables import DIVERGED, estimate, flag, higher_is_better, separated

#: Verdict colours of the report's tables.
VERDICT_COLOURS = {"better": "#c7e9c0", "worse": "#fcbba1", "unclear": "#eeeeee"}
#: Verdict symbols of the report's colour grids (the numbers are in each cell's tooltip).
VERDICT_SYMBOLS = {"better": "▲", "worse": "▼", "unclear": "·"}


def _styler(frame: pd.DataFrame):
    """``frame``'s Styler with its cells and headers HTML-escaped: pandas' Styler writes text into
    the report's HTML as it is, and a label or value may hold ``<`` or ``&``."""
    return frame.style.format(escape="html").format_index(escape="html", axis=0).format_index(escape="html", axis=1)


def sample_note(row) -> str:
    """``n = 3``, or ``n = 2 of 3`` where repetitions are missing."""
    return f"n = {row['n']}" if row["n"] == row["of"] else f"n = {row['n']} of {row['of']}"


def metric_table(intervals: pd.DataFrame, metric: str, unconverged: set[str] = frozenset()):
    """One metric's means (model x set) with ``± half-width`` of the 95 % interval, as a Styler.

    A set's best value is bold only where its interval does not overlap the runner-up's (a
    model's single run has no interval, so it is never bold, nor beaten by a bold one).
    """
    block = intervals[intervals["metric"] == metric]
    higher = higher_is_better(metric)
    order = list(dict.fromkeys(block["label"]))
    cells = pd.DataFrame(index=order, columns=list(noise.SET_NAMES), dtype=object)
    bold = pd.DataFrame(False, index=order, columns=list(noise.SET_NAMES))
    for set_, group in block.groupby("set", sort=False):
        ranked = group.sort_values("mean", ascending=not higher)
        if len(ranked) > 1 and separated(ranked.iloc[0], ranked.iloc[1]):
            bold.loc[ranked.iloc[0]["label"], set_] = True
        for _, row in group.iterrows():
            cells.loc[row["label"], set_] = estimate(row["mean"], row["low"], row["high"])
    cells.index = [f"{flag(label, unconverged)} (n={int(block[block['label'] == label]['n'].max())})" for label in order]
    bold.index = cells.index
    return _styler(cells).apply(lambda col: ["font-weight: bold" if b else "" for b in bold[col.name]], axis=0)


def verdict_table(judged: pd.DataFrame, metric: str, unconverged: set[str] = frozenset()):
    """Child x set: the paired mean difference and its interval, coloured by verdict, as a Styler
    (children in ``unconverged`` marked)."""
    block = judged[judged["metric"] == metric]
    order = list(dict.fromkeys(block["child"]))
    text = pd.DataFrame(index=order, columns=list(noise.SET_NAMES), dtype=object)
    colour = pd.DataFrame("", index=order, columns=list(noise.SET_NAMES))
    for _, row in block.iterrows():
        text.loc[row["child"], row["set"]] = estimate(row["mean_difference"], row["low"], row["high"], signed=True)
        colour.loc[row["child"], row["set"]] = f"background-color: {VERDICT_COLOURS[row['verdict']]}"
    text.index = colour.index = [flag(child, unconverged) for child in order]
    return _styler(text).apply(lambda col: list(colour[col.name]), axis=0)


def verdict_grid(judged: pd.DataFrame, metric: str, unconverged: set[str] = frozenset()):
    """Child x set: one colour per verdict (:data:`VERDICT_SYMBOLS`), the paired difference and its
    n in each cell's tooltip, as a Styler: the question's answer at a glance."""
    block = judged[judged["metric"] == metric]
    order = list(dict.fromkeys(block["child"]))
    sets = list(noise.SET_NAMES)
    symbol = pd.DataFrame("", index=order, columns=sets)
    colour = pd.DataFrame("", index=order, columns=sets)
    tips = pd.DataFrame("", index=order, columns=sets)
    for _, row in block.iterrows():
        verdict_ = row["verdict"] if math.isfinite(row["mean_difference"]) else DIVERGED
        symbol.loc[row["child"], row["set"]] = VERDICT_SYMBOLS.get(verdict_, "?")
        colour.loc[row["child"], row["set"]] = f"background-color: {VERDICT_COLOURS.get(verdict_, '#ffffff')}; text-align: center"
        tips.loc[row["child"], row["set"]] = (f"{verdict_}: child − parent "
                                              f"{estimate(row['mean_difference'], row['low'], row['high'], signed=True)} "
                                              f"(n = {row['n']})")
    symbol.index = colour.index = tips.index = [flag(child, unconverged) for child in order]
    return _styler(symbol).apply(lambda col: list(colour[col.name]), axis=0).set_tooltips(tips)


def verdict_counts(judged: pd.DataFrame, metric: str, unconverged: set[str] = frozenset()) -> list[str]:
    """One line per child: on how many sets it is better, worse or unclear against its parent
    (either marked where it did not converge)."""
    block = judged[judged["metric"] == metric]
    lines = []
    for child, group in block.groupby("child", sort=False):
        tally = group["verdict"].value_counts()
        lines.append(f"{flag(child, unconverged)} vs {flag(group['parent'].iloc[0], unconverged)} "
                     f"(n = {group['n'].min()}): better on "
                     f"{tally.get(Verdict.BETTER.value, 0)}, worse on {tally.get(Verdict.WORSE.value, 0)}, unclear on "
                     f"{tally.get(Verdict.UNCLEAR.value, 0)} of {len(group)} sets")
    return lines


def structure_table(compared: pd.DataFrame, metric: str):
    """Set x (difference, interval, p, verdict) of the two structures' parents, coloured, as a Styler."""
    block = compared[compared["metric"] == metric].set_index("set")
    text = pd.DataFrame({
        "one level − multiple levels (95 % Welch interval)": [
            estimate(d, lo, hi, signed=True) if lo != hi else f"{d:+.3g} (n < 2)" if min(a, b) < 2 else f"{d:+.3g} (no spread)"
            for d, lo, hi, a, b in zip(block["difference"], block["low"], block["high"], block["n_one_level"],
                                       block["n_multiple_levels"])],
        "p": [f"{p:.3g}" for p in block["p_value"]],
        "n": [f"{a} vs {b}" for a, b in zip(block["n_one_level"], block["n_multiple_levels"])],
        "one level is": list(block["verdict"]),
    }, index=block.index)
    return _styler(text).apply(lambda col: [f"background-color: {VERDICT_COLOURS[v]}" for v in block["verdict"]],
                            axis=0, subset=["one level is"])
