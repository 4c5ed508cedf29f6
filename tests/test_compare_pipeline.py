"""``renoise compare`` end to end through papermill: a tiny grid of two points, run once, compared;
its paired.csv recomputed with scipy's ttest_rel from the two points' own summary.csv files."""

import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from conftest import ROOT, copy_project
from test_pipeline import TINY_HEAD, renoise

pytestmark = pytest.mark.pipeline

#: The smallest experiment that has repetitions to pair: one parent, twice; no t-SNE maps.
TINY = TINY_HEAD + """\
structures:
  one_level: {epochs: 1}
compare: {tsne_sets: [], grid_digits: 4}
"""
GRID = "structures.one_level.epochs=1,2"
POINTS = ["structures.one_level.epochs=1", "structures.one_level.epochs=2"]
NAME = f"tiny+{GRID}"


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    project = copy_project(tmp_path_factory.mktemp("compared"))
    (project / "experiments" / "tiny.yaml").write_text(TINY)
    ran = renoise("report", "tiny", "--grid", GRID, "--workers", "1", cwd=project)
    assert ran.returncode == 0, ran.stderr[-3000:]
    result = subprocess.run([sys.executable, "-m", "renoise", "compare", "tiny", "--grid", GRID], cwd=project,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return project, ran, result


def test_the_grid_shares_its_data_and_classifier(compared):
    _, ran, _ = compared
    # data, classifier, two parents per point, a comparison per point: the shared runs once
    assert "renoise: 8 runs executed, 0 up to date" in ran.stdout


def test_paired_csv_recomputes_with_scipy_from_the_points_summaries(compared):
    project, _, result = compared
    table = pd.read_csv(project / "storage/compare" / NAME / "paired.csv")
    assert f"renoise: wrote storage/compare/{NAME}/paired.csv" in result.stdout
    assert set(table["test"]) == {"paired"} and set(table["label"]) == {"one lvl parent"}
    assert (set(table["a"]), set(table["b"])) == ({POINTS[0]}, {POINTS[1]})
    a, b = (pd.read_csv(project / "storage/tiny" / point / "summary.csv") for point in POINTS)
    merged = a[a["family"] == "parent"].merge(b, on=["run", "set", "metric"], suffixes=("_a", "_b"))
    assert len(table) == 12 * 9 == len(merged) / 2
    higher = {"pixel_accuracy", "classifier_accuracy", "ssim", "psnr"}
    for (set_, metric), pairs in merged.groupby(["set", "metric"]):
        got = table[(table["set"] == set_) & (table["metric"] == metric)].iloc[0]
        difference = pairs["value_b"] - pairs["value_a"]
        if difference.std() > 0:
            low, high = stats.ttest_rel(pairs["value_b"], pairs["value_a"]).confidence_interval(0.95)
        else:
            low = high = difference.mean()
        assert got["n"] == 2 and got["mean"] == pytest.approx(difference.mean(), rel=1e-9, abs=1e-12)
        assert np.allclose([got["low"], got["high"]], [low, high], rtol=1e-9, atol=1e-12)
        sign = 1 if metric in higher else -1
        expect = "better" if sign * low > 0 and sign * high > 0 else "worse" if sign * low < 0 and sign * high < 0 \
            else "unclear"
        assert got["verdict"] == expect


def test_both_reports_show_the_pairing_tables_and_the_chart_against_the_swept_value(compared):
    project, _, _ = compared
    folder = project / "reports/compare" / NAME
    with_code, no_code = (folder / "comparison.html").read_text(), (folder / "no_code/comparison.html").read_text()
    paired = pd.read_csv(project / "storage/compare" / NAME / "paired.csv")
    for html in (with_code, no_code):
        headings = re.findall(r"<h[1-3][^>]*>(.*?)<a", html)
        assert headings.index("Findings") == 1  # first, after the title
        for section in ("How the pairs were formed", "Where B beats A", "Against the swept value", "Every difference"):
            assert section in headings, section
        for metric in ("psnr", "ssim"):
            counts = paired[paired["metric"] == metric]["verdict"].value_counts()
            assert (f"B is {counts.get('better', 0)} better, {counts.get('worse', 0)} worse, "
                    f"{counts.get('unclear', 0)} unclear") in html
        assert "same data, and the same seed for each of the 2 run keys they share" in html
        assert len(re.findall(r"<img ", html)) == 1  # PSNR, SSIM and accuracy against the epochs
        assert f"runs/compare/{NAME}/paired.ipynb" in html
    code_cell = '<div class="jp-CodeMirrorEditor jp-Editor jp-InputArea-editor"'
    assert code_cell in with_code and code_cell not in no_code and "import " not in no_code


def test_the_independent_checker_recomputes_paired_csv_from_values_csv(compared):
    project, _, _ = compared
    checked = subprocess.run([sys.executable, str(ROOT / "bench/check_paired.py"), f"storage/compare/{NAME}"],
                             cwd=project, capture_output=True, text=True, timeout=120)
    assert checked.returncode == 0 and checked.stdout.startswith("108 differences checked"), checked.stdout
