"""The comparison's tables, from hand-built evaluation rows: the long summary, intervals and Welch
comparisons against scipy.stats, verdicts paired by run key, winners, the report's styled tables,
training convergence, and the CSV files checked by the independent checker."""

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from renoise.report import evaluation, styles, tables
from renoise.science import metrics, noise
from renoise.pipeline.specs import Family

CHECKER = Path(__file__).resolve().parents[2] / "shared" / "tools" / "check_statistics.py"
SETS = list(noise.SET_NAMES)
ARROW = "\u2192"


def evaluation_row(key, label, family, structure=None, mode=None, repetition=1, values=0.0, parent=None,
                   model_run=None):
    """An evaluated row: ``values`` is one number or 12 numbers (the same for every metric), or a
    callable metric -> 12 numbers. A child's ``parent`` defaults to the run its key lies in, a
    model's ``model_run`` to its own key (a re-noised row names its child)."""
    if parent is None and family in ("child", "renoised"):
        parent = "/".join(key.split("/")[:2])
    if model_run is None and family != "baseline":
        model_run = key
    def of(metric):
        return np.broadcast_to(np.asarray(values(metric) if callable(values) else values, dtype=float), (12,)).copy()

    by_metric = {m: of(m) for m in metrics.METRICS}
    empty = np.zeros(0)
    return evaluation.Evaluation(key, label, Family(family), structure, mode, repetition, by_metric, empty, empty,
                                 empty, parent=parent, model_run=model_run)


def baselines(values=0.0):
    return [evaluation_row("baselines/noisy_input", "Noisy input", "baseline", values=values),
            evaluation_row("baselines/adaptive_median", "Adaptive median", "baseline", values=values)]


@pytest.fixture
def small():
    """Baselines, two repetitions of a one-level parent and of its child, and a renoised row."""
    return baselines(0.5) + [
        evaluation_row("one_level/001", "one lvl parent", "parent", "one_level", None, 1, np.arange(12.0)),
        evaluation_row("one_level/002", "one lvl parent", "parent", "one_level", None, 2, 100 + np.arange(12.0)),
        evaluation_row("one_level/001/25/0001", f"one lvl {ARROW} 25", "child", "one_level", 0.25, 1, 1.0),
        evaluation_row("one_level/002/25/0001", f"one lvl {ARROW} 25", "child", "one_level", 0.25, 2, 2.0),
        evaluation_row("one_level/002/25/0001/renoised", f"one lvl {ARROW} 25 (renoised at eval)", "renoised",
                       "one_level", 0.25, 2, 3.0, model_run="one_level/002/25/0001"),
    ]


#: Each model's offset from a common base: the one-level child is 1 up on its parent, the
#: multiple-levels parent 5 below the one-level parent; spread between repetitions is 0.1.
OFFSETS = {"one lvl parent": 0.0, f"one lvl {ARROW} 25": 1.0,
           "multi lvl parent": -5.0, f"multi lvl {ARROW} Multi": -4.0,
           f"one lvl {ARROW} 25 (renoised at eval)": 0.5}


def repeated(repetitions=3, skip=()):
    """Baselines and every family with ``repetitions`` repetitions, values 20 + set + offset + noise."""
    rng = np.random.default_rng(2024)

    def values(offset):
        return lambda metric: 20 + np.arange(12.0) + offset + rng.normal(0, 0.1, 12)

    rows = baselines(values(-2.0))
    for rep in range(1, repetitions + 1):
        for structure, short, mode in (("one_level", "one lvl", 0.25), ("multiple_levels", "multi lvl", "multi")):
            parent = f"{structure}/{rep:03d}"
            child = f"{parent}/{noise.mode_name(mode)}/0001"
            child_label = f"{short} {ARROW} {noise.mode_name(mode)}"
            for key, label, family, m in ((parent, f"{short} parent", "parent", None),
                                          (child, child_label, "child", mode)):
                if key not in skip:
                    rows.append(evaluation_row(key, label, family, structure, m, rep, values(OFFSETS[label])))
            if structure == "one_level":
                label = f"{child_label} (renoised at eval)"
                rows.append(evaluation_row(f"{child}/renoised", label, "renoised", structure, mode, rep,
                                           values(OFFSETS[label]), model_run=child))
    return rows


@pytest.fixture
def summary():
    return tables.summary(repeated())


def cell_styles(html):
    """(row, column) -> CSS of every styled cell of a Styler's HTML."""
    found = {}
    for selectors, css in re.findall(r"([^{}]+)\{([^}]*)\}", html.split("</style>")[0]):
        for match in re.finditer(r"_row(\d+)_col(\d+)", selectors):
            found[(int(match[1]), int(match[2]))] = " ".join(css.split())
    return found


# -- the summary -----------------------------------------------------------------------------------


def test_the_summary_has_a_row_per_result_set_and_metric_in_the_documented_columns(small):
    table = tables.summary(small)
    assert list(table.columns) == tables.SUMMARY_COLUMNS
    assert len(table) == len(small) * len(metrics.METRICS) * 12
    assert set(table.loc[table["family"] == "baseline", "repetition"]) == {1}
    assert set(table.loc[table["family"] == "baseline", "parent"]) == {""}
    by_run = table.drop_duplicates("run").set_index("run")
    assert by_run.loc["one_level/001/25/0001", "parent"] == "one_level/001"
    assert by_run.loc["one_level/002/25/0001", "parent"] == "one_level/002"  # its own repetition's parent
    assert by_run.loc["one_level/002/25/0001/renoised", "parent"] == "one_level/002"
    assert by_run.loc["one_level/002", "parent"] == ""
    assert list(by_run["model_run"]) == ["", "", "one_level/001", "one_level/002", "one_level/001/25/0001",
                                         "one_level/002/25/0001", "one_level/002/25/0001"]  # re-noised: its child
    assert list(by_run["repetition"]) == [1, 1, 1, 2, 1, 2, 2]
    assert list(by_run["mode"]) == ["", "", "", "", "25", "25", "25"]
    assert list(by_run["family"]) == ["baseline", "baseline", "parent", "parent", "child", "child", "renoised"]
    assert by_run.loc["one_level/001", "structure"] == "one_level"
    assert by_run.loc["baselines/noisy_input", "structure"] == ""
    assert by_run.loc["one_level/002/25/0001/renoised", "level"] == 0.25
    assert np.isnan(by_run.loc["one_level/002", "level"]) and np.isnan(by_run.loc["baselines/noisy_input", "level"])
    # each value lands in its own set: the second parent's 30 % set holds its fourth value
    value = table[(table["run"] == "one_level/002") & (table["set"] == "30%") & (table["metric"] == "psnr")]["value"]
    assert list(value) == [103.0]


def test_representatives_are_each_labels_lowest_repetition_in_the_results_order(small):
    shown = tables.representatives(list(reversed(small)))
    assert [r.key for r in shown] == ["one_level/002/25/0001/renoised", "one_level/001/25/0001", "one_level/001",
                                      "baselines/adaptive_median", "baselines/noisy_input"]


# -- intervals, verdicts, structures ---------------------------------------------------------------


def test_intervals_are_scipys_t_intervals_over_the_repetitions(summary):
    spans = tables.intervals(summary)
    assert list(spans.columns) == tables.INTERVAL_COLUMNS
    assert list(dict.fromkeys(spans["label"])) == list(dict.fromkeys(summary["label"]))
    assert len(spans) == summary["label"].nunique() * 12 * len(metrics.METRICS)
    for (label, set_, metric), group in summary.groupby(["label", "set", "metric"]):
        row = spans[(spans["label"] == label) & (spans["set"] == set_) & (spans["metric"] == metric)].iloc[0]
        x = group["value"].to_numpy()
        assert row["n"] == len(x) and row["family"] == group["family"].iloc[0]
        assert row["mean"] == pytest.approx(x.mean(), rel=1e-12)
        if len(x) == 1:
            assert row["low"] == row["high"] == row["mean"] and np.isnan(row["sd"])
        else:
            low, high = stats.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=stats.sem(x))
            assert (row["low"], row["high"]) == pytest.approx((low, high), rel=1e-12)
            assert row["sd"] == pytest.approx(x.std(ddof=1), rel=1e-12)
    assert set(spans.loc[spans["family"] == "baseline", "n"]) == {1}
    assert set(spans.loc[spans["family"] != "baseline", "n"]) == {3}


def test_verdicts_pair_each_child_with_its_own_repetitions_parent():
    # parents 10, 20, 30 and children 11, 21.1, 30.9: +1 in every repetition, paired
    parents = [evaluation_row(f"one_level/00{r}", "one lvl parent", "parent", "one_level", None, r, 10.0 * r)
               for r in (1, 2, 3)]
    child_values = {1: 11.0, 2: 21.1, 3: 30.9}
    children = [evaluation_row(f"one_level/00{r}/25/0001", f"one lvl {ARROW} 25", "child", "one_level", 0.25, r,
                               child_values[r]) for r in (3, 1, 2)]  # listed out of order: pairing is by key
    judged = tables.verdicts(tables.summary(baselines() + parents + children))
    assert list(judged.columns) == tables.VERDICT_COLUMNS
    assert len(judged) == 12 * len(metrics.METRICS)
    assert set(judged["child"]) == {f"one lvl {ARROW} 25"} and set(judged["parent"]) == {"one lvl parent"}
    assert (set(judged["structure"]), set(judged["mode"]), set(judged["level"])) == ({"one_level"}, {"25"}, {0.25})
    differences = [1.0, 1.1, 0.9]
    low, high = stats.t.interval(0.95, 2, loc=1.0, scale=stats.sem(differences))
    psnr = judged[judged["metric"] == "psnr"]
    assert set(psnr["n"]) == {3}
    assert psnr["mean_difference"].to_numpy() == pytest.approx(np.full(12, 1.0))
    assert psnr["low"].to_numpy() == pytest.approx(np.full(12, low)) and low > 0
    assert psnr["high"].to_numpy() == pytest.approx(np.full(12, high))
    assert set(psnr["verdict"]) == {"better"}
    assert set(judged.loc[judged["metric"] == "mse", "verdict"]) == {"worse"}  # lower is better: +1 MSE is worse
    # the same numbers paired across repetitions, or not paired at all, would say nothing
    across = np.array([11.0, 21.1, 30.9]) - np.array([20.0, 30.0, 10.0])
    assert stats.t.interval(0.95, 2, loc=across.mean(), scale=stats.sem(across))[0] < 0
    unpaired = stats.ttest_ind([11.0, 21.1, 30.9], [10.0, 20.0, 30.0], equal_var=False).confidence_interval(0.95)
    assert unpaired.low < 0 < unpaired.high


def test_verdicts_leave_out_a_child_whose_parent_is_missing_from_n():
    parents = [evaluation_row(f"one_level/00{r}", "one lvl parent", "parent", "one_level", None, r, 10.0 * r)
               for r in (1, 2)]
    children = [evaluation_row(f"one_level/00{r}/25/0001", f"one lvl {ARROW} 25", "child", "one_level", 0.25, r,
                               10.0 * r + d) for r, d in ((1, 1.0), (2, 1.2), (3, 50.0))]
    judged = tables.verdicts(tables.summary(parents + children))
    assert set(judged["n"]) == {2}
    assert judged["mean_difference"].to_numpy() == pytest.approx(np.full(len(judged), 1.1))


def test_structures_compare_the_two_parents_by_welch_as_scipy_does(summary):
    compared = tables.structures(summary)
    assert len(compared) == 12 * len(metrics.METRICS)
    parents = summary[summary["family"] == "parent"]
    for (set_, metric), group in list(parents.groupby(["set", "metric"]))[::7]:
        a = group.loc[group["structure"] == "one_level", "value"].to_numpy()
        b = group.loc[group["structure"] == "multiple_levels", "value"].to_numpy()
        test = stats.ttest_ind(a, b, equal_var=False)
        ci = test.confidence_interval(0.95)
        row = compared[(compared["set"] == set_) & (compared["metric"] == metric)].iloc[0]
        assert (row["n_one_level"], row["n_multiple_levels"]) == (3, 3)
        assert (row["difference"], row["low"], row["high"], row["p_value"]) == pytest.approx(
            (a.mean() - b.mean(), ci.low, ci.high, test.pvalue), rel=1e-9)
    # the one-level parent is 5 up with spread 0.1: better on PSNR, worse on MSE (lower is better)
    assert set(compared.loc[compared["metric"] == "psnr", "verdict"]) == {"better"}
    assert set(compared.loc[compared["metric"] == "mse", "verdict"]) == {"worse"}


def test_structures_are_empty_when_only_one_structure_was_trained(small):
    compared = tables.structures(tables.summary(small))
    assert compared.empty and "p_value" in compared.columns


def test_counts_say_n_2_of_3_where_a_repetition_is_missing():
    table = tables.summary(repeated(skip={"multiple_levels/003/Multi/0001"}))
    present = tables.counts(table, planned=3)
    notes = {label: styles.sample_note(row) for label, row in present.iterrows()}
    assert notes == {"Noisy input": "n = 1", "Adaptive median": "n = 1", "one lvl parent": "n = 3",
                     f"one lvl {ARROW} 25": "n = 3", f"one lvl {ARROW} 25 (renoised at eval)": "n = 3",
                     "multi lvl parent": "n = 3", f"multi lvl {ARROW} Multi": "n = 2 of 3"}


# -- who wins ----------------------------------------------------------------------------------


def spans_of(rows, metric="psnr"):
    """An intervals table from (label, family, set, n, mean, low, high) rows."""
    return pd.DataFrame([(label, family, "one_level" if family != "baseline" else "", set_, metric, n, mean,
                          np.nan if n < 2 else 0.1, low, high) for label, family, set_, n, mean, low, high in rows],
                        columns=tables.INTERVAL_COLUMNS)


def test_the_report_tables_escape_their_labels():
    from html.parser import HTMLParser

    class Tags(HTMLParser):
        def __init__(self):
            super().__init__()
            self.tags, self.text = [], []

        def handle_starttag(self, tag, attrs):
            self.tags.append((tag, [name for name, _ in attrs]))

        def handle_data(self, data):
            self.text.append(data)

    label = "<script>alert(1)</script><b onclick=x>"
    spans = spans_of([(label, "parent", "0%", 3, 20.0, 19.5, 20.5), ("B", "child", "0%", 3, 18.0, 17.5, 18.5)])
    judged = pd.DataFrame([(label, "B", "0%", "psnr", 3, 1.0, 0.5, 1.5, "better")], columns=tables.VERDICT_COLUMNS[:9])
    for styler in (styles.metric_table(spans, "psnr", {label}), styles.verdict_grid(judged, "psnr"),
                   styles.verdict_table(judged, "psnr")):
        parsed = Tags()
        parsed.feed(styler.to_html())
        assert not [tag for tag, _ in parsed.tags if tag in ("script", "b")]
        assert not [name for _, names in parsed.tags for name in names if name.startswith("on")]
        assert any(label in text for text in parsed.text)  # shown as text


def test_a_winner_is_named_only_where_the_best_interval_clears_the_runner_up():
    spans = spans_of([
        ("A", "parent", "0%", 3, 20.0, 19.5, 20.5), ("B", "child", "0%", 3, 18.0, 17.5, 18.5),
        ("Adaptive median", "baseline", "0%", 1, 15.0, 15.0, 15.0),
        ("Noisy input", "baseline", "0%", 1, 99.0, 99.0, 99.0),
        ("A", "parent", "10%", 3, 20.0, 18.0, 22.0), ("B", "child", "10%", 3, 19.0, 17.5, 20.5),
        ("Adaptive median", "baseline", "10%", 1, 19.5, 19.5, 19.5),
        ("A", "parent", "20%", 1, 20.0, 20.0, 20.0), ("B", "child", "20%", 1, 18.0, 18.0, 18.0),
    ])
    won = tables.winners(spans, "psnr")
    assert list(won.index) == ["0%", "10%", "20%"]
    assert list(won["best model"]) == ["A", "A", "A"]  # baselines apart, even the better Noisy input
    assert list(won["runner-up"]) == ["B", "B", "B"]
    assert list(won["winner"]) == ["A", "none (intervals overlap)", "none (n = 1)"]  # single runs have no interval
    assert list(won["best vs Adaptive median"]) == ["better", "unclear", ""]
    assert won.loc["0%", "Adaptive median"] == "15" and won.loc["20%", "Adaptive median"] == ""
    assert won.loc["0%", "best"] == "20.00 ± 0.50 (n=3)" and won.loc["20%", "best"] == "20 (n=1)"


def test_a_winner_on_a_lower_is_better_metric_has_the_lowest_mean():
    spans = spans_of([("A", "parent", "0%", 3, 0.02, 0.018, 0.022), ("B", "child", "0%", 3, 0.01, 0.009, 0.011),
                      ("Adaptive median", "baseline", "0%", 1, 0.05, 0.05, 0.05)], metric="mse")
    won = tables.winners(spans, "mse")
    assert won.loc["0%", "winner"] == "B" and won.loc["0%", "runner-up"] == "A"
    assert won.loc["0%", "best vs Adaptive median"] == "better"
    flagged = tables.winners(spans, "mse", unconverged={"B"})
    assert flagged.loc["0%", "winner"] == flagged.loc["0%", "best model"] == "B †"
    assert flagged.loc["0%", "runner-up"] == "A"


def test_the_metric_table_bolds_a_best_only_where_its_interval_clears_the_runner_up():
    rows = []
    for k, set_ in enumerate(SETS):
        apart = k == 0
        rows += [("A", "parent", set_, 3, 20.0, 19.5, 20.5),
                 ("B", "child", set_, 3, 18.0 if apart else 19.8, 17.5 if apart else 19.0, 18.5 if apart else 20.6),
                 ("Adaptive median", "baseline", set_, 1, 10.0, 10.0, 10.0)]
    html = styles.metric_table(spans_of(rows), "psnr").to_html()
    bold = {cell for cell, css in cell_styles(html).items() if "bold" in css}
    assert bold == {(0, 0)}  # A on the 0 % set only
    assert "A (n=3)" in html and "Adaptive median (n=1)" in html
    assert "20.00 ± 0.50" in html and "10</td>" in html  # half-width of [19.5, 20.5]; a single value alone


def test_the_metric_table_bolds_the_lowest_mse_and_never_a_single_run():
    rows = [("A", "parent", "0%", 3, 0.02, 0.019, 0.021), ("B", "child", "0%", 3, 0.01, 0.009, 0.011),
            ("A", "parent", "10%", 1, 0.02, 0.02, 0.02), ("B", "child", "10%", 1, 0.01, 0.01, 0.01),
            ("Adaptive median", "baseline", "20%", 1, 0.005, 0.005, 0.005),
            ("B", "child", "20%", 3, 0.01, 0.009, 0.011)]
    styled = styles.metric_table(spans_of(rows, "mse"), "mse", unconverged={"A"})
    html = styled.to_html()
    bold = {cell for cell, css in cell_styles(html).items() if "bold" in css}
    assert bold == {(1, 0), (2, 2)}  # B on 0 %; the deterministic baseline beats B's interval on 20 %
    assert "A † (n=3)" in html


def test_the_verdict_table_colours_each_cell_by_its_verdict():
    verdicts = ["better", "worse"] + ["unclear"] * 10
    judged = pd.DataFrame([(f"one lvl {ARROW} 25", "one lvl parent", set_, "psnr", 3, d, d - 0.5, d + 0.5, v)
                           for set_, d, v in zip(SETS, [1.0, -1.0] + [0.1] * 10, verdicts)],
                          columns=tables.VERDICT_COLUMNS[:9])
    html = styles.verdict_table(judged, "psnr").to_html()
    colours = cell_styles(html)
    assert colours[(0, 0)] == f"background-color: {styles.VERDICT_COLOURS['better']};"
    assert colours[(0, 1)] == f"background-color: {styles.VERDICT_COLOURS['worse']};"
    assert {colours[(0, j)] for j in range(2, 12)} == {f"background-color: {styles.VERDICT_COLOURS['unclear']};"}
    assert "+1.00 ± 0.50" in html and "-1.00 ± 0.50" in html
    assert styles.verdict_counts(judged, "psnr") == [
        f"one lvl {ARROW} 25 vs one lvl parent (n = 3): better on 1, worse on 1, unclear on 10 of 12 sets"]
    assert styles.verdict_counts(judged, "psnr", {"one lvl parent"})[0].startswith(
        f"one lvl {ARROW} 25 vs one lvl parent † (n = 3)")
    assert f"one lvl {ARROW} 25 †" in styles.verdict_table(judged, "psnr", {f"one lvl {ARROW} 25"}).to_html()


def test_the_verdict_table_and_counts_agree_with_verdicts_from_the_summary(summary):
    judged = tables.verdicts(summary)
    lines = styles.verdict_counts(judged, "psnr")
    # the one-level child is 1 up, the multiple-levels child 1 up on its parent: better everywhere
    tally = "(n = 3): better on 12, worse on 0, unclear on 0 of 12 sets"
    assert lines == [f"one lvl {ARROW} 25 vs one lvl parent {tally}",
                     f"multi lvl {ARROW} Multi vs multi lvl parent {tally}"]
    colours = set(cell_styles(styles.verdict_table(judged, "mse").to_html()).values())
    assert colours == {f"background-color: {styles.VERDICT_COLOURS['worse']};"}


def test_the_structure_table_says_why_there_is_no_interval():
    compared = pd.DataFrame([("0%", "psnr", 3, 3, 5.0, 4.5, 5.5, 0.001, "better"),
                             ("10%", "psnr", 1, 3, 5.0, 5.0, 5.0, np.nan, "unclear"),
                             ("20%", "psnr", 3, 3, 0.0, 0.0, 0.0, np.nan, "unclear")],
                            columns=["set", "metric", "n_one_level", "n_multiple_levels", "difference", "low", "high",
                                     "p_value", "verdict"])
    html = styles.structure_table(compared, "psnr").to_html()
    assert ">+5.00 ± 0.50</td>" in html and ">+5 (n &lt; 2)</td>" in html and ">1 vs 3</td>" in html
    assert ">+0 (no spread)</td>" in html  # three identical values a side: an interval of no width, not n < 2
    colours = cell_styles(html)
    assert colours[(0, 3)] == f"background-color: {styles.VERDICT_COLOURS['better']};"
    assert colours[(1, 3)] == f"background-color: {styles.VERDICT_COLOURS['unclear']};"


def test_best_labels_and_confusion_choices_follow_the_mean_over_sets(summary):
    spans = tables.intervals(summary)
    assert tables.best_label(spans, "psnr", family="parent") == "one lvl parent"
    assert tables.best_label(spans, "mse", family="parent") == "multi lvl parent"  # lower is better
    assert tables.best_label(spans, "psnr", family="nonexistent") is None
    diverged = spans.copy()
    diverged.loc[(diverged["label"] == "one lvl parent") & (diverged["set"] == "50%"), "mean"] = np.nan
    assert tables.best_label(diverged, "psnr", family="parent") == "multi lvl parent"  # NaN on one set: out
    assert tables.confusion_choices(spans, "psnr") == ["Noisy input", "Adaptive median", f"one lvl {ARROW} 25",
                                                      f"multi lvl {ARROW} Multi"]


def test_the_confusion_rows_hold_each_chosen_labels_every_repetition():
    results = repeated()
    rows = tables.confusion_rows(results, tables.intervals(tables.summary(results)))
    assert [label for label, _ in rows] == ["Noisy input", "Adaptive median", f"one lvl {ARROW} 25",
                                            f"multi lvl {ARROW} Multi"]
    assert [len(predictions) for _, predictions in rows] == [1, 1, 3, 3]


def test_swept_names_structures_with_three_constant_levels():
    specs = [{"parent": None, "mode": None, "structure": "one_level"}]
    specs += [{"parent": "one_level/001", "mode": m, "structure": "one_level"} for m in (0.1, 0.25, 0.5, "mixed")]
    specs += [{"parent": "multiple_levels/001", "mode": m, "structure": "multiple_levels"}
              for m in (0.1, 0.25, "multi")]
    assert tables.swept(specs) == ["one_level"]


# -- training --------------------------------------------------------------------------------------


def test_convergence_marks_a_model_unconverged_where_any_repetition_hit_the_cap():
    specs = [{"key": f"one_level/00{r}", "label": "one lvl parent"} for r in (1, 2)]
    specs += [{"key": f"one_level/00{r}/25/0001", "label": f"one lvl {ARROW} 25"} for r in (1, 2)]
    records = {"one_level/001": {"loss": [3, 2, 1], "max_epochs": 10, "kept_epoch": 2, "stopped_early": True},
               "one_level/002": {"loss": [3, 2, 1, 1], "max_epochs": 10, "kept_epoch": 3, "stopped_early": True},
               "one_level/001/25/0001": {"loss": [1] * 10, "max_epochs": 10, "kept_epoch": 10, "stopped_early": False},
               "one_level/002/25/0001": {"loss": [1] * 5, "max_epochs": 10, "kept_epoch": 4, "stopped_early": True}}
    table = tables.convergence(specs, records)
    assert list(table.index) == ["one lvl parent", f"one lvl {ARROW} 25"]
    assert list(table["runs"]) == [2, 2] and list(table["at_plateau"]) == [2, 1]
    assert list(table["mean_kept_epoch"]) == [2.5, 7.0] and list(table["max_epochs"]) == [10, 10]
    assert list(table["training"]) == ["converged (early stopping)", "not converged (epoch cap)"]
    unconverged = tables.unconverged_labels(table)
    assert unconverged == {f"one lvl {ARROW} 25"}
    assert [tables.flag(label, unconverged) for label in ("one lvl parent", f"one lvl {ARROW} 25")] == [
        "one lvl parent", f"one lvl {ARROW} 25 †"]


def test_histories_read_each_runs_history_file(tmp_path):
    from renoise import atomic

    atomic.write_json(tmp_path / "runs/x/one_level/001/history.json", {"loss": [1.0], "stopped_early": True})
    records = tables.histories([{"key": "one_level/001", "run_dir": "runs/x/one_level/001"}], tmp_path)
    assert records == {"one_level/001": {"loss": [1.0], "stopped_early": True}}


def test_the_training_table_shows_threshold_schedule_and_learning_rate_from_the_histories():
    plateau = {"schedule": "plateau", "lr_factor": 0.5, "lr_patience": 2, "min_lr": 1e-5}
    specs = [{"key": f"one_level/00{r}", "label": "one lvl parent"} for r in (1, 2)]
    specs += [{"key": "multiple_levels/001", "label": "multi lvl parent"}]
    records = {"one_level/001": {"loss": [3, 2, 1], "max_epochs": 10, "kept_epoch": 2, "stopped_early": True,
                                 "min_delta": 0.002, "schedule": plateau, "learning_rate": [1e-3, 1e-3, 5e-4]},
               "one_level/002": {"loss": [3, 2, 1, 1], "max_epochs": 10, "kept_epoch": 3, "stopped_early": True,
                                 "min_delta": 0.002, "schedule": plateau,
                                 "learning_rate": [1e-3, 1e-3, 5e-4, 2.5e-4]},
               "multiple_levels/001": {"loss": [1, 1], "max_epochs": 2, "kept_epoch": 2, "stopped_early": False,
                                       "min_delta": 0.03, "schedule": {"schedule": "constant"},
                                       "learning_rate": [3e-3, 3e-3], "epochs_per_pass": 4, "steps_per_epoch": 44}}
    trained = tables.convergence(specs, records)
    shown = tables.training_table(trained, tables.unconverged_labels(trained))
    assert list(shown.index) == ["one lvl parent", "multi lvl parent †"]
    assert list(shown["repetitions at their plateau"]) == ["2 of 2", "0 of 1"]
    assert list(shown["kept epoch (mean)"]) == ["2.5", "2.0"] and list(shown["epoch cap"]) == [10, 2]
    assert list(shown["better by at least"]) == ["0.2 %", "3 %"]
    assert list(shown["an epoch"]) == ["1 pass", "1/4 pass (44 steps)"]  # histories before the split say nothing
    assert list(shown["schedule"]) == ["plateau: × 0.5 after 2 epochs, ≥ 1e-05", "constant"]
    # the first epoch's rate, then the last epoch's over the repetitions: 2.5e-4 in one, 5e-4 in the other
    assert list(shown["learning rate (first → last epoch)"]) == ["0.001 → 0.00025 to 0.0005", "0.003 → 0.003"]


def test_histories_take_a_constant_rate_from_the_runs_parameters(tmp_path):
    from renoise import atomic

    folder = tmp_path / "runs/x/one_level/001"
    atomic.write_json(folder / "history.json", {"loss": [1.0, 0.5], "schedule": {"schedule": "constant"}})
    atomic.write_json(folder / "parameters.json", {"learning_rate": 0.003})
    records = tables.histories([{"key": "one_level/001", "run_dir": "runs/x/one_level/001"}], tmp_path)
    assert records["one_level/001"]["learning_rate"] == [0.003, 0.003]


# -- the CSV files against the independent checker ---------------------------------------------------


def run_checker(folder):
    if not CHECKER.is_file():
        pytest.skip(f"the independent checker is not at {CHECKER}")
    return subprocess.run([sys.executable, str(CHECKER), str(folder)], capture_output=True, text=True, timeout=120)


def test_the_csv_files_pass_the_independent_checker_and_a_corrupted_one_fails(tmp_path, summary):
    # a few sets and metrics keep the checker (quadratic in rows) fast; every family is there
    summary = summary[summary["set"].isin(["0%", "50%", "Mixed"]) & summary["metric"].isin(["psnr", "mse", "ssim"])]
    for name, table in (("summary", summary), ("intervals", tables.intervals(summary)),
                        ("verdicts", tables.verdicts(summary)), ("structures", tables.structures(summary))):
        tables.write_csv(table, tmp_path / f"{name}.csv")
    assert pd.read_csv(tmp_path / "summary.csv").shape == summary.shape
    done = run_checker(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 problems" in done.stdout and "repetitions per model 3-3" in done.stdout

    spans = pd.read_csv(tmp_path / "intervals.csv")
    row = spans.index[(spans["label"] == f"one lvl {ARROW} 25") & (spans["set"] == "50%") & (spans["metric"] == "ssim")]
    spans.loc[row, "high"] += 0.05
    tables.write_csv(spans, tmp_path / "intervals.csv")
    done = run_checker(tmp_path)
    assert done.returncode == 1
    assert f"FAIL interval one lvl {ARROW} 25 / 50% / ssim" in done.stdout


@pytest.mark.parametrize("mean, low, high, expected", [
    (17.56, 17.03, 18.09, "17.56 ± 0.53"),         # half-width 0.53: two decimals
    (0.02012, 0.0178, 0.0224, "0.0201 ± 0.0023"),   # the five-digit example, cut to its interval
    (3.14159, 3.04199, 3.24119, "3.14 ± 0.10"),     # 0.0996 rounds up to 0.10: two digits, not 0.100
    (1234.5, 704.5, 1764.5, "1230 ± 530"),          # a half-width over 100: the mean to the tens
    (5.0, 5.0, 5.0, "5"),                           # no interval (one run, a baseline): three digits
    (float("nan"), float("nan"), float("nan"), "diverged"),
])
def test_estimate_rounds_a_mean_to_its_interval(mean, low, high, expected):
    assert tables.estimate(mean, low, high) == expected


def test_estimate_signs_a_difference():
    assert tables.estimate(1.0, 0.5, 1.5, signed=True) == "+1.00 ± 0.50"
    assert tables.estimate(-0.031, -0.052, -0.010, signed=True) == "-0.031 ± 0.021"


def test_a_csv_link_downloads_the_table_at_full_precision():
    import base64
    import io

    table = pd.DataFrame({"label": ["a & b"], "mean": [0.1234567890123]})
    link = tables.csv_link(table, "intervals.csv")
    found = re.fullmatch(r'<a download="intervals.csv" href="data:text/csv;base64,([A-Za-z0-9+/=]+)">intervals.csv</a>', link)
    back = pd.read_csv(io.StringIO(base64.b64decode(found[1]).decode()))
    assert back["label"].tolist() == ["a & b"] and back["mean"].tolist() == [0.1234567890123]


def test_a_child_is_paired_with_the_parent_its_row_names_whatever_its_key_and_label_say():
    parents = [evaluation_row(f"p{r}", "P", "parent", "one_level", None, r, 10.0 * r) for r in (1, 2)]
    children = [evaluation_row(f"c{r}", "one lvl parent", "child", "multiple_levels", 0.5, r, 10.0 * r + 1,
                               parent=f"p{r}") for r in (1, 2)]
    judged = tables.verdicts(tables.summary(parents + children))
    psnr = judged[judged["metric"] == "psnr"]
    assert psnr["mean_difference"].to_numpy() == pytest.approx(np.full(12, 1.0)) and set(psnr["n"]) == {2}
    assert set(psnr["parent"]) == {"P"} and set(psnr["structure"]) == {"multiple_levels"}
    assert set(psnr["level"]) == {0.5} and set(psnr["mode"]) == {"50"}
