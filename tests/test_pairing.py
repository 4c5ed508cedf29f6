"""Comparisons across experiments: B − A paired by run key against scipy's ttest_rel, Welch's
fallback against ttest_ind where seeds or data differ, and the bad inputs of ``renoise compare``."""

import importlib.util
import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from renoise import cli
from renoise.report import pairing
from renoise.errors import ConfigError
from renoise.report.tables import SUMMARY_COLUMNS

from conftest import ROOT

RUNS = ["one_level/001", "one_level/002", "one_level/003"]
#: Hand-made PSNR (dB) and MSE of three repetitions of one parent on two sets, for A and for B.
A = {"psnr": {"0%": [18.0, 18.5, 17.9], "Mixed": [15.0, 15.4, 14.8]}, "mse": {"0%": [0.030, 0.028, 0.031],
                                                                              "Mixed": [0.050, 0.047, 0.052]}}
B = {"psnr": {"0%": [19.1, 19.4, 19.2], "Mixed": [15.1, 15.2, 15.3]}, "mse": {"0%": [0.025, 0.024, 0.026],
                                                                              "Mixed": [0.049, 0.050, 0.048]}}


def make_side(root, name, table, *, label="one lvl parent", seed=0, data=b"digits"):
    """A finished experiment as ``renoise compare`` reads it: ``summary.csv`` (with a baseline
    row, which is never compared), the compare run's parameters, each run's seed and the data."""
    rows = [("baselines/median_3x3", "Median 3x3", "baseline", "", "", "", 1, "", "", "0%", "psnr", 17.0)]
    for metric, sets in table.items():
        for set_, values in sets.items():
            rows += [(run, label, "parent", "one_level", "", "", i + 1, "", run, set_, metric, v)
                     for i, (run, v) in enumerate(zip(RUNS, values))]
    storage = root / "storage" / name
    storage.mkdir(parents=True)
    pd.DataFrame(rows, columns=SUMMARY_COLUMNS).to_csv(storage / "summary.csv", index=False)
    (storage / "data").mkdir()
    (storage / "data" / "test.npz").write_bytes(data)
    models = []
    for i, run in enumerate(RUNS):
        run_dir = root / "runs" / name / run
        run_dir.mkdir(parents=True)
        (run_dir / "parameters.json").write_text(json.dumps({"seed": seed * 100 + i}))
        models.append({"key": run, "run_dir": f"runs/{name}/{run}"})
    compare = root / "runs" / name / "compare"
    compare.mkdir(parents=True)
    (compare / "parameters.json").write_text(json.dumps({"models": models, "data_dir": f"storage/{name}/data"}))
    return pairing.Side(name, f"storage/{name}", f"runs/{name}/compare")


def row(table, metric, set_):
    (found,) = table[(table["metric"] == metric) & (table["set"] == set_)].itertuples()
    return found


@pytest.mark.parametrize("metric, set_", [("psnr", "0%"), ("psnr", "Mixed"), ("mse", "0%"), ("mse", "Mixed")])
def test_same_seeds_and_data_pair_by_run_key_as_scipy_ttest_rel(tmp_path, metric, set_):
    sides = [make_side(tmp_path, "a", A), make_side(tmp_path, "b", B)]
    result = pairing.compare(tmp_path, sides)
    assert result.pairing["b"][0] is pairing.Test.PAIRED
    assert list(result.paired.columns) == pairing.PAIRED_COLUMNS
    assert set(result.paired["label"]) == {"one lvl parent"}  # the baseline is left out
    got = row(result.paired, metric, set_)
    a, b = np.array(A[metric][set_]), np.array(B[metric][set_])
    low, high = stats.ttest_rel(b, a).confidence_interval(0.95)
    assert (got.a, got.b, got.n, got.test) == ("a", "b", 3, "paired")
    assert got.mean == pytest.approx((b - a).mean(), rel=1e-12)
    assert (got.low, got.high) == (pytest.approx(low, rel=1e-9), pytest.approx(high, rel=1e-9))


def test_the_verdicts_follow_each_metrics_direction(tmp_path):
    """By hand: B's PSNR at 0 % is 1.1, 0.9, 1.3 dB higher (better), its MSE at 0 % lower (better);
    at Mixed the PSNR differences 0.1, -0.2, 0.5 straddle 0 (unclear)."""
    result = pairing.compare(tmp_path, [make_side(tmp_path, "a", A), make_side(tmp_path, "b", B)])
    assert row(result.paired, "psnr", "0%").verdict == "better"
    assert row(result.paired, "mse", "0%").verdict == "better"
    assert row(result.paired, "psnr", "Mixed").verdict == "unclear"
    swapped = pairing.compare(tmp_path, [pairing.Side("b", "storage/b", "runs/b/compare"),
                                         pairing.Side("a", "storage/a", "runs/a/compare")])
    assert row(swapped.paired, "psnr", "0%").verdict == "worse"
    assert row(swapped.paired, "psnr", "0%").mean == pytest.approx(-row(result.paired, "psnr", "0%").mean)


@pytest.mark.parametrize("change, reason", [({"seed": 1}, "their seeds differ"),
                                            ({"data": b"other"}, "their data differ")])
def test_other_seeds_or_data_fall_back_to_welch_as_scipy_ttest_ind(tmp_path, change, reason):
    result = pairing.compare(tmp_path, [make_side(tmp_path, "a", A), make_side(tmp_path, "b", B, **change)])
    test, why = result.pairing["b"]
    assert test is pairing.Test.WELCH and why.startswith(reason)
    got = row(result.paired, "psnr", "0%")
    a, b = np.array(A["psnr"]["0%"]), np.array(B["psnr"]["0%"])
    low, high = stats.ttest_ind(b, a, equal_var=False).confidence_interval(0.95)
    assert got.test == "welch" and got.mean == pytest.approx(b.mean() - a.mean(), rel=1e-12)
    assert (got.low, got.high) == (pytest.approx(low, rel=1e-9), pytest.approx(high, rel=1e-9))


def test_values_and_paired_csv_recompute_from_the_csv_files_alone(tmp_path):
    result = pairing.compare(tmp_path, [make_side(tmp_path, "a", A), make_side(tmp_path, "b", B)])
    pairing.write(result, tmp_path / "out")
    values = pd.read_csv(tmp_path / "out" / "values.csv")
    table = pd.read_csv(tmp_path / "out" / "paired.csv")
    assert list(values.columns) == pairing.VALUE_COLUMNS and list(table.columns) == pairing.PAIRED_COLUMNS
    assert sorted(values.loc[values["side"] == "a", "seed"].unique()) == [0, 1, 2]
    wide = values.pivot_table(index=["set", "metric", "run"], columns="side", values="value")
    for (set_, metric), group in wide.groupby(level=["set", "metric"]):
        low, high = stats.ttest_rel(group["b"], group["a"]).confidence_interval(0.95)
        got = row(table, metric, set_)
        assert (got.low, got.high) == (pytest.approx(low, rel=1e-9), pytest.approx(high, rel=1e-9))


def test_a_renoised_row_has_the_seed_of_the_run_its_model_run_names_whatever_its_key(tmp_path):
    """The re-noised row's key is not parsed for its child: ``model_run`` says which run trained it."""
    side = make_side(tmp_path, "a", A)
    child, child_dir = "one_level/001/25/0001", tmp_path / "runs" / "a" / "one_level/001/25/0001"
    child_dir.mkdir(parents=True)
    (child_dir / "parameters.json").write_text(json.dumps({"seed": 77}))
    compare = tmp_path / "runs" / "a" / "compare" / "parameters.json"
    parameters = json.loads(compare.read_text())
    parameters["models"].append({"key": child, "run_dir": f"runs/a/{child}"})
    compare.write_text(json.dumps(parameters))
    summary = pd.read_csv(tmp_path / "storage" / "a" / "summary.csv")
    rows = [(child, "one lvl \u2192 25", "child", "one_level", "25", 0.25, 1, "one_level/001", child, "0%", "psnr", 18.2),
            (f"{child}/renoised/Mixed", "one lvl \u2192 25 (renoised at eval)", "renoised", "one_level", "25", 0.25, 1,
             "one_level/001", child, "0%", "psnr", 17.9)]
    pd.concat([summary, pd.DataFrame(rows, columns=SUMMARY_COLUMNS)]).to_csv(tmp_path / "storage" / "a" / "summary.csv",
                                                                             index=False)
    seeds = pairing.read_values(tmp_path, side).drop_duplicates("run").set_index("run")["seed"]
    assert seeds[f"{child}/renoised/Mixed"] == seeds[child] == 77
    assert seeds["one_level/002"] == 1


def checker():
    """The independent checker, ``bench/check_paired.py`` (pandas and scipy only)."""
    spec = importlib.util.spec_from_file_location("check_paired", ROOT / "bench" / "check_paired.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


#: A with a diverged third repetition (NaN) of the MSE at Mixed: its pair is left out (n = 2).
DIVERGED = {**A, "mse": {**A["mse"], "Mixed": [0.050, 0.047, float("nan")]}}


@pytest.mark.parametrize("change", [{}, {"seed": 1}])
def test_the_checker_passes_paired_and_welch_tables_and_catches_a_changed_interval(tmp_path, capsys, change):
    result = pairing.compare(tmp_path, [make_side(tmp_path, "a", DIVERGED), make_side(tmp_path, "b", B, **change)])
    assert row(result.paired, "mse", "Mixed").n == 2
    pairing.write(result, tmp_path / "out")
    assert checker().main(tmp_path / "out") == 0
    assert capsys.readouterr().out.endswith("; 0 problems\n")
    table = pd.read_csv(tmp_path / "out" / "paired.csv")
    table.loc[0, "high"] += 0.01
    table.to_csv(tmp_path / "out" / "paired.csv", index=False)
    assert checker().main(tmp_path / "out") == 1
    assert "; 1 problems" in capsys.readouterr().out


def test_sides_sharing_no_model_label_given_twice_or_alone_are_refused(tmp_path):
    a, other = make_side(tmp_path, "a", A), make_side(tmp_path, "b", B, label="multi lvl parent")
    with pytest.raises(ConfigError, match=r"^'a' and 'b' share no model label: nothing to compare$"):
        pairing.compare(tmp_path, [a, other])
    with pytest.raises(ConfigError, match="'a' is given twice"):
        pairing.compare(tmp_path, [a, a])
    with pytest.raises(ConfigError, match="at least two experiments"):
        pairing.compare(tmp_path, [a])
    with pytest.raises(ConfigError, match=r"storage/c/summary.csv: not found; run the report of 'c' first"):
        pairing.compare(tmp_path, [a, pairing.Side("c", "storage/c", "runs/c/compare")])


def test_a_numeric_swept_key_is_found_and_a_categorical_one_is_not():
    sides = [pairing.Side(f"p{i}", "", "", {"structures.one_level.epochs": e, "autoencoder.architecture": arch})
             for i, (e, arch) in enumerate([(1, "dense"), (2, "dense"), (1, "conv")])]
    assert pairing.numeric_keys(sides) == ["structures.one_level.epochs"]
    assert pairing.numeric_keys([pairing.Side("x", "", "", {"compare.shared_map": v}) for v in (True, False)]) == []


@pytest.mark.parametrize("argv, message", [
    (["compare", "a", "b"], "renoise: error: 'a' and 'b' share no model label: nothing to compare"),
    (["compare", "a"], "renoise: error: compare: give at least two experiments, or one experiment with a --grid "
                       "of two points or more"),
    (["compare", "a", "a"], "renoise: error: compare: 'a' is given twice"),
    (["compare", "a", "--set", "seed=1"], "renoise: error: compare: give at least two experiments, or one experiment "
                                          "with a --grid of two points or more"),
    (["compare", "a", "b", "--grid", "seed=1,2"], "renoise: error: compare: --set and --grid take one experiment, "
                                                  "whose grid points are compared"),
    (["compare", "a", "b", "--name", "x/y"], "renoise: error: compare --name: 'x/y' is not a safe folder name; "
                                             "try 'x_y'"),
])
def test_bad_comparisons_are_one_line_and_exit_1(project, monkeypatch, capsys, argv, message):
    for name, structure in (("a", "one_level"), ("b", "multiple_levels")):
        (project / "experiments" / f"{name}.yaml").write_text(f"structures: {{{structure}: {{epochs: 1}}}}\n")
    make_side(project, "a", A)
    make_side(project, "b", B, label="multi lvl parent")
    monkeypatch.chdir(project)
    monkeypatch.setattr(cli, "_check_complete", lambda *args: None)  # the sides are hand-made, not run
    assert cli.main(argv) == 1
    assert capsys.readouterr().err == message + "\n"
    assert not (project / "runs" / "compare").exists() and not (project / "reports").exists()


def test_an_experiment_that_has_not_run_is_refused(project, monkeypatch, capsys):
    monkeypatch.chdir(project)
    assert cli.main(["compare", "quick", "residual"]) == 1
    assert capsys.readouterr().err == ("renoise: error: compare: quick's compare run is missing (never run, or "
                                       "interrupted); run `renoise report quick` first\n")
    assert cli.main(["compare", "quick", "--grid", "seed=1,2"]) == 1
    assert capsys.readouterr().err == ("renoise: error: compare: quick's seed=1/compare run is missing (never run, or "
                                       "interrupted); run `renoise report quick --grid=seed=1,2` first\n")
