"""The runner's bookkeeping with a stand-in for papermill: what runs, what is skipped, what heals,
how a failure ends its own branch while the rest goes on, and how a full disk ends the attempt."""

import errno
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from renoise import atomic
from renoise.pipeline import engine, markers, runner
import renoise.pipeline.config
import renoise.pipeline.plan
from renoise.errors import DiskFullError, LockedError, RunError
from renoise.pipeline.lock import ExperimentLock
from renoise.pipeline.markers import RunState
from renoise.pipeline.sources import expected_hashes


def plan_for(project, children=("0.25",), epochs=1, repetitions=1, name="t"):
    (project / "experiments" / f"{name}.yaml").write_text(
        f"repetitions: {repetitions}\nstructures: {{one_level: {{epochs: {epochs}, children: [{', '.join(children)}]}}}}\n")
    return renoise.pipeline.plan.plan(renoise.pipeline.config.load(project / "experiments" / f"{name}.yaml"))


def fake_engine(executed, fail=()):
    """Stand in for papermill: record the run, write its outputs (or fail for keys in ``fail``)."""

    def execute(run, root, threads=None, kernels=1):
        if run.key in fail:
            raise RunError(f"{run.key}: ValueError: boom (cell 3 of {root / run.run_dir / run.notebook})")
        executed.append(run.key)
        for path in run.outputs:
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            (root / path).write_bytes(np.random.default_rng(len(executed)).bytes(64))
        atomic.write_json(root / run.run_dir / "seen.json", run.parameters)

    return execute


def quiet(plan, project, name="t", **kw):
    return runner.run_plan(plan, project, name, log=lambda line: None, **kw)


def test_complete_runs_are_skipped_and_a_change_reruns_downstream(project, monkeypatch):
    executed = []
    monkeypatch.setattr(engine, "execute", fake_engine(executed))
    plan = plan_for(project)
    assert quiet(plan, project).executed == [r.key for r in plan]
    assert quiet(plan, project).executed == []
    executed.clear()
    changed = plan_for(project, epochs=2)  # the parent's parameters change
    assert quiet(changed, project).executed == ["one_level/001", "one_level/001/25/0001", "compare"] == executed


def test_a_truncated_model_and_a_flipped_data_byte_are_damaged_and_one_run_heals_them(project, monkeypatch):
    executed = []
    monkeypatch.setattr(engine, "execute", fake_engine(executed))
    plan = plan_for(project)
    quiet(plan, project)
    model = project / "runs/t/one_level/001/25/0001/model.keras"
    model.write_bytes(model.read_bytes()[:10])
    data = project / "storage/t/data/test.npz"
    content = bytearray(data.read_bytes())
    content[7] ^= 1
    data.write_bytes(bytes(content))
    state = markers.states(plan, project, expected_hashes(plan, project / "notebooks"))
    child = state["one_level/001/25/0001"]
    assert child.state is RunState.DAMAGED and "model.keras has changed size" in child.reason
    assert state["data"] == markers.Status(RunState.DAMAGED, "storage/t/data/test.npz differs from its marker (sha256)")
    assert state["classifier"].state is RunState.STALE  # downstream of the damage
    executed.clear()
    assert quiet(plan, project).executed == [r.key for r in plan]
    assert executed == [r.key for r in plan]  # rebuilt, and everything downstream run again, not skipped
    states = markers.states(plan, project, expected_hashes(plan, project / "notebooks"))
    assert {s.state for s in states.values()} == {RunState.COMPLETE}


class Tracker:
    """Stands in for the experiment tracker: what it hears from the runner, in order."""

    def __init__(self):
        self.heard = []

    def done(self, run, marker):
        self.heard.append((run.key, marker["hash"]))

    def rendered(self):
        self.heard.append("rendered")


def test_the_tracker_hears_of_each_run_executed_here_and_of_the_reports(project, monkeypatch):
    monkeypatch.setattr(engine, "execute", fake_engine([]))
    plan, tracker = plan_for(project), Tracker()
    hashes = expected_hashes(plan, project / "notebooks")
    quiet(plan, project, tracker=tracker, then=lambda: None)
    assert tracker.heard == [(run.key, hashes[run.key]) for run in plan] + ["rendered"]
    tracker.heard.clear()
    quiet(plan, project, tracker=tracker, then=lambda: None)
    assert tracker.heard == ["rendered"]  # nothing executed, nothing to log


def test_a_marker_that_is_not_json_reruns_its_run(project, monkeypatch):
    executed = []
    monkeypatch.setattr(engine, "execute", fake_engine(executed))
    plan = plan_for(project)
    quiet(plan, project)
    (project / "runs/t/classifier" / markers.MARKER).write_text("{half a marker")
    assert quiet(plan, project).executed == ["classifier", "compare"]


def test_a_failed_repetition_ends_its_branch_and_the_comparison_covers_the_rest(project, monkeypatch):
    executed = []
    monkeypatch.setattr(engine, "execute", fake_engine(executed, fail={"one_level/002"}))
    plan = plan_for(project, repetitions=3)
    outcome = quiet(plan, project)
    notebook = project / "runs/t/one_level/002/autoencoder.ipynb"
    assert outcome.failed == {"one_level/002": f"one_level/002: ValueError: boom (cell 3 of {notebook})"}
    assert outcome.blocked == {"one_level/002/25/0001": "its input one_level/002 did not complete"}
    assert "one_level/003/25/0001" in executed and "one_level/002/25/0001" not in executed
    assert outcome.partial and not outcome.ok and executed[-1] == "compare"
    seen = atomic.read_json(project / "runs/t/compare/seen.json")
    keys = [m["key"] for m in seen["models"]]
    assert keys == ["one_level/001", "one_level/001/25/0001", "one_level/003", "one_level/003/25/0001"]
    assert seen["repetitions"] == 3 and set(seen["input_hashes"]) == {"data", "classifier", *keys}
    # fixed: the missing branch runs, and the comparison again over every model
    monkeypatch.setattr(engine, "execute", fake_engine(executed))
    executed.clear()
    assert quiet(plan, project).executed == ["one_level/002", "one_level/002/25/0001", "compare"]


def test_the_comparison_does_not_run_without_the_classifier(project, monkeypatch):
    executed = []
    monkeypatch.setattr(engine, "execute", fake_engine(executed, fail={"classifier"}))
    rendered = []
    outcome = quiet(plan_for(project), project, then=lambda: rendered.append(True))
    assert outcome.blocked == {"compare": "its input classifier did not complete"} and not rendered
    assert executed == ["data", "one_level/001", "one_level/001/25/0001"]


def test_the_comparison_gets_its_inputs_hashes(project, monkeypatch):
    executed = []
    monkeypatch.setattr(engine, "execute", fake_engine(executed))
    plan = plan_for(project)
    quiet(plan, project)
    hashes = expected_hashes(plan, project / "notebooks")
    seen = atomic.read_json(project / "runs/t/compare/seen.json")
    assert seen["input_hashes"] == {k: hashes[k] for k in plan[-1].needs}
    assert markers.read_marker(project / "runs/t/compare")["hash"] == hashes["compare"]


def test_a_damaged_output_of_another_experiment_is_left_alone(project, monkeypatch):
    executed = []
    monkeypatch.setattr(engine, "execute", fake_engine(executed))
    quiet(plan_for(project, name="other"), project, name="other")
    model = project / "runs/other/one_level/001/model.keras"
    model.write_bytes(b"")
    quiet(plan_for(project), project)
    assert model.read_bytes() == b""


def test_a_retried_task_finds_its_own_marker_and_does_not_run_again(project, monkeypatch):
    executed = []
    monkeypatch.setattr(engine, "execute", fake_engine(executed))
    plan = plan_for(project)
    hashes = expected_hashes(plan, project / "notebooks")
    runner.execute_task(runner.task_for(plan[0], hashes, project, {}, "attempt-1"))
    task = runner.task_for(plan[1], hashes, project, {}, "attempt-1")
    first = runner.execute_task(task)
    assert runner.execute_task(task) == first and executed == ["data", "classifier"]  # retried or duplicated
    # an older marker with the same hash does not count: its input may have been rebuilt since
    runner.execute_task(runner.task_for(plan[1], hashes, project, {}, "attempt-2"))
    assert executed == ["data", "classifier", "classifier"]


def test_the_marker_says_where_the_run_ran(project, monkeypatch):
    import socket

    monkeypatch.setattr(engine, "execute", fake_engine([]))
    quiet(plan_for(project), project)
    marker = markers.read_marker(project / "runs/t/classifier")
    assert marker["host"] == socket.gethostname() and marker["worker"] == "local"


def test_a_dead_kernel_is_one_line(project, monkeypatch):
    import papermill

    def dies(*args, **kwargs):
        raise RuntimeError("Kernel died before replying to kernel_info\nmore detail")

    monkeypatch.setattr(papermill, "execute_notebook", dies)
    died = r"^data: the notebook could not finish: RuntimeError: Kernel died before replying to kernel_info \(see "
    with pytest.raises(RunError, match=died):
        engine.execute(plan_for(project)[0], project)


#: The model file whose save finds the disk full, and the file system it is on.
MODEL = "/scratch/runs/t/one_level/001/model.keras"


@pytest.mark.parametrize("error, where", [
    (DiskFullError(f"no space left on /scratch while writing {MODEL}"), "/scratch"),  # renoise.atomic's
    (OSError(errno.ENOSPC, "No space left on device", MODEL), "/"),  # any other writer's: /scratch is not a mount here
])
def test_a_full_disk_ends_the_attempt_in_one_line_and_the_next_run_resumes(project, monkeypatch, error, where):
    executed = []
    plan = plan_for(project)  # data, classifier, one_level/001, its child, compare
    writes = fake_engine(executed)

    def full(run, root, **kw):
        if run.key == "one_level/001":
            raise error
        writes(run, root, **kw)

    monkeypatch.setattr(engine, "execute", full)
    with pytest.raises(DiskFullError) as raised:
        runner.run_plan(plan, project, "t", log=lambda line: None)
    assert str(raised.value) == (f"no space left on {where} while writing {MODEL}; 2 of 5 runs complete: "
                                 "free space there, then run again to resume")
    assert executed == ["data", "classifier"]  # nothing after it started
    monkeypatch.setattr(engine, "execute", writes)
    outcome = runner.run_plan(plan, project, "t", log=lambda line: None)
    assert outcome.ok and executed[2:] == ["one_level/001", "one_level/001/25/0001", "compare"]


def test_a_full_disk_in_a_cell_is_one_line_naming_its_file_system_and_other_errors_name_the_cell(project):
    from papermill.exceptions import PapermillExecutionError

    run, output = plan_for(project)[2], project / "runs/t/one_level/001/autoencoder.ipynb"

    def cell(ename, evalue):
        return engine.cell_error(run, output, PapermillExecutionError(4, 4, "...", ename, evalue, []))

    ours = cell("DiskFullError", f"no space left on /scratch while writing {MODEL}")
    theirs = cell("OSError", "[Errno 122] Disk quota exceeded")
    assert type(ours) is type(theirs) is DiskFullError and str(ours) == f"no space left on /scratch while writing {MODEL}"
    assert str(theirs) == (f"disk quota exceeded on {atomic.mount_point(output.parent)} while running one_level/001 "
                           "(OSError: [Errno 122] Disk quota exceeded)")
    other = cell("ValueError", "boom")
    assert type(other) is RunError and str(other) == f"one_level/001: ValueError: boom (cell 4 of {output})"


def test_a_full_disk_saving_the_executed_notebook_is_one_line_and_leaves_no_file(project, monkeypatch):
    """Papermill saves the notebook before its kernel starts, atomically here: the save that finds
    the disk full raises the one line and leaves neither the notebook nor a temporary file."""
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    run = plan_for(project)[0]
    monkeypatch.setattr(atomic.Path, "write_bytes", full)
    output = project / run.run_dir / run.notebook
    with pytest.raises(DiskFullError) as raised:
        engine.execute(run, project)
    assert str(raised.value) == f"no space left on {atomic.mount_point(project)} while writing {output}"
    assert list(output.parent.iterdir()) == []


def test_thread_settings_reach_the_kernel_and_are_restored(monkeypatch):
    import os

    import renoise

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("RENOISE_OP_THREADS", raising=False)
    with engine.environment(engine.thread_settings(3, op_threads=1)):
        assert os.environ["OMP_NUM_THREADS"] == os.environ["TF_NUM_INTEROP_THREADS"] == os.environ["RENOISE_THREADS"] == "3"
        assert os.environ["TF_NUM_INTRAOP_THREADS"] == os.environ["RENOISE_OP_THREADS"] == "1"
        assert renoise.threads() == 3 and renoise.op_threads() == 1
    assert "OMP_NUM_THREADS" not in os.environ and "RENOISE_OP_THREADS" not in os.environ
    # the sequential executor gives the kernel every core, and the run still its own threads per op
    assert engine.thread_settings(None, op_threads=2) == {"RENOISE_OP_THREADS": "2", "TF_NUM_INTRAOP_THREADS": "2"}


def test_a_second_pipeline_is_told_who_holds_the_lock(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import time
        from pathlib import Path
        from renoise.pipeline.lock import ExperimentLock
        with ExperimentLock(Path({str(tmp_path)!r}), "quick"):
            print("held", flush=True)
            time.sleep(60)
    """)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(LockedError, match=f"experiment 'quick' is being run by pid {holder.pid} on "):
            with ExperimentLock(tmp_path, "quick"):
                pass
    finally:
        holder.kill()
        holder.wait()
    with ExperimentLock(tmp_path, "quick"):  # a killed holder releases it
        assert (tmp_path / ".lock.json").exists()
    assert not (tmp_path / ".lock.json").exists()


def test_the_kernel_is_registered_with_quiet_deterministic_tensorflow():
    from jupyter_client.kernelspec import KernelSpecManager

    import renoise

    assert engine.ensure_kernel() == "renoise"
    spec = KernelSpecManager().get_kernel_spec("renoise")
    assert spec.argv[:2] == ["/bin/sh", "-c"] and spec.argv[3:] == [sys.executable, "{connection_file}"]
    assert "ipykernel_launcher" in spec.argv[2] and 'exec 2>>"$RENOISE_KERNEL_LOG"' in spec.argv[2]
    assert spec.env == {**renoise.TF_ENVIRONMENT, "MPLBACKEND": "module://matplotlib_inline.backend_inline"}


@pytest.mark.parametrize("log", [None, "kernel log.txt"])
def test_the_kernel_command_sends_stderr_to_the_log_only_where_one_is_named(tmp_path, log):
    """The shell line of the kernel spec, with ``echo`` for python: stderr goes to the named log,
    else stays where it was (even a socket, which cannot be reopened by path)."""
    import socket

    script = tmp_path / "fake_python"
    script.write_text('#!/bin/sh\necho "to stderr" >&2\n')
    script.chmod(0o755)
    env = {"PATH": os.environ["PATH"], **({"RENOISE_KERNEL_LOG": str(tmp_path / log)} if log else {})}
    left, right = socket.socketpair()
    with left, right:
        done = subprocess.run(["/bin/sh", "-c", engine.KERNEL_COMMAND, str(script), "connection.json"], env=env,
                              stderr=right.fileno(), timeout=30)
        right.close()
        left.settimeout(5)
        received = left.recv(100) if not log else b""
    assert done.returncode == 0
    if log:
        assert (tmp_path / log).read_text() == "to stderr\n"
    else:
        assert received == b"to stderr\n"


def test_project_root_is_found_from_below(project, tmp_path):
    from renoise.paths import project_root

    assert project_root(project / "notebooks") == project
    with pytest.raises(RunError, match="not inside a renoise project"):
        project_root(tmp_path)


def test_project_root_is_the_project_above_a_runs_folder_linked_to_scratch_storage(project, tmp_path):
    from renoise.paths import project_root

    scratch = tmp_path / "scratch" / "quick"  # outside the project: its resolved path has no project above
    (scratch / "one_level" / "001").mkdir(parents=True)
    (project / "runs").mkdir(exist_ok=True)
    (project / "runs" / "quick").symlink_to(scratch, target_is_directory=True)
    run_dir = project / "runs" / "quick" / "one_level" / "001"
    assert project_root(run_dir) == project
    with pytest.raises(RunError, match="not inside a renoise project"):
        project_root(run_dir.resolve())
