"""The Findings sentences against hand-made tables: every number in them is counted here by hand."""

import math
import re

import pandas as pd

from renoise.report import findings, tables

SETS = ["0%", "50%", "Mixed"]


def _verdicts():
    rows = []
    for child, verdicts in (("A", ["better", "worse", "unclear"]), ("B", ["unclear", "unclear", "better"])):
        for set_, v in zip(SETS, verdicts):
            rows.append((child, "P", set_, "psnr", 3, 1.0 if v == "better" else -1.0 if v == "worse" else 0.1,
                         0.0, 0.0, v))
    return pd.DataFrame(rows, columns=tables.VERDICT_COLUMNS[:9])


def _spans(best_psnr):
    """Intervals: parent P and child A (n = 3), the adaptive median (n = 1); ``best_psnr`` gives A's
    (mean, low, high) per set."""
    rows = []
    for set_, (mean, low, high) in zip(SETS, best_psnr):
        rows.append(("A", "child", "one_level", set_, "psnr", 3, mean, 0.1, low, high))
        rows.append(("P", "parent", "one_level", set_, "psnr", 3, 13.0, 0.1, 12.0, 14.0))
        rows.append((findings.REFERENCE, "baseline", "", set_, "psnr", 1, 20.0, 0.0, 20.0, 20.0))
    return pd.DataFrame(rows, columns=tables.INTERVAL_COLUMNS)


def test_children_against_parents_counts_the_verdicts():
    sentence = findings.children_against_parents(_verdicts(), "psnr")
    assert "of 6 paired comparisons (2 children × 3 sets, n = 3), 2 better, 1 worse, 3 unclear" in sentence
    assert "`verdicts.csv`" in sentence


def test_best_model_is_better_than_the_reference_only_where_its_whole_interval_is():
    # A is above 20 dB wholly at 0 %, across it at 50 %, wholly below at Mixed.
    spans = _spans([(25.0, 24.0, 26.0), (20.5, 19.0, 22.0), (18.0, 17.0, 19.0)])
    sentence = findings.best_against_reference(spans, "psnr")
    assert sentence.startswith("**Best model against the adaptive median, PSNR (dB):** A (n = 3)")
    assert "better on 1, worse on 1 and unclear on 1 of 3 sets" in sentence


def test_a_diverged_model_is_named_and_never_the_best():
    spans = _spans([(25.0, 24.0, 26.0), (math.nan, math.nan, math.nan), (18.0, 17.0, 19.0)])
    assert findings.diverged(spans).startswith("**Diverged:** A:")
    assert "P (n = 3)" in findings.best_against_reference(spans, "psnr")  # A's NaN set takes it out of the ranking


def test_structures_and_convergence_sentences():
    compared = pd.DataFrame({"set": SETS, "metric": "psnr", "n_one_level": 3, "n_multiple_levels": 2,
                             "difference": [1.0, 0.0, -1.0], "low": 0.0, "high": 0.0, "p_value": 0.5,
                             "verdict": ["better", "unclear", "unclear"]})
    sentence = findings.one_structure_against_the_other(compared, "psnr")
    assert "1 better, 0 worse, 2 unclear on the 3 sets (Welch, n = 3 vs 2; `structures.csv`)" in sentence
    trained = pd.DataFrame({"converged": [True, False]}, index=["P", "A"])
    assert findings.convergence(trained).startswith("**Training:** 1 of 2 models reached their epoch cap")
    assert "all 1 models ended at their plateau" in findings.convergence(trained.iloc[:1])


def test_findings_skip_what_an_experiment_lacks():
    sentences = findings.findings(_verdicts(), pd.DataFrame(columns=["metric"]), _spans([(25.0, 24.0, 26.0)] * 3),
                                  pd.DataFrame({"converged": [True]}, index=["A"]))
    assert not any("One level against" in s for s in sentences)
    assert [int(n) for n in re.findall(r"of (\d+) paired", sentences[0])] == [6]


def test_a_comparisons_findings_count_each_sides_verdicts():
    """Two sides B against A: per side, the differences of one metric counted by verdict; a
    diverged difference (NaN) is left out of the count."""
    cells = [(label, set_) for label in ("P", "C") for set_ in SETS]
    conv = [("better", 1.0)] * 3 + [("worse", -1.0), ("unclear", 0.1), ("unclear", math.nan)]
    residual = [("better", 2.0)] * 6
    rows = [("dense", b, label, set_, "psnr", 3, mean, verdict, "paired")
            for b, verdicts in (("conv", conv), ("residual", residual))
            for (label, set_), (verdict, mean) in zip(cells, verdicts)]
    paired = pd.DataFrame(rows, columns=["a", "b", "label", "set", "metric", "n", "mean", "verdict", "test"])
    conv_sentence, residual_sentence = findings.sides_against_reference(paired, "psnr")
    assert conv_sentence == ("**`conv` against `dense`, PSNR (dB):** of 5 differences B − A (2 models × 3 sets, paired, n = 3), "
                    "B is 3 better, 1 worse, 1 unclear (`paired.csv`).")
    assert residual_sentence.startswith("**`residual` against `dense`, PSNR (dB):** of 6 differences")
    assert "6 better, 0 worse" in residual_sentence
    assert findings.sides_against_reference(paired, "ssim") == []
