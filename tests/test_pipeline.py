"""The whole pipeline through papermill on a tiny experiment with two repetitions: run tree,
executed notebooks, storage cache and CSVs, both reports and their content, a second run that
skips everything, damage that heals, a child whose parent is missing, a run killed part-way that
resumes to the same numbers, runs on another (full, then freed) file system through links, and
the same numbers again on a local dask cluster; every run in the experiment tracker, logged by the
submitting process."""

import base64
import csv
import dataclasses
import importlib.util
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace

import pytest

from conftest import copy_project

pytestmark = pytest.mark.pipeline

#: The tiny experiments' shared head: two repetitions of a small net on 300 digits.
TINY_HEAD = """\
repetitions: 2
data: {n_train: 300, n_test: 100}
classifier: {epochs: 1}
autoencoder: {hidden: [32, 8], patience: 2}
"""
TINY = TINY_HEAD + """\
structures:
  one_level: {epochs: 2, children: [0.25]}
  multiple_levels: {epochs: 1, children: [multi]}
compare: {tsne_sets: ["0%", "Mixed"], grid_digits: 6, renoise_at_eval: true}
"""
KEYS = ["data", "classifier", "one_level/001", "one_level/001/25/0001", "one_level/002", "one_level/002/25/0001",
        "multiple_levels/001", "multiple_levels/001/Multi/0001", "multiple_levels/002", "multiple_levels/002/Multi/0001",
        "compare"]
MODELS = ["one lvl parent", "one lvl \u2192 25", "multi lvl parent", "multi lvl \u2192 Multi",
          "one lvl \u2192 25 (renoised at eval)", "multi lvl \u2192 Multi (renoised at eval)"]
BASELINES = ["Noisy input", "Median 3x3", "Adaptive median"]
SECTIONS = ["Complete structure", "Autoencoder structure", "Classifier", "Test data with noise", "Evaluation",
            "Repetitions", "Training", "Visual presentation of the results", "Evaluation comments",
            "Metrics over noise", "Does the child beat its parent?", "Renoise sweep", "One level or multiple levels?",
            "Who wins at each noise level", "Confusion matrices", "All results", "t-SNE", "Metric definitions",
            "Remarks"]


def renoise(*args, cwd, **kw):
    return subprocess.run([sys.executable, "-m", "renoise", *args, "--quiet"], cwd=cwd, capture_output=True,
                          text=True, timeout=900, **kw)


def tracked(project, view="ACTIVE_ONLY"):
    """MLflow's client on the project's tracker and the MLflow runs of the experiment ``tiny``
    (active, deleted or all), by renoise run key: what an independent reader finds."""
    from mlflow import MlflowClient
    from mlflow.entities import ViewType

    client = MlflowClient(f"sqlite:///{project}/storage/mlflow.db")
    runs = client.search_runs([client.get_experiment_by_name("tiny").experiment_id], max_results=1000,
                              run_view_type=getattr(ViewType, view))
    return client, {r.data.tags["renoise.key"]: r for r in runs}


def tiny_project(where):
    project = copy_project(where)
    (project / "experiments" / "tiny.yaml").write_text(TINY)
    return project


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A tiny experiment run to the end once, with both reports."""
    project = tiny_project(tmp_path_factory.mktemp("finished"))
    result = renoise("report", "tiny", "--workers", "1", cwd=project)
    assert result.returncode == 0, result.stderr[-3000:]
    return project, result


def copy_finished(reference, where):
    """A copy of the finished experiment's project (markers, caches and all) to break things in."""
    project = where / "project"
    shutil.copytree(reference, project)
    return project


def markers(project):
    return {p: p.stat().st_mtime_ns for p in (project / "runs" / "tiny").rglob("_COMPLETE.json")}


def summary(project, point="") -> dict[tuple, float]:
    """``summary.csv`` of the tiny experiment, or of its grid point ``point`` (a folder under it)."""
    with open(project / "storage/tiny" / point / "summary.csv") as handle:
        return {(row["run"], row["set"], row["metric"]): float(row["value"]) for row in csv.DictReader(handle)}


def assert_same_numbers(ours: dict, theirs: dict, tolerance: float) -> None:
    assert ours.keys() == theirs.keys()
    worst = max(abs(ours[k] - theirs[k]) / max(1.0, abs(theirs[k])) for k in theirs)
    assert worst <= tolerance, worst


def test_run_tree_and_executed_notebooks(finished):
    project, result = finished
    base = project / "runs" / "tiny"
    for key in KEYS:
        folder = base / key
        assert (folder / "_COMPLETE.json").is_file() and (folder / "parameters.json").is_file()
        notebook = json.loads(next(folder.glob("*.ipynb")).read_text())
        outputs = [o for c in notebook["cells"] if c["cell_type"] == "code" for o in c["outputs"]]
        assert outputs and not any(o["output_type"] == "error" for o in outputs)
        assert any("injected-parameters" in c["metadata"].get("tags", []) for c in notebook["cells"])
        assert not (folder / "_RUNNING.json").exists()
        assert (folder / "kernel.log").is_file()  # the kernel's own stderr, kept off the progress lines
    assert "cudart" not in result.stderr and "absl::InitializeLog" not in result.stderr
    for key in KEYS[2:-1]:
        history = json.loads((base / key / "history.json").read_text())
        assert (base / key / "model.keras").is_file() and history["max_epochs"] in (1, 2)
        progress = json.loads((base / key / "progress.json").read_text())
        assert progress["epoch"] == len(history["loss"]) and progress["epochs"] == history["max_epochs"]
    assert len(re.findall(r"^  done ", result.stdout, flags=re.M)) == len(KEYS)


def test_markers_hold_each_runs_outputs_time_memory_and_place(finished):
    project, result = finished
    status = subprocess.run([sys.executable, "-m", "renoise", "status", "tiny"], cwd=project, capture_output=True,
                            text=True, check=True).stdout
    found = [json.loads(path.read_text()) for path in (project / "runs" / "tiny").rglob("_COMPLETE.json")]
    minutes = sum(m["seconds"] for m in found) / 60
    largest = max(m["peak_memory_mb"] for m in found) / 1024
    assert status.splitlines()[-1] == f"11/11 runs complete; {minutes:.1f} min in all, largest peak {largest:.2f} GB; backend tensorflow"
    for marker in found:
        # a kernel that imported TensorFlow holds some hundreds of MB, not tens and not tens of GB
        assert 200 < marker["peak_memory_mb"] < 8000 and marker["seconds"] > 1 and marker["worker"] == "local"
        assert marker["backend"] == "tensorflow" and marker["determinism"].startswith("tf.config")
        line = f"{marker['seconds']:7.1f} s {marker['peak_memory_mb'] / 1024:5.2f} GB"
        assert f"{marker['key']:<36} {line}" in result.stdout and line in status
        for path, record in marker["outputs"].items():
            assert (project / path).stat().st_size == record["size"]
    assert f"local@{found[0]['host']}" in status


def test_storage_cache_and_csv_tables(finished):
    project, _ = finished
    storage = project / "storage" / "tiny"
    cached = {json.loads(p.read_text())["model"] for p in storage.glob("evaluations/**/evaluation.json")}
    assert cached == {"baselines/noisy_input", "baselines/median_3x3", "baselines/adaptive_median",
                      *KEYS[2:-1], *(f"{k}/renoised" for k in KEYS[3:-1:2])}
    rows = summary(project)
    assert len(rows) == len(cached) * 9 * 12
    with open(storage / "intervals.csv") as handle:
        spans = list(csv.DictReader(handle))
    assert len(spans) == (len(MODELS) + len(BASELINES)) * 9 * 12
    assert {row["n"] for row in spans if row["label"] in MODELS} == {"2"}
    with open(storage / "verdicts.csv") as handle:
        judged = list(csv.DictReader(handle))
    assert {(row["child"], row["parent"]) for row in judged} == {("one lvl \u2192 25", "one lvl parent"),
                                                                  ("multi lvl \u2192 Multi", "multi lvl parent")}
    assert {row["verdict"] for row in judged} <= {"better", "worse", "unclear"}
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
        assert "n = 2" in html and "MNIST" in html
        # tree, noise sets, training curves, 6 image grids, metric charts, confusion, t-SNE, and the two model
        # diagrams where Graphviz draws them (`make test` installs it; without it they are layer tables)
        assert len(re.findall(r"<img ", html)) == 12 + (2 if shutil.which("dot") else 0)
    code_cell = '<div class="jp-CodeMirrorEditor jp-Editor jp-InputArea-editor"'
    assert "evaluate_all" in with_code and code_cell in with_code
    assert "evaluate_all" not in no_code and code_cell not in no_code and "import " not in no_code


class Page(HTMLParser):
    """An HTML report as its reader meets it: the visible text (scripts and styles dropped), each
    table cell's text, and every element's tag and attributes in document order."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.pieces, self.cells, self.elements, self.scripts = [], [], [], []
        self._hidden, self._cell = None, None
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))
        if tag in ("script", "style"):
            self._hidden = tag
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag == self._hidden:
            self._hidden = None
        elif tag in ("td", "th") and self._cell is not None:
            self.cells.append("".join(self._cell))
            self._cell = None

    def handle_data(self, data):
        if self._hidden == "script":
            self.scripts.append(data)
        elif self._hidden is None:
            self.pieces.append(data)
            if self._cell is not None:
                self._cell.append(data)

    @property
    def text(self) -> str:
        return re.sub(r"\s+", " ", "".join(self.pieces))

    def between(self, start: str, end: str) -> str:
        """The visible text from heading ``start`` to heading ``end``."""
        text = self.text
        return text[text.index(f"{start}¶"): text.index(f"{end}¶")]


#: Words of a log, not of a report (the issue's list), and the evaluation's progress lines.
LOG_WORDS = ("Warning", "WARNING", "cuda", "absl", "Traceback")


def unsupported_digits(mean: str, half: str) -> str:
    """Why ``mean ± half`` prints digits its interval does not support ('' where it does): the
    half-width has two significant digits (an integer's trailing zeros are places: 530 is 5.3e2)
    and the mean ends at the place of the half-width's second digit."""
    h, m = Decimal(half), Decimal(mean)
    digits = "".join(map(str, h.as_tuple().digits)).lstrip("0")
    if len(digits.rstrip("0") if h.as_tuple().exponent >= 0 else digits) > 2:
        return "a half-width of more than two significant digits"
    place = Decimal(1).scaleb(h.adjusted() - 1)  # the second significant digit's place: 0.01 for 0.53
    decimals = -place.as_tuple().exponent
    if place < 1 and not (-h.as_tuple().exponent == -m.as_tuple().exponent == decimals):
        return f"not both to {place:f}"
    if place >= 1 and (m.as_tuple().exponent < 0 or m % place):
        return f"the mean is not a multiple of {place:f}"
    return ""


def test_unsupported_digits_are_found():
    assert [unsupported_digits(*pair) for pair in (("17.6", "0.53"), ("17.56", "0.53"), ("1230", "530"),
                                                    ("1234", "530"), ("0.0201", "0.0023"), ("3.14", "0.100"))] == [
        "not both to 0.01", "", "", "the mean is not a multiple of 10", "", "a half-width of more than two significant digits"]


def test_the_shared_report_holds_no_log_findings_first_and_digits_its_intervals_support(finished):
    """The no-code report as the issue's reader met it: no warning, log or progress text and no
    stderr output; a contents line whose links all land; Findings before the first figure; every
    'mean ± half-width' rounded to its interval; † rather than text in the tables; ≤ 6 MB."""
    project, _ = finished
    path = project / "reports/tiny/no_code/comparison.html"
    page = Page(path.read_text())
    assert not [word for word in LOG_WORDS if word in page.text]
    assert not re.search(r"evaluated \S+ in [0-9.]+ s", page.text)
    assert not [a for _, a in page.elements if "stderr" in a.get("data-mime-type", "") or "stderr" in a.get("class", "")]
    executed = json.loads((project / "runs/tiny/compare/compare.ipynb").read_text())
    streams = {o.get("name") for c in executed["cells"] for o in c.get("outputs", []) if o["output_type"] == "stream"}
    assert streams <= {"stdout"}
    ids = {a["id"] for _, a in page.elements if "id" in a}
    links = [a["href"] for tag, a in page.elements if tag == "a" and a.get("href", "").startswith("#")
             and "anchor-link" not in a.get("class", "")]
    assert len(links) >= 10 and set(l[1:] for l in links) <= ids
    order = [(tag, a) for tag, a in page.elements if tag == "img" or a.get("id") == "Findings"]
    assert order[0][1].get("id") == "Findings"
    pairs = re.findall(r"([-+]?\d+(?:\.\d+)?) ± (\d+(?:\.\d+)?)", page.text)
    assert len(pairs) > 500  # every metric table and the winners' tables
    assert [f"{m} ± {h}: {why}" for m, h in pairs if (why := unsupported_digits(m.lstrip("+-"), h))] == []
    assert not [cell for cell in page.cells if "not converged" in cell]
    assert path.stat().st_size <= 6 * 2**20
    downloads = {a["download"]: a["href"] for tag, a in page.elements if tag == "a" and "download" in a}
    for name in ("intervals.csv", "verdicts.csv"):  # the report carries its CSV files, at full precision
        carried = base64.b64decode(downloads[name].removeprefix("data:text/csv;base64,")).decode()
        assert list(csv.reader(io.StringIO(carried))) == list(csv.reader(open(project / "storage/tiny" / name)))
    log = (project / "runs/tiny/compare/kernel.log").read_text()  # where the progress lines went
    assert re.search(r"^  (evaluated|cached) +one_level/001 ", log, re.M)


def test_every_number_in_the_findings_is_the_csv_files(finished):
    """Each Findings sentence of the tiny report, its numbers recounted from ``verdicts.csv``,
    ``structures.csv``, ``intervals.csv`` and the runs' histories with the csv module."""
    import renoise.pipeline.config
    import renoise.pipeline.plan
    from renoise.science.metrics import METRICS

    project, _ = finished
    storage = project / "storage/tiny"
    text = Page((project / "reports/tiny/no_code/comparison.html").read_text()).between("Findings", "Complete structure")
    key = {name: metric for metric, (name, _) in METRICS.items()}
    read = lambda name: list(csv.DictReader(open(storage / name)))
    found = 0
    for m in re.finditer(r"Children against their parents, ([^:]+): of (\d+) paired comparisons \((\d+) children × "
                         r"(\d+) sets, n = (\d+)\), (\d+) better, (\d+) worse, (\d+) unclear than the parent "
                         r"\(verdicts\.csv\)", text):
        rows = [r for r in read("verdicts.csv") if r["metric"] == key[m[1]] and r["mean_difference"] != "nan"]
        tally = [sum(r["verdict"] == v for r in rows) for v in ("better", "worse", "unclear")]
        assert [int(g) for g in m.groups()[1:]] == [len(rows), len({r["child"] for r in rows}),
                                                    len({r["set"] for r in rows}), int(rows[0]["n"]), *tally]
        found += 1
    for m in re.finditer(r"One level against multiple levels, ([^:]+): the one-level parent is (\d+) better, (\d+) "
                         r"worse, (\d+) unclear on the (\d+) sets \(Welch, n = (\d+) vs (\d+); structures\.csv\)", text):
        rows = [r for r in read("structures.csv") if r["metric"] == key[m[1]]]
        tally = [sum(r["verdict"] == v for r in rows) for v in ("better", "worse", "unclear")]
        assert [int(g) for g in m.groups()[1:]] == [*tally, len(rows), int(rows[0]["n_one_level"]),
                                                    int(rows[0]["n_multiple_levels"])]
        found += 1
    for m in re.finditer(r"Best model against the adaptive median, ([^:]+): (.+?) \(n = (\d+)\), the best by its mean "
                         r"over the sets, is better on (\d+), worse on (\d+) and unclear on (\d+) of (\d+) sets", text):
        rows = [r for r in read("intervals.csv") if r["metric"] == key[m[1]]]
        higher = METRICS[key[m[1]]][1]
        means = {}
        for r in rows:
            if r["family"] in ("parent", "child"):
                means.setdefault(r["label"], []).append(float(r["mean"]))
        best = (max if higher else min)(means, key=lambda label: sum(means[label]) / len(means[label]))
        filter_ = {r["set"]: float(r["mean"]) for r in rows if r["label"] == "Adaptive median"}
        sides, chosen = [], [r for r in rows if r["label"] == best]
        for r in chosen:
            low, high = float(r["low"]), float(r["high"])
            above, below = low > filter_[r["set"]], high < filter_[r["set"]]
            sides.append("unclear" if not (above or below) else "better" if above == higher else "worse")
        assert m[2] == best and int(m[3]) == int(chosen[0]["n"])
        assert [int(g) for g in m.groups()[3:]] == [sides.count("better"), sides.count("worse"),
                                                    sides.count("unclear"), len(sides)]
        found += 1
    runs = renoise.pipeline.plan.plan(renoise.pipeline.config.load(project / "experiments/tiny.yaml"))
    capped = {run.label for run in runs if run.notebook == "autoencoder.ipynb"
              and not json.loads((project / run.run_dir / "history.json").read_text())["stopped_early"]}
    labels = {run.label for run in runs if run.notebook == "autoencoder.ipynb"}
    training = re.search(r"Training: (\d+) of (\d+) models reached their epoch cap", text)
    if capped:
        assert [int(training[1]), int(training[2])] == [len(capped), len(labels)]
    else:
        assert f"Training: all {len(labels)} models ended at their plateau" in text
    assert found == 3 + 2 + 2  # PSNR, SSIM, accuracy; the structures and the best model on PSNR and SSIM


#: An experiment name and folder that would run script in a report that did not escape them.
HOSTILE = "<img src=x onerror=alert(1)><script>alert(2)"


def test_user_strings_are_escaped_in_both_reports(finished, tmp_path):
    """The comparison executed again as an experiment whose name, and so its run, storage and
    report folders, hold a script and an event handler: both reports show the name as text and
    hold no script element and no event-handler attribute (parsed, not searched)."""
    import renoise.pipeline.plan
    from renoise.pipeline import engine
    from renoise.report import html

    reference, _ = finished
    project = copy_finished(reference, tmp_path)
    shutil.copytree(project / "storage/tiny", project / "storage" / HOSTILE)  # its cached evaluations
    parameters = json.loads((project / "runs/tiny/compare/parameters.json").read_text())
    parameters |= {"experiment": HOSTILE, "run_dir": f"runs/{HOSTILE}/compare", "storage_dir": f"storage/{HOSTILE}",
                   "data_dir": f"storage/{HOSTILE}/data"}
    engine.execute(renoise.pipeline.plan.Run("compare", "compare.ipynb", "compare", parameters), project)
    for path in html.write_reports(project, HOSTILE):
        page = Page(path.read_text())
        assert HOSTILE in page.text and f"renoise {HOSTILE}: comparison" in page.text  # shown, as text
        assert f"storage/{HOSTILE}/summary.csv" in page.text and f"runs/{HOSTILE}/compare/compare.ipynb" in page.text
        assert not [tag for tag, _ in page.elements if tag in ("script", "iframe", "object", "embed")]
        assert not [(tag, name) for tag, attrs in page.elements for name in attrs if name.startswith("on")]
        assert not [attrs for tag, attrs in page.elements if tag == "img" and attrs.get("src") == "x"]


def test_every_run_is_in_the_tracker_as_its_files_say(finished):
    """The issue's reader: one MLflow run per renoise run, each autoencoder's validation loss as
    its history.json, every value of summary.csv on the run it belongs to, children nested under
    their parents, both reports with the comparison."""
    project, result = finished
    client, found = tracked(project)
    assert sorted(found) == sorted(KEYS) and "warning" not in result.stderr
    for key in KEYS[2:-1]:
        history = json.loads((project / "runs/tiny" / key / "history.json").read_text())
        logged = sorted(client.get_metric_history(found[key].info.run_id, "val_loss"), key=lambda m: m.step)
        assert [m.value for m in logged] == history["val_loss"] and logged[-1].step == len(history["val_loss"])
        parent = found[key].data.tags.get("renoise.parent")
        assert found[key].data.tags.get("mlflow.parentRunId") == (parent and found[parent].info.run_id)
    for (run, name, metric), value in summary(project).items():
        key, prefix = ("compare", f"{run}/") if run.startswith("baselines/") else \
            (run.removesuffix("/renoised"), "renoised/") if run.endswith("/renoised") else (run, "")
        logged = found[key].data.metrics[f"{prefix}{metric}.{name.lower().replace('%', 'pct')}"]
        assert abs(logged - value) <= 1e-6, (run, name, metric)
    reports = [a.path for a in client.list_artifacts(found["compare"].info.run_id, "reports/no_code")]
    assert reports == ["reports/no_code/comparison.html"]


def test_second_run_skips_everything(finished):
    project, _ = finished
    before = markers(project)
    store = project / "storage/mlflow.db"
    logged = store.stat().st_mtime_ns, store.stat().st_size
    result = renoise("report", "tiny", "--workers", "1", cwd=project)
    assert result.returncode == 0
    assert "renoise: 0 runs executed, 11 up to date" in result.stdout
    assert markers(project) == before
    assert (store.stat().st_mtime_ns, store.stat().st_size) == logged  # nothing executed, nothing logged


def test_damage_is_seen_healed_and_a_bad_cache_entry_only_warns(finished, tmp_path):
    """A truncated model and a flipped data byte show as damaged and one run heals them; a
    truncated evaluation cache entry is recomputed with a warning naming it."""
    reference, _ = finished
    project = copy_finished(reference, tmp_path)
    model = project / "runs/tiny/one_level/002/model.keras"
    model.write_bytes(model.read_bytes()[: model.stat().st_size // 2])
    status = subprocess.run([sys.executable, "-m", "renoise", "status", "tiny"], cwd=project, capture_output=True,
                            text=True, check=True).stdout
    assert re.search(r"^damaged\s+one_level/002 .*runs/tiny/one_level/002/model.keras has changed size", status, re.M)
    assert re.search(r"^stale\s+one_level/002/25/0001 .*its input one_level/002 must run again", status, re.M)
    cache = project / "storage/tiny/evaluations/multiple_levels/001/arrays.npz"
    cache.write_bytes(cache.read_bytes()[:200])
    result = renoise("report", "tiny", "--workers", "1", cwd=project)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "renoise: 3 runs executed, 8 up to date" in result.stdout  # the parent, its child, the comparison
    _, active = tracked(project)
    _, replaced = tracked(project, "DELETED_ONLY")
    assert sorted(active) == sorted(KEYS) and sorted(replaced) == ["compare", "one_level/002", "one_level/002/25/0001"]
    assert all(replaced[k].data.tags["renoise.superseded_by"] == active[k].info.run_id for k in replaced)
    # The warning is the run's log, not part of the report: it goes to the compare run's kernel.log.
    log = (project / "runs/tiny/compare/kernel.log").read_text()
    assert f"warning: {cache} has changed size" in log
    assert "has changed size" not in (project / "runs/tiny/compare/compare.ipynb").read_text()
    assert_same_numbers(summary(project), summary(reference), 1e-6)


def test_a_child_whose_parent_is_missing_or_incomplete_stops_with_a_clear_error(tmp_path):
    from renoise.pipeline import engine
    import renoise.pipeline.config
    import renoise.pipeline.plan
    from renoise.errors import RunError

    project = tiny_project(tmp_path)
    plan = {run.key: run for run in renoise.pipeline.plan.plan(renoise.pipeline.config.load(project / "experiments" / "tiny.yaml"))}
    engine.execute(plan["data"], project)
    child = plan["one_level/001/25/0001"]
    astray = dataclasses.replace(child, parameters={**child.parameters, "parent_dir": "runs/tiny/typo/001"})
    with pytest.raises(RunError, match=r"RunError: parent run .*runs/tiny/typo/001 is missing"):
        engine.execute(astray, project)
    with pytest.raises(RunError, match=r"one_level/001 is incomplete \(no current _COMPLETE.json\)"):
        engine.execute(child, project)  # its folder exists (it holds the child's), its marker not
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


@pytest.mark.parametrize("victim, notebook, code", [("one_level/002", "autoencoder.ipynb", "train_autoencoder("),
                                                     ("compare", "compare.ipynb", "evaluate_all(")])
def test_killed_run_resumes_to_the_same_numbers(finished, tmp_path, victim, notebook, code):
    """In a copy of the finished experiment whose ``victim`` must run again (and, for the
    comparison, whose evaluation cache is gone), SIGKILL the pipeline while the parent trains or
    while the models are evaluated; run again; compare with the uninterrupted run."""
    reference, _ = finished
    project = copy_finished(reference, tmp_path)
    (project / "runs/tiny" / victim / "_COMPLETE.json").unlink()
    if victim == "compare":
        shutil.rmtree(project / "storage/tiny/evaluations")
    process = subprocess.Popen([sys.executable, "-m", "renoise", "run", "tiny", "--workers", "1", "--quiet"], cwd=project,
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
    result = renoise("report", "tiny", "--workers", "1", cwd=project)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "skip  data" in result.stdout and "skip  classifier" in result.stdout
    assert not [p for top in ("runs", "storage", "reports") for p in (project / top).rglob(".*.partial*")]
    assert_same_numbers(summary(project), summary(reference), 1e-6)


def run_states(project) -> dict[str, str]:
    """``renoise status tiny``: each run's state, by key."""
    status = subprocess.run([sys.executable, "-m", "renoise", "status", "tiny"], cwd=project, capture_output=True,
                            text=True, timeout=120)
    return {line.split()[1]: line.split()[0] for line in status.stdout.splitlines()[:-1]}


#: The scratch file system's size, and the room left on it when it is full: less than one of the
#: tiny tree's autoencoder files (about 640 KB), more than a parent writes before it saves its model.
ROOMY_KB, FULL_KB = 64 * 1024, 320


def mount_tmpfs(folder: Path, kilobytes: int, again: bool = False) -> str:
    """Mount a tmpfs of ``kilobytes`` at ``folder`` (``again``: resize the one there); '' when done,
    else why not (not root, or no permission to mount, as in most containers)."""
    command = (["mount", "-o", f"remount,size={kilobytes}k", str(folder)] if again else
               ["mount", "-t", "tmpfs", "-o", f"size={kilobytes}k", "tmpfs", str(folder)])
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    except OSError as exc:
        return f"cannot run mount: {exc}"
    return "" if done.returncode == 0 else f"mount refused: {done.stderr.strip() or done.returncode}"


def used_kb(folder: Path) -> int:
    """Kilobytes in use on the file system holding ``folder``."""
    stat = os.statvfs(folder)
    return (stat.f_blocks - stat.f_bfree) * stat.f_frsize // 1024


@pytest.fixture(scope="module")
def on_scratch(finished, tmp_path_factory):
    """A copy of the finished tiny tree whose ``runs/tiny`` links to a file system outside the
    project (a tmpfs where this machine lets us mount one, else a plain folder), with ``storage``
    and ``reports`` linked to folders outside it too, and one parent (one_level/002) to run again.
    On a tmpfs the tree is first run with less room left than that parent's model file (``full``:
    the command, then the states and temporary files it left); then, the room given back, the
    report is run again (``rerun``)."""
    base = tmp_path_factory.mktemp("scratch")
    project = copy_finished(finished[0], base)
    disk = base / "disk"
    disk.mkdir()
    refused = mount_tmpfs(disk, ROOMY_KB)
    try:
        for inside, outside in (("runs/tiny", disk / "tiny"), ("storage", base / "storage"), ("reports", base / "reports")):
            shutil.move(project / inside, outside)
            (project / inside).symlink_to(outside, target_is_directory=True)
        (project / "runs/tiny/one_level/002/_COMPLETE.json").unlink()
        full = None
        if not refused:
            mount_tmpfs(disk, used_kb(disk) + FULL_KB, again=True)
            command = renoise("run", "tiny", "--workers", "1", cwd=project)
            full = SimpleNamespace(command=command, states=run_states(project), partial=list(base.rglob(".*.partial*")))
            mount_tmpfs(disk, ROOMY_KB, again=True)
        rerun = renoise("report", "tiny", "--workers", "1", cwd=project)
        yield SimpleNamespace(project=project, disk=disk, refused=refused, full=full, rerun=rerun)
    finally:
        if not refused:
            subprocess.run(["umount", str(disk)], check=True, timeout=60)


def test_a_full_disk_stops_the_tree_in_one_line_and_leaves_no_half_written_file(on_scratch):
    """The parent's model file does not fit: one line naming the tmpfs and the file, exit 1, no
    temporary file anywhere, no marker for the parent; every other run complete stays complete."""
    if on_scratch.refused:
        pytest.skip(f"no tmpfs to fill: {on_scratch.refused}")
    project, full = on_scratch.project, on_scratch.full
    model = project / "runs/tiny/one_level/002/model.keras"
    assert full.command.returncode == 1, full.command.stderr[-3000:]
    assert full.command.stderr == (f"renoise: error: no space left on {on_scratch.disk} while writing {model}; "
                                   "8 of 11 runs complete: free space there, then run again to resume\n")
    assert full.partial == [] and "  run   one_level/002 " in full.command.stdout
    assert full.states == {**{key: "complete" for key in KEYS}, "one_level/002": "missing",
                           "one_level/002/25/0001": "stale", "compare": "stale"}


def test_runs_storage_and_reports_linked_to_other_file_systems_complete_to_the_same_numbers(on_scratch, finished):
    """The report run again through the links (after the full disk, where there was one): the
    parent, its child and the comparison run there, the rest is skipped, the numbers equal a run
    that never failed, on a roomy disk, without links."""
    project, rerun = on_scratch.project, on_scratch.rerun
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert "renoise: 3 runs executed, 8 up to date" in rerun.stdout
    assert all((project / link).is_symlink() for link in ("runs/tiny", "storage", "reports"))
    assert (project / "reports/tiny/no_code/comparison.html").is_file()
    assert_same_numbers(summary(project), summary(finished[0]), 1e-5)


@pytest.mark.cluster
def test_the_default_local_dask_cluster_gives_the_sequential_numbers(finished, tmp_path):
    """Without ``--workers``, the machine's own count of worker processes (2 on 2 cores), one
    notebook each: the same metrics as the sequential run (``--workers 1``), every marker names its
    worker, and no worker or kernel outlives the command."""
    import psutil

    from renoise.pipeline import sizing

    workers = sizing.automatic_workers(*sizing.machine())
    if workers < 2:
        pytest.skip("this machine's default is one run after another: there is no cluster to compare")
    reference, _ = finished
    project = tiny_project(tmp_path)
    before = {p.pid for p in psutil.process_iter()}
    result = renoise("run", "tiny", cwd=project)
    assert result.returncode == 0, result.stderr[-3000:]
    names = {json.loads(p.read_text())["worker"] for p in (project / "runs/tiny").rglob("_COMPLETE.json")}
    assert names <= {str(k) for k in range(workers)} and names
    _, found = tracked(project)  # logged by this process, one writer, as the workers' runs completed
    assert sorted(found) == sorted(KEYS) and {r.data.tags["renoise.worker"] for r in found.values()} == names
    assert_same_numbers(summary(project), summary(reference), 1e-5)
    time.sleep(3)
    assert not new_processes(before)


def new_processes(before: set[int]) -> list[str]:
    """Command lines of the python schedulers, workers and kernels started since ``before`` (pids)."""
    import psutil

    left = []
    for process in psutil.process_iter():
        try:
            line = " ".join(process.cmdline())
        except psutil.Error:  # gone meanwhile
            continue
        if process.pid not in before and "python" in line and any(k in line for k in ("ipykernel", "distributed", "dask")):
            left.append(line)
    return left


@pytest.mark.cluster
def test_an_external_scheduler_with_two_workers_gives_the_sequential_numbers(finished, tmp_path):
    """``dask scheduler`` and two ``dask worker`` processes, started as a user would: the same
    metrics as the sequential run, and each marker names the worker that ran it."""
    import psutil

    reference, _ = finished
    project = tiny_project(tmp_path)
    address_file = tmp_path / "scheduler.json"
    dask = [str(Path(sys.executable).with_name("dask"))]  # the venv's command line, as a user runs it
    before = {p.pid for p in psutil.process_iter()}
    started = [subprocess.Popen([*dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                                 "--scheduler-file", str(address_file)], start_new_session=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        deadline = time.monotonic() + 60
        while not address_file.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        address = json.loads(address_file.read_text())["address"]
        started += [subprocess.Popen([*dask, "worker", address, "--nthreads", "1", "--name", name, "--no-dashboard"],
                                     cwd=project, start_new_session=True, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL) for name in ("left", "right")]
        broken = tmp_path / "corrupt.db"  # a tracker that fails costs one warning, never a run
        broken.write_bytes(b"not a database " * 100)
        result = renoise("run", "tiny", "--scheduler", address, cwd=project,
                         env={**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{broken}"})
        assert result.returncode == 0, result.stderr[-3000:]
        warnings = [line for line in result.stderr.splitlines() if line.startswith("renoise: warning")]
        assert warnings == [f"renoise: warning: tracking stopped, {broken}: (sqlite3.DatabaseError) file is not a "
                            f"database; the runs are unaffected, `renoise track tiny` catches up later"]
        workers = {json.loads(p.read_text())["worker"] for p in (project / "runs/tiny").rglob("_COMPLETE.json")}
        assert workers <= {"left", "right"} and workers
        caught_up = subprocess.run([sys.executable, "-m", "renoise", "track", "tiny"], cwd=project, capture_output=True,
                                   text=True, timeout=300)
        assert caught_up.stdout.startswith("renoise: 11 runs logged, 0 already there"), caught_up.stderr
        _, found = tracked(project)
        assert sorted(found) == sorted(KEYS) and {r.data.tags["renoise.worker"] for r in found.values()} == workers
        assert_same_numbers(summary(project), summary(reference), 1e-5)
    finally:
        for process in reversed(started):
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=60)
    time.sleep(3)
    assert not new_processes(before)


@pytest.mark.cluster
def test_ctrl_c_on_a_local_cluster_stops_everything_and_leaves_nothing_half_written(tmp_path):
    """Ctrl-C in a terminal (SIGINT to the whole process group) while the comparison evaluates on a
    local cluster: the command says so and exits non-zero, no scheduler, worker or kernel outlives
    it, the interrupted run has no marker and no temporary file, every marker left matches its
    outputs, and running again completes."""
    import psutil

    project = tiny_project(tmp_path)
    before = {p.pid for p in psutil.process_iter()}
    # A background job (CI, `make test &`) inherits SIGINT ignored; a terminal's foreground job does not.
    errors = tmp_path / "stderr.txt"  # a file, not a pipe nobody reads while the run goes on
    with errors.open("w") as stderr:
        process = subprocess.Popen([sys.executable, "-m", "renoise", "run", "tiny", "--workers", "2", "--quiet"],
                                   cwd=project, stdout=subprocess.PIPE, stderr=stderr, text=True, start_new_session=True,
                                   preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        for line in process.stdout:
            if line.startswith("  run   compare "):
                wait_for_running_cell(project / "runs/tiny/compare/compare.ipynb", "evaluate_all(")
                break
        os.killpg(process.pid, signal.SIGINT)
        process.communicate(timeout=120)
    assert process.returncode != 0 and "renoise: interrupted" in errors.read_text()
    time.sleep(3)
    assert not new_processes(before)
    assert not (project / "runs/tiny/compare/_COMPLETE.json").exists()
    assert not [p for top in ("runs", "storage") for p in (project / top).rglob(".*.partial*")]
    assert run_states(project) == {**{key: "complete" for key in KEYS}, "compare": "missing"}
    result = renoise("run", "tiny", "--workers", "1", cwd=project)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "run   compare" in result.stdout and "skip  data" in result.stdout


#: ``--set backend=jax`` makes the experiment a point of its own (its folder under runs/ and storage/).
JAX = "backend=jax"
#: The tree on keras' JAX backend: the tiny head with one structure and one child, no t-SNE (7 runs).
JAX_TINY = TINY_HEAD + """\
structures:
  one_level: {epochs: 2, children: [0.25]}
compare: {tsne_sets: []}
"""
JAX_KEYS = ["data", "classifier", "one_level/001", "one_level/001/25/0001", "one_level/002", "one_level/002/25/0001",
            "compare"]


def jax_project(where):
    project = copy_project(where)
    (project / "experiments" / "tiny.yaml").write_text(JAX_TINY)
    return project


def parent_psnr(project, point="") -> dict[tuple, float]:
    """Each parent repetition's PSNR per test set, from ``summary.csv``'s rows of family ``parent``."""
    with open(project / "storage/tiny" / point / "summary.csv") as handle:
        return {(row["run"], row["set"]): float(row["value"]) for row in csv.DictReader(handle)
                if row["family"] == "parent" and row["metric"] == "psnr"}


@pytest.fixture(scope="module")
def on_jax(tmp_path_factory):
    """The JAX tree, one run after another, from a shell whose KERAS_BACKEND names another backend."""
    if importlib.util.find_spec("jax") is None:
        pytest.skip("keras' JAX backend is not installed (pip install -e \".[jax]\")")
    project = jax_project(tmp_path_factory.mktemp("jax"))
    result = renoise("run", "tiny", "--workers", "1", "--set", "backend=jax", cwd=project,
                     env={**os.environ, "KERAS_BACKEND": "torch"})
    assert result.returncode == 0, result.stderr[-3000:]
    return project, result


def test_the_tiny_tree_on_jax_ignores_the_shells_backend_and_marks_its_own(on_jax, finished):
    project, result = on_jax
    assert "KERAS_BACKEND=torch in your shell is ignored" in result.stderr
    found = [json.loads(p.read_text()) for p in (project / "runs" / "tiny").rglob("_COMPLETE.json")]
    assert sorted(m["key"] for m in found) == sorted(f"{JAX}/{key}" for key in JAX_KEYS)  # the point's runs
    assert {m["backend"] for m in found} == {"jax"}
    # the same parents (run keys, seeds, data) as the TensorFlow tree's: other rounding, other numbers, close PSNR
    ours, theirs = parent_psnr(project, JAX), parent_psnr(finished[0])
    assert len(ours) == 2 * 12 and ours.keys() <= theirs.keys()
    assert ours != {key: theirs[key] for key in ours}
    assert max(abs(ours[k] - theirs[k]) for k in ours) < 0.5  # the bound across backends


def test_the_tiny_tree_on_jax_gives_the_same_numbers_on_two_workers(on_jax, tmp_path):
    project = jax_project(tmp_path)
    result = renoise("run", "tiny", "--workers", "2", "--set", "backend=jax", cwd=project)
    assert result.returncode == 0, result.stderr[-3000:]
    assert_same_numbers(summary(project, JAX), summary(on_jax[0], JAX), 1e-5)
