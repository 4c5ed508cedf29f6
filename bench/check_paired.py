"""Checks a comparison's paired.csv against scipy, from its values.csv alone (no renoise imports).

usage: .venv/bin/python bench/check_paired.py storage/compare/NAME      (after `renoise compare`)
values.csv holds every value compared (side, run, seed, label, family, set, metric, value); paired.csv
one row per (a, b, label, set, metric) with n, mean (of b - a), low, high, verdict and test. A
``paired`` row must pair a's and b's runs of one key with one seed (scipy's ttest_rel); a ``welch``
row is Welch's interval (ttest_ind, equal_var=False). Last line: the figures; exit 1 on a mismatch.
"""
import sys
import warnings
from pathlib import Path

import pandas as pd
from scipy import stats

HIGHER = {"pixel_accuracy", "classifier_accuracy", "ssim", "psnr"}


def interval(kind, a, b):
    """(n, mean, low, high) of b - a: paired by run (``a``, ``b`` indexed by run) or Welch's."""
    if kind == "paired":
        d = (b - a).dropna()  # a diverged repetition (NaN) leaves its pair out
        if len(d) < 2 or d.std() == 0:
            return len(d), d.mean(), d.mean(), d.mean()
        low, high = stats.ttest_rel(b.loc[d.index], a.loc[d.index]).confidence_interval(0.95)
        return len(d), d.mean(), low, high
    a, b = a.dropna().to_numpy(), b.dropna().to_numpy()
    mean = b.mean() - a.mean()
    if min(len(a), len(b)) < 2 or (a.std() == 0 and b.std() == 0):
        return min(len(a), len(b)), mean, mean, mean
    low, high = stats.ttest_ind(b, a, equal_var=False).confidence_interval(0.95)
    return min(len(a), len(b)), mean, low, high


def main(folder: Path) -> int:
    warnings.simplefilter("ignore", RuntimeWarning)  # nearly equal values: scipy warns of precision loss
    values = pd.read_csv(folder / "values.csv", dtype={"side": str, "run": str})  # a diverged run's NaN: empty
    table = pd.read_csv(folder / "paired.csv", dtype={"a": str, "b": str})
    groups = {key: g.set_index("run") for key, g in values.groupby(["side", "label", "set", "metric"])}
    fails, worst = [], 0.0
    for row in table.itertuples():
        a, b = groups[(row.a, row.label, row.set, row.metric)], groups[(row.b, row.label, row.set, row.metric)]
        if row.test == "paired":
            common = a.index.intersection(b.index)
            if (a.loc[common, "seed"] != b.loc[common, "seed"]).any():
                fails.append(f"{row.b} - {row.a} / {row.label}: paired, but the seeds of a run key differ")
            a, b = a.loc[common], b.loc[common]
        n, mean, low, high = interval(row.test, a["value"], b["value"])
        scale = max(1e-9, abs(mean), abs(high - low))
        err = max(abs(row.mean - mean), abs(row.low - low), abs(row.high - high)) / scale
        worst = max(worst, err)
        sign = 1 if row.metric in HIGHER else -1
        expect = "unclear" if low == high else "better" if sign * low > 0 and sign * high > 0 \
            else "worse" if sign * low < 0 and sign * high < 0 else "unclear"
        if row.n != n or err > 1e-6 or row.verdict != expect:
            fails.append(f"{row.b} - {row.a} / {row.label} / {row.set} / {row.metric}: got n={row.n} "
                         f"[{row.low:.6g}, {row.high:.6g}] {row.verdict}, scipy n={n} [{low:.6g}, {high:.6g}] {expect}")
    for fail in fails[:15]:
        print("FAIL", fail)
    tests, verdicts = (table[column].value_counts().astype(int).to_dict() for column in ("test", "verdict"))
    print(f"{len(table)} differences checked against scipy ({tests}, worst rel. error {worst:.1e}); "
          f"verdicts {verdicts}; {len(fails)} problems")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
