"""The experiment tracker, read back with MLflow's own client: a small experiment run by the real
runner with a stand-in for papermill that leaves what notebooks leave (notebooks, histories,
``summary.csv``), logged to a temporary SQLite store as each run completes; then idempotence, a
rerun that replaces its MLflow runs, back-fill by ``renoise track``, the off switches, and trackers
that fail without failing a run."""

import csv
import importlib.util
import io
import json
import re
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from renoise import atomic, cli
from renoise.pipeline import engine, grid, markers, runner, tracking
from renoise.pipeline.tracker import Tracker, TrackingError, database, describe, store_uri
import renoise.pipeline.config
import renoise.pipeline.plan

from conftest import ROOT, copy_project

mlflow = pytest.importorskip("mlflow")
from mlflow.entities import ViewType  # noqa: E402

EXPERIMENT = """\
structures: {one_level: {epochs: 3, children: [0.25]}}
compare: {renoise_at_eval: true}
"""
KEYS = ["data", "classifier", "one_level/001", "one_level/001/25/0001", "compare"]
SETS, METRICS = ["0%", "50%", "Mixed"], ["psnr", "ssim"]


def history(run) -> dict:
    """What a training notebook writes to ``history.json``: per-epoch lists and a few numbers."""
    rng = np.random.default_rng(renoise.pipeline.plan.run_seed(0, run.key))
    losses = sorted(rng.uniform(0.1, 1.0, run.parameters.get("epochs", 1)), reverse=True)
    return {"loss": losses, "val_loss": [v * 1.1 for v in losses], "kept_epoch": len(losses), "fit_seconds": 1.5,
            "stopped_early": False, "schedule": {"schedule": "plateau"}}


def summary_rows(compare) -> list[dict]:
    """What the comparison writes to ``summary.csv``: every model, its re-noised variant and a baseline."""
    names = [m["key"] for m in compare.parameters["models"]] + ["one_level/001/25/0001/renoised", "baselines/median_3x3"]
    return [{"run": name, "set": s, "metric": metric, "value": 10 + i / 7}
            for i, (name, s, metric) in enumerate((n, s, m) for n in names for s in SETS for m in METRICS)]


def fake_engine(executed):
    """Stand in for papermill: write the run's outputs, its executed notebook, and what its
    notebook would write (a history, the comparison's tables)."""

    def execute(run, root, threads=None, kernels=1):
        executed.append(run.key)
        run_dir = root / run.run_dir
        for path in run.outputs:
            atomic.write_bytes(root / path, np.random.default_rng(len(executed)).bytes(64))
        atomic.write_text(run_dir / run.notebook, json.dumps({"cells": [], "run": run.key}))
        if run.notebook in ("autoencoder.ipynb", "classifier.ipynb"):
            atomic.write_json(run_dir / "history.json", history(run))
        if run.is_comparison:
            rows, text = summary_rows(run), io.StringIO()
            writer = csv.DictWriter(text, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
            atomic.write_text(root / run.parameters["storage_dir"] / "summary.csv", text.getvalue())

    return execute


def render(project):
    """Stand in for the reports: both HTML files, written after the comparison's notebook."""
    for path in (project / "reports/t/comparison.html", project / "reports/t/no_code/comparison.html"):
        atomic.write_text(path, f"<html>{path.parent.name}</html>")


def run(project, tracker=None, executed=None, plan=None):
    """Bring the experiment ``t`` (or ``plan`` of it) up to date with the stand-in engine, reports
    rendered, tracked by ``tracker``."""
    plan = plan or renoise.pipeline.plan.plan(renoise.pipeline.config.load(project / "experiments/t.yaml"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(engine, "execute", fake_engine([] if executed is None else executed))
        outcome = runner.run_plan(plan, project, "t", log=lambda line: None, then=lambda: render(project), tracker=tracker)
    assert outcome.ok
    return plan


def new_project(where, text=EXPERIMENT):
    project = copy_project(where)
    (project / "experiments/t.yaml").write_text(text)
    return project


def tracker_for(project, **kw):
    plan = renoise.pipeline.plan.plan(renoise.pipeline.config.load(project / "experiments/t.yaml"))
    return Tracker(project, "t", plan, uri=kw.pop("uri", f"sqlite:///{project}/storage/mlflow.db"), **kw)


def client(project):
    return mlflow.MlflowClient(f"sqlite:///{project}/storage/mlflow.db")


def runs_of(project, view=ViewType.ACTIVE_ONLY) -> dict:
    """The MLflow runs of the experiment ``t``, by renoise run key."""
    mine = client(project)
    found = mine.search_runs([mine.get_experiment_by_name("t").experiment_id], run_view_type=view, max_results=1000)
    return {r.data.tags["renoise.key"]: r for r in found}


@pytest.fixture(scope="module")
def tracked(tmp_path_factory):
    """The experiment run to the end, every run logged as it completed."""
    project = new_project(tmp_path_factory.mktemp("tracked") / "project")
    warnings = []
    plan = run(project, tracker_for(project, warn=warnings.append))
    assert not warnings
    return project, plan


def test_one_mlflow_run_per_run_with_its_params_and_tags(tracked):
    project, plan = tracked
    found = runs_of(project)
    assert sorted(found) == sorted(KEYS) and {r.info.status for r in found.values()} == {"FINISHED"}
    child = found["one_level/001/25/0001"]
    assert child.info.run_name == "one_level/001/25/0001"
    params = child.data.params
    assert params["autoencoder.learning_rate"] == "0.001" and params["autoencoder.hidden"] == "[1024, 529, 256, 36]"
    assert params["autoencoder.schedule.lr_factor"] == "0.5" and params["autoencoder.mode"] == "0.25"
    assert params["autoencoder.parent_dir"] == "runs/t/one_level/001" and params["autoencoder.epochs"] == "3"
    assert found["data"].data.params["data.dataset"] == "mnist5k"
    assert found["compare"].data.params["compare.models.1.key"] == "one_level/001/25/0001"
    marker = markers.read_marker(project / "runs/t/one_level/001/25/0001")
    tags = child.data.tags
    assert {k: tags[f"renoise.{k}"] for k in ("key", "label", "family", "structure", "mode", "repetition", "parent",
                                               "hash", "attempt", "host", "worker", "backend", "threads")} == {
        "key": "one_level/001/25/0001", "label": "one lvl \u2192 25", "family": "child", "structure": "one_level",
        "mode": "0.25", "repetition": "1", "parent": "one_level/001", "hash": marker["hash"],
        "attempt": marker["attempt"], "host": marker["host"], "worker": "local", "backend": "tensorflow", "threads": "all"}
    assert "renoise.family" not in found["data"].data.tags  # a data run is no model


def test_histories_and_costs_are_metrics_by_epoch(tracked):
    project, _ = tracked
    found, mine = runs_of(project), client(project)
    for key in KEYS[1:4]:
        written = json.loads((project / f"runs/t/{key}/history.json").read_text())
        logged = sorted(mine.get_metric_history(found[key].info.run_id, "val_loss"), key=lambda m: m.step)
        assert [m.value for m in logged] == written["val_loss"]
        assert [m.step for m in logged] == list(range(1, len(written["val_loss"]) + 1))
        marker = markers.read_marker(project / f"runs/t/{key}")
        metrics = found[key].data.metrics
        assert metrics["kept_epoch"] == written["kept_epoch"] and metrics["fit_seconds"] == 1.5
        assert metrics["run_seconds"] == marker["seconds"] and metrics["peak_memory_mb"] == marker["peak_memory_mb"]


def test_every_summary_value_is_a_metric_of_the_run_it_belongs_to(tracked):
    project, _ = tracked
    found = runs_of(project)
    with open(project / "storage/t/summary.csv") as handle:
        rows = list(csv.DictReader(handle))
    owners = {"one_level/001/25/0001/renoised": ("one_level/001/25/0001", "renoised/"),
              "baselines/median_3x3": ("compare", "baselines/median_3x3/")}
    for row in rows:
        key, prefix = owners.get(row["run"], (row["run"], ""))
        name = f"{prefix}{row['metric']}.{row['set'].lower().replace('%', 'pct')}"
        assert found[key].data.metrics[name] == pytest.approx(float(row["value"]), abs=1e-6)
    assert "psnr.50pct" in found["one_level/001"].data.metrics and "psnr.mixed" in found["one_level/001"].data.metrics


def test_children_nest_under_their_parent_and_the_comparison_holds_the_reports(tracked):
    project, _ = tracked
    found, mine = runs_of(project), client(project)
    assert found["one_level/001/25/0001"].data.tags["mlflow.parentRunId"] == found["one_level/001"].info.run_id
    assert "mlflow.parentRunId" not in found["one_level/001"].data.tags

    def files(key, folder=None):
        return sorted(a.path for a in mine.list_artifacts(found[key].info.run_id, folder))

    assert files("one_level/001") == ["autoencoder.ipynb", "history.json"]  # no model unless asked
    assert files("data") == ["data.ipynb"]
    assert files("compare") == ["compare.ipynb", "reports", "tables"] and files("compare", "tables") == ["tables/summary.csv"]
    assert files("compare", "reports") == ["reports/comparison.html", "reports/no_code"]
    local = mlflow.artifacts.download_artifacts(run_id=found["compare"].info.run_id, artifact_path="reports/no_code",
                                                tracking_uri=f"sqlite:///{project}/storage/mlflow.db")
    assert "no_code" in (Path(local) / "comparison.html").read_text()
    location = mine.get_experiment_by_name("t").artifact_location
    assert location == (project / "storage/mlflow-artifacts/t").as_uri()


def test_a_rerun_that_executes_nothing_logs_nothing_and_tracking_again_finds_everything(tracked, tmp_path):
    project = tmp_path / "copy"
    shutil.copytree(tracked[0], project)
    store = project / "storage/mlflow.db"
    before = store.read_bytes()
    executed = []
    run(project, tracker_for(project), executed)
    assert executed == [] and store.read_bytes() == before
    complete = renoise.pipeline.plan.plan(renoise.pipeline.config.load(project / "experiments/t.yaml"))
    assert tracker_for(project).track(complete) == 0 and len(runs_of(project)) == len(KEYS)


def test_a_run_executed_again_replaces_its_mlflow_run(tracked, tmp_path):
    project = tmp_path / "copy"
    shutil.copytree(tracked[0], project)
    old = runs_of(project)
    (project / "runs/t/one_level/001/25/0001/_COMPLETE.json").unlink()
    executed = []
    run(project, tracker_for(project), executed)
    assert executed == ["one_level/001/25/0001", "compare"]
    new, gone = runs_of(project), runs_of(project, ViewType.DELETED_ONLY)
    assert sorted(new) == sorted(KEYS) and sorted(gone) == ["compare", "one_level/001/25/0001"]
    for key in gone:
        assert gone[key].info.run_id == old[key].info.run_id
        assert gone[key].data.tags["renoise.superseded_by"] == new[key].info.run_id != old[key].info.run_id
    assert new["one_level/001"].info.run_id == old["one_level/001"].info.run_id  # not executed: kept
    assert new["one_level/001/25/0001"].data.tags["mlflow.parentRunId"] == old["one_level/001"].info.run_id
    assert new["compare"].data.tags["renoise.attempt"] != old["compare"].data.tags["renoise.attempt"]
    assert [a.path for a in client(project).list_artifacts(new["compare"].info.run_id, "reports")]


def test_an_mlflow_run_cut_short_is_replaced(tracked, tmp_path):
    """A FINISHED status is written last: an MLflow run left RUNNING by a killed writer does not count."""
    project = tmp_path / "copy"
    shutil.copytree(tracked[0], project)
    mine, cut = client(project), runs_of(project)["classifier"]
    mine.update_run(cut.info.run_id, status="RUNNING")
    plan = renoise.pipeline.plan.plan(renoise.pipeline.config.load(project / "experiments/t.yaml"))
    assert tracker_for(project).track(plan) == 1
    assert runs_of(project)["classifier"].info.run_id != cut.info.run_id
    assert runs_of(project, ViewType.DELETED_ONLY)["classifier"].info.run_id == cut.info.run_id


def test_renoise_track_backfills_runs_made_with_tracking_off(tmp_path, monkeypatch, capsys):
    project = new_project(tmp_path / "project", EXPERIMENT + "tracking: false\n")
    monkeypatch.chdir(project)
    run(project)
    assert not (project / "storage/mlflow.db").exists()
    assert cli.main(["track", "t"]) == 0
    assert capsys.readouterr().out.startswith("renoise: 5 runs logged, 0 already there, 0 not complete")
    assert sorted(runs_of(project)) == sorted(KEYS)
    assert [a.path for a in client(project).list_artifacts(runs_of(project)["compare"].info.run_id, "reports")]
    assert cli.main(["track", "t"]) == 0
    assert capsys.readouterr().out.startswith("renoise: 0 runs logged, 5 already there")
    assert len(runs_of(project, ViewType.ALL)) == len(KEYS)


def test_the_outsiders_check_reads_the_experiment_back_and_catches_a_changed_value(tracked, tmp_path, capsys):
    """``bench/check_tracker.py`` (MLflow's client and the files alone) finds every run, history and
    summary value; a history or a summary value changed after logging is a problem it names."""
    spec = importlib.util.spec_from_file_location("check_tracker", ROOT / "bench" / "check_tracker.py")
    check = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(check)
    project = tmp_path / "copy"
    shutil.copytree(tracked[0], project)
    assert check.main("t", project) == 0
    assert capsys.readouterr().out.endswith(
        "t: 5 MLflow runs for 5 complete runs; 3 val_loss histories and 24 summary values checked; 0 problems\n")
    path = project / "runs/t/one_level/001/history.json"
    atomic.write_json(path, {**json.loads(path.read_text()), "val_loss": [0.5, 0.4, 0.3]})
    summary = project / "storage/t/summary.csv"
    summary.write_text(summary.read_text().replace(",10.0\n", ",10.5\n", 1))
    assert check.main("t", project) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("one_level/001: val_loss [") and "history.json [0.5, 0.4, 0.3]" in lines[0]
    assert lines[1].startswith("one_level/001 0% psnr: summary 10.5, tracker 10.0 (one_level/001: psnr.0pct)")
    assert lines[-1].endswith("; 2 problems")


def test_models_are_stored_only_where_asked(tracked, tmp_path):
    project = tmp_path / "copy"
    shutil.copytree(tracked[0], project)
    (project / "storage/mlflow.db").unlink()
    plan = renoise.pipeline.plan.plan(renoise.pipeline.config.load(project / "experiments/t.yaml"))
    tracker_for(project, models=True).track(plan)
    parent = runs_of(project)["one_level/001"].info.run_id
    assert "model.keras" in [a.path for a in client(project).list_artifacts(parent)]


def test_a_grid_points_runs_go_to_the_points_experiment_and_shared_runs_to_the_experiments(tmp_path):
    project = new_project(tmp_path / "project")
    swept = grid.build(project / "experiments/t.yaml", (), ["structures.one_level.epochs=1,2"])  # the file says 3
    run(project, Tracker(project, "t", swept.plan, uri=f"sqlite:///{project}/storage/mlflow.db"), plan=swept.plan)
    mine, points = client(project), [f"structures.one_level.epochs={n}" for n in (1, 2)]
    keys = {}
    for experiment in mine.search_experiments():
        keys[experiment.name] = sorted(r.data.tags["renoise.key"] for r in mine.search_runs([experiment.experiment_id]))
    assert keys == {"Default": [], "t": ["classifier", "data"],
                    **{f"t/{point}": sorted(f"{point}/{key}" for key in KEYS[2:]) for point in points}}
    for point in points:
        experiment = mine.get_experiment_by_name(f"t/{point}").experiment_id
        child = mine.search_runs([experiment], f"tags.`renoise.key` = '{point}/one_level/001/25/0001'")[0]
        assert child.data.metrics["psnr.50pct"] and child.data.metrics["renoised/psnr.mixed"]
        assert child.data.tags["renoise.point"] == point and child.data.params["autoencoder.epochs"] == point[-1]


@pytest.mark.parametrize("text, enabled, models", [("", True, False), ("tracking: false\n", False, False),
                                                   ("tracking: {models: true}\n", True, True), ("tracking: {}\n", True, False)])
def test_the_tracking_key(tmp_path, text, enabled, models):
    path = tmp_path / "x.yaml"
    path.write_text(EXPERIMENT + text)
    assert renoise.pipeline.config.load(path)["tracking"] == {"enabled": enabled, "models": models}


@pytest.mark.parametrize("flags, text, tracked", [([], "", True), (["--no-track"], "", False),
                                                  ([], "tracking: false\n", False)])
def test_the_off_switches_reach_the_runner(project, monkeypatch, flags, text, tracked):
    seen = {}
    monkeypatch.chdir(project)
    (project / "experiments/x.yaml").write_text(EXPERIMENT + text)
    monkeypatch.setattr(runner, "run_plan", lambda *args, tracker=None, **kw: seen.update(t=tracker) or runner.Outcome())
    assert cli.main(["run", "x", "--workers", "1", *flags]) == 0
    assert (seen["t"] is not None) == tracked
    if tracked:
        assert seen["t"].command == "renoise track x" and seen["t"].uri == store_uri(project)


def corrupt(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"not a database " * 100)
    return f"sqlite:///{path}"


def failing_store(kind, tmp_path, project, holders):
    """A store that cannot be written: a corrupt file, a path below a plain file, a server nobody
    listens for, a database another connection holds locked (its connection kept in ``holders``)."""
    if kind == "corrupt":
        return corrupt(tmp_path / "corrupt.db")
    if kind == "below a file":
        (tmp_path / "afile").write_text("")
        return f"sqlite:///{tmp_path / 'afile' / 'mlflow.db'}"
    if kind == "unreachable":
        return "http://127.0.0.1:9"
    shutil.copy(project / "storage/mlflow.db", tmp_path / "locked.db")
    holders.append(sqlite3.connect(tmp_path / "locked.db", isolation_level=None))
    holders[-1].execute("BEGIN EXCLUSIVE")
    return f"sqlite:///{tmp_path / 'locked.db'}"


@pytest.mark.parametrize("kind, says", [("corrupt", "file is not a database"), ("below a file", "File exists"),
                                        ("unreachable", "Connection refused"), ("locked", "database is locked")])
def test_a_failing_tracker_warns_once_and_never_fails_a_run(tracked, tmp_path, kind, says):
    project, holders = tmp_path / "copy", []
    shutil.copytree(tracked[0], project)
    uri = failing_store(kind, tmp_path, project, holders)
    try:
        (project / "runs/t/one_level/001/25/0001/_COMPLETE.json").unlink()
        warnings, executed = [], []
        run(project, tracker_for(project, uri=uri, warn=warnings.append), executed)
        assert executed == ["one_level/001/25/0001", "compare"] and len(warnings) == 1
        assert warnings[0].startswith(f"renoise: warning: tracking stopped, {describe(uri)}: ") and says in warnings[0]
        assert warnings[0].endswith("`renoise track t` catches up later") and "\n" not in warnings[0]
        plan = renoise.pipeline.plan.plan(renoise.pipeline.config.load(project / "experiments/t.yaml"))
        with pytest.raises(TrackingError, match=f"^tracking store {re.escape(describe(uri))}: .*{says}"):
            tracker_for(project, uri=uri).track(plan)
    finally:
        for holder in holders:
            holder.close()


def test_a_corrupt_store_is_one_line_from_renoise_track(tracked, tmp_path, monkeypatch, capsys):
    project = tmp_path / "copy"
    shutil.copytree(tracked[0], project)
    corrupt(project / "storage/mlflow.db")
    monkeypatch.chdir(project)
    assert cli.main(["track", "t"]) == 1
    assert capsys.readouterr().err == (f"renoise: error: tracking store {project / 'storage/mlflow.db'}: "
                                       f"(sqlite3.DatabaseError) file is not a database\n")


def test_store_uris_and_how_messages_name_them(tmp_path, monkeypatch):
    assert store_uri(tmp_path) == f"sqlite:///{tmp_path}/storage/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://user:secret@tracker.example:5000")
    assert store_uri(tmp_path) == "http://user:secret@tracker.example:5000"
    assert describe(store_uri(tmp_path)) == "http://user:***@tracker.example:5000"
    assert database(f"sqlite:///{tmp_path}/a.db?timeout=30") == tmp_path / "a.db" and database("http://x") is None


def test_params_are_flattened_under_the_notebooks_name():
    flat = tracking.flatten({"a": 1, "b": {"c": [1, 2], "d": None}, "e": "text", "m": [{"k": "x"}, {"k": "y"}],
                             "50%": True}, "nb")
    assert flat == {"nb.a": "1", "nb.b.c": "[1, 2]", "nb.b.d": "null", "nb.e": "text", "nb.m.0.k": "x", "nb.m.1.k": "y",
                    "nb.50pct": "true"}
