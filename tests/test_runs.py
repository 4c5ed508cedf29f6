"""Atomic files, safe loads, completion markers, staleness, the lock and the runner's bookkeeping."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from renoise import atomic, experiment, runs
from renoise.errors import DataError, LockedError, RunError


def test_atomic_files_are_readable_by_others(tmp_path):
    previous = os.umask(0o022)
    try:
        atomic.write_text(tmp_path / "report.html", "<p>shared</p>")
    finally:
        os.umask(previous)
    assert (tmp_path / "report.html").stat().st_mode & 0o777 == 0o644


def test_atomic_write_leaves_no_partial_file(tmp_path):
    target = tmp_path / "out.json"
    atomic.write_json(target, {"a": np.float32(1.5), "b": np.arange(2)})
    assert atomic.read_json(target) == {"a": 1.5, "b": [0, 1]}
    with pytest.raises(RuntimeError):
        with atomic.atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert atomic.read_json(target) == {"a": 1.5, "b": [0, 1]}  # the old file is intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]


def test_sweep_removes_what_a_killed_writer_left(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / ".model.keras.x1y2.partial.keras").write_text("half")
    (tmp_path / "a" / "keep.json").write_text("{}")
    assert atomic.sweep(tmp_path) == 1 and atomic.sweep(tmp_path / "absent") == 0
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == ["keep.json"]


def test_object_arrays_are_never_written(tmp_path):
    with pytest.raises(TypeError, match="dtype object"):
        atomic.save_arrays(tmp_path / "x.npz", bad=np.array([{"a": 1}], dtype=object))
    assert not (tmp_path / "x.npz").exists()


class Payload:
    """Unpickling this would create a file: proof that code ran."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_a_pickle_bearing_npz_in_storage_is_refused_not_executed(tmp_path):
    proof = tmp_path / "code_ran"
    planted = tmp_path / "storage" / "evaluations" / "x" / "arrays.npz"
    planted.parent.mkdir(parents=True)
    np.savez(planted, samples=np.array([Payload(str(proof))], dtype=object))  # numpy pickles object arrays
    assert not proof.exists() and b"code_ran" in planted.read_bytes()
    with pytest.raises(DataError, match="holds pickled objects"):
        atomic.load_arrays(planted)
    assert not proof.exists()


def test_a_bare_npy_or_a_web_page_is_not_an_archive(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros(3))
    with pytest.raises(DataError, match="x.npy: not an .npz archive"):
        atomic.load_arrays(tmp_path / "x.npy")
    (tmp_path / "mnist.npz").write_text("<html>404 Not Found</html>")
    with pytest.raises(DataError, match="mnist.npz: not a readable .npz"):
        atomic.load_arrays(tmp_path / "mnist.npz")


def test_read_json_names_bad_files(tmp_path):
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(DataError, match="bad.json: not valid JSON"):
        atomic.read_json(tmp_path / "bad.json")


def plan_for(project, children=("0.25",), epochs=1):
    (project / "experiments" / "t.yaml").write_text(
        f"structures: {{one_level: {{epochs: {epochs}, children: [{', '.join(children)}]}}}}\n")
    return experiment.plan(experiment.load(project / "experiments" / "t.yaml"))


def fake_executor(executed):
    """Stand in for papermill: record the run and write its folder and outputs."""

    def execute(run, root, progress=True):
        executed.append(run.key)
        (root / run.parameters["run_dir"]).mkdir(parents=True, exist_ok=True)
        for path in run.outputs:
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            (root / path).write_text("artifact")

    return execute


def test_run_plan_skips_complete_runs_and_reruns_downstream(project, monkeypatch):
    executed = []
    monkeypatch.setattr(runs, "execute", fake_executor(executed))
    plan = plan_for(project)
    assert runs.run_plan(plan, project, "t", log=lambda line: None) == [r.key for r in plan]
    assert set(runs.states(plan, project).values()) == {"complete"}
    assert runs.run_plan(plan, project, "t", log=lambda line: None) == []

    changed = plan_for(project, epochs=2)  # the parent's parameters change
    assert runs.states(changed, project)["one_level/001"] == "stale"
    assert runs.run_plan(changed, project, "t", log=lambda line: None) == ["one_level/001", "one_level/001/25/0001", "compare"]

    (project / "runs/t/classifier" / runs.MARKER).unlink()  # a run lost: it and its dependants rerun
    state = runs.states(changed, project)
    assert state["classifier"] == "missing" and state["compare"] == "stale" and state["one_level/001"] == "complete"
    (project / "storage/t/data/test.npz").unlink()  # a cache cleared by hand: the data run and all after it
    state = runs.states(changed, project)
    assert state["data"] == "missing" and set(state.values()) == {"missing", "stale"}


def test_a_change_to_the_library_changes_every_hash(project, monkeypatch):
    plan = plan_for(project)
    before = runs.expected_hashes(plan, project / "notebooks")
    monkeypatch.setattr(runs, "library_hash", lambda: "edited")
    after = runs.expected_hashes(plan, project / "notebooks")
    assert all(before[key] != after[key] for key in before)


def test_editing_a_notebook_reruns_its_runs(project, monkeypatch):
    executed = []
    monkeypatch.setattr(runs, "execute", fake_executor(executed))
    plan = plan_for(project)
    runs.run_plan(plan, project, "t", log=lambda line: None)
    notebook = project / "notebooks" / "classifier.ipynb"
    notebook.write_text(notebook.read_text().replace("epochs=epochs", "epochs=epochs + 0"))
    assert runs.run_plan(plan, project, "t", log=lambda line: None) == ["classifier", "compare"]


def test_a_failed_run_writes_no_marker(project, monkeypatch):
    succeed = fake_executor([])

    def failing(run, root, progress=True):
        if run.key == "classifier":
            raise RunError("classifier: ValueError: boom (cell 3 of x.ipynb)")
        succeed(run, root, progress)

    monkeypatch.setattr(runs, "execute", failing)
    plan = plan_for(project)
    with pytest.raises(RunError, match="boom"):
        runs.run_plan(plan, project, "t", log=lambda line: None)
    state = runs.states(plan, project)
    assert state["data"] == "complete" and state["classifier"] == "missing"


def test_a_dead_kernel_is_one_line(project, monkeypatch):
    import papermill

    def dies(*args, **kwargs):
        raise RuntimeError("Kernel died before replying to kernel_info\nmore detail")

    monkeypatch.setattr(papermill, "execute_notebook", dies)
    with pytest.raises(RunError, match=r"^data: the notebook could not finish: RuntimeError: Kernel died before replying to kernel_info \(see "):
        runs.execute(plan_for(project)[0], project, progress=False)


def test_require_complete(tmp_path):
    with pytest.raises(RunError, match="parent run .* is missing"):
        runs.require_complete(tmp_path / "absent", "parent run")
    (tmp_path / "half").mkdir()
    with pytest.raises(RunError, match="is incomplete"):
        runs.require_complete(tmp_path / "half", "parent run")
    atomic.write_json(tmp_path / "half" / runs.MARKER, {"hash": "x"})
    assert runs.require_complete(tmp_path / "half") == tmp_path / "half"


def test_project_root_is_found_from_below(project, tmp_path):
    assert runs.project_root(project / "notebooks") == project
    with pytest.raises(RunError, match="not inside a renoise project"):
        runs.project_root(tmp_path)


def test_a_second_pipeline_is_told_who_holds_the_lock(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        from renoise.runs import ExperimentLock
        with ExperimentLock(Path({str(tmp_path)!r}), "quick"):
            print("held", flush=True)
            time.sleep(60)
    """)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(LockedError, match=f"experiment 'quick' is being run by pid {holder.pid} on "):
            with runs.ExperimentLock(tmp_path, "quick"):
                pass
    finally:
        holder.kill()
        holder.wait()
    with runs.ExperimentLock(tmp_path, "quick"):  # a killed holder releases it
        assert (tmp_path / ".lock.json").exists()
    assert not (tmp_path / ".lock.json").exists()


def test_the_kernel_is_registered_with_quiet_deterministic_tensorflow():
    from jupyter_client.kernelspec import KernelSpecManager

    import renoise

    assert runs.ensure_kernel() == "renoise"
    spec = KernelSpecManager().get_kernel_spec("renoise")
    assert spec.argv[0] == sys.executable
    assert spec.env == {**renoise.TF_ENVIRONMENT, "MPLBACKEND": "module://matplotlib_inline.backend_inline"}
