"""The whole pipeline through papermill on a tiny experiment: run tree, executed notebooks,
storage cache, both reports and their content, a second run that skips everything, a child
whose parent is missing, and a run killed part-way that resumes to the same numbers."""

import dataclasses
import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from conftest import copy_project

pytestmark = pytest.mark.pipeline

TINY = """\
data: {n_train: 300, n_test: 60}
classifier: {epochs: 1}
autoencoder: {hidden: [32, 8]}
structures:
  one_level: {epochs: 2, children: [0.25]}
  multiple_levels: {epochs: 1, children: [multi]}
compare: {tsne_sets: ["0%", "Mixed"], tsne_points: 60, grid_digits: 6, renoise_at_eval: true}
"""
MODELS = ["one lvl parent", "one lvl \u2192 25", "multi lvl parent", "multi lvl \u2192 Multi",
          "one lvl \u2192 25 (renoised at eval)", "multi lvl \u2192 Multi (renoised at eval)"]
BASELINES = ["Noisy input", "Median 3x3", "Adaptive median"]
SECTIONS = ["Complete structure", "Autoencoder structure", "Classifier", "MNIST data with noising", "Evaluation",
            "Visual presentation of the results", "Evaluation comments", "Metrics over noise",
            "Who wins at each noise level", "All results", "t-SNE", "Metric definitions", "Remarks"]


def renoise(*args, cwd, **kw):
    return subprocess.run([sys.executable, "-m", "renoise", *args, "--quiet"], cwd=cwd, capture_output=True,
                          text=True, timeout=900, **kw)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A tiny experiment run to the end once, with both reports."""
    project = copy_project(tmp_path_factory.mktemp("finished"))
    (project / "experiments" / "tiny.yaml").write_text(TINY)
    result = renoise("report", "tiny", cwd=project)
    assert result.returncode == 0, result.stderr[-3000:]
    return project, result


def markers(project):
    return {p: p.stat().st_mtime_ns for p in (project / "runs" / "tiny").rglob("_COMPLETE.json")}


def test_run_tree_and_executed_notebooks(finished):
    project, result = finished
    base = project / "runs" / "tiny"
    keys = ["data", "classifier", "one_level/001", "one_level/001/25/0001", "multiple_levels/001",
            "multiple_levels/001/Multi/0001", "compare"]
    for key in keys:
        folder = base / key
        assert (folder / "_COMPLETE.json").is_file() and (folder / "parameters.json").is_file()
        notebook = json.loads(next(folder.glob("*.ipynb")).read_text())
        outputs = [o for c in notebook["cells"] if c["cell_type"] == "code" for o in c["outputs"]]
        assert outputs and not any(o["output_type"] == "error" for o in outputs)
        assert any("injected-parameters" in c["metadata"].get("tags", []) for c in notebook["cells"])
    for key in keys[1:-1]:
        assert (base / key / "model.keras").is_file() and (base / key / "history.json").is_file()
    assert len(re.findall(r"^  done ", result.stdout, flags=re.M)) == len(keys)


def test_markers_hold_each_runs_time_and_its_kernels_peak_memory(finished):
    project, result = finished
    status = subprocess.run([sys.executable, "-m", "renoise", "status", "tiny"], cwd=project, capture_output=True,
                            text=True, check=True).stdout
    markers = [json.loads(path.read_text()) for path in (project / "runs" / "tiny").rglob("_COMPLETE.json")]
    minutes = sum(m["seconds"] for m in markers) / 60
    largest = max(m["peak_memory_mb"] for m in markers) / 1024
    assert status.splitlines()[-1] == f"7/7 runs complete; {minutes:.1f} min in all, largest peak {largest:.2f} GB"
    for marker in markers:
        # a kernel that imported TensorFlow holds some hundreds of MB, not tens and not tens of GB
        assert 200 < marker["peak_memory_mb"] < 8000 and marker["seconds"] > 1
        line = f"{marker['seconds']:7.1f} s {marker['peak_memory_mb'] / 1024:5.2f} GB"
        assert f"{marker['key']:<36} {line}" in result.stdout and line in status


def test_storage_cache_and_summary(finished):
    project, _ = finished
    storage = project / "storage" / "tiny"
    names = {json.loads(p.read_text())["name"] for p in storage.glob("evaluations/*/evaluation.json")}
    assert names == set(MODELS + BASELINES)
    summary = (storage / "summary.csv").read_text().splitlines()
    assert len(summary) == 1 + 9 * len(names)
    assert not list(storage.rglob("*.partial*"))


def test_reports_show_every_section_and_model_and_no_code(finished):
    project, _ = finished
    with_code = (project / "reports/tiny/comparison.html").read_text()
    no_code = (project / "reports/tiny/no_code/comparison.html").read_text()
    for html in (with_code, no_code):
        headings = re.findall(r"<h[1-3][^>]*>(.*?)<a", html)
        for section in SECTIONS:
            assert section in headings, section
        for name in MODELS + BASELINES:
            assert name in html
        assert not re.search(r'<(script|link)[^>]+(src|href)="https?:', html)  # nothing from the network
        assert "<title>renoise tiny: comparison</title>" in html and "runs/tiny/compare/compare.ipynb" in html
        # noise sets, 2 diagrams, tree, 6 image grids, metric charts, t-SNE grid
        assert len(re.findall(r"<img ", html)) == 12
    code_cell = '<div class="jp-CodeMirrorEditor jp-Editor jp-InputArea-editor"'
    assert "evaluate_all" in with_code and code_cell in with_code
    assert "evaluate_all" not in no_code and code_cell not in no_code and "import " not in no_code


def test_second_run_skips_everything(finished):
    project, _ = finished
    before = markers(project)
    result = renoise("report", "tiny", cwd=project)
    assert result.returncode == 0
    assert "renoise: 0 runs executed, 7 up to date" in result.stdout
    assert markers(project) == before


def test_a_child_whose_parent_is_missing_or_incomplete_stops_with_a_clear_error(tmp_path):
    from renoise import experiment, runs
    from renoise.errors import RunError

    project = copy_project(tmp_path)
    (project / "experiments" / "tiny.yaml").write_text(TINY)
    plan = {run.key: run for run in experiment.plan(experiment.load(project / "experiments" / "tiny.yaml"))}
    runs.execute(plan["data"], project, progress=False)
    child = plan["one_level/001/25/0001"]
    astray = dataclasses.replace(child, parameters={**child.parameters, "parent_dir": "runs/tiny/typo/001"})
    with pytest.raises(RunError, match=r"RunError: parent run .*runs/tiny/typo/001 is missing"):
        runs.execute(astray, project, progress=False)
    with pytest.raises(RunError, match=r"one_level/001 is incomplete \(no _COMPLETE.json\)"):
        runs.execute(child, project, progress=False)  # its folder exists (it holds the child's), its marker not
    assert (project / "runs/tiny/one_level/001/25/0001/autoencoder.ipynb").is_file()  # kept for inspection
    assert not (project / "runs/tiny/one_level/001/25/0001/_COMPLETE.json").exists()


def wait_for_running_cell(notebook, code, timeout=120):
    """Block until papermill marks the cell holding ``code`` as running in the executed ``notebook``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            cells = json.loads(notebook.read_text())["cells"]
        except (FileNotFoundError, json.JSONDecodeError):  # not written yet, or being rewritten
            cells = []
        for cell in cells:
            source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            if code in source and cell["metadata"].get("papermill", {}).get("status") == "running":
                return
        time.sleep(0.05)
    raise AssertionError(f"{notebook}: no running cell with {code!r} within {timeout} s")


@pytest.mark.parametrize("victim, notebook, code", [("one_level/001", "autoencoder.ipynb", "train_autoencoder("),
                                                     ("compare", "compare.ipynb", "evaluate_all(")])
def test_killed_run_resumes_to_the_same_numbers(finished, tmp_path, victim, notebook, code):
    """SIGKILL the pipeline while a parent trains or while the models are evaluated; run again;
    compare with the uninterrupted run."""
    reference, _ = finished
    project = copy_project(tmp_path)
    (project / "experiments" / "tiny.yaml").write_text(TINY)
    process = subprocess.Popen([sys.executable, "-m", "renoise", "run", "tiny", "--quiet"], cwd=project,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True)
    try:
        for line in process.stdout:
            if line.startswith(f"  run   {victim} "):
                wait_for_running_cell(project / "runs/tiny" / victim / notebook, code)
                break
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    assert not (project / "runs/tiny" / victim / "_COMPLETE.json").exists()
    result = renoise("report", "tiny", cwd=project)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "skip  data" in result.stdout and "skip  classifier" in result.stdout
    assert not [p for top in ("runs", "storage", "reports") for p in (project / top).rglob(".*.partial*")]
    ours = (project / "storage/tiny/summary.csv").read_text().splitlines()
    theirs = (reference / "storage/tiny/summary.csv").read_text().splitlines()
    assert ours[0] == theirs[0]
    for a, b in zip(ours[1:], theirs[1:]):
        left, right = a.split(","), b.split(",")
        assert left[:3] == right[:3]
        assert all(abs(float(x) - float(y)) <= 1e-6 * max(1.0, abs(float(y))) for x, y in zip(left[3:], right[3:]))
