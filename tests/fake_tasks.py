"""Fast stand-ins for :func:`renoise.pipeline.runner.execute_task`, for the executor tests: no papermill, no kernel.

Worker processes import this module by name (they inherit the test process's ``sys.path`` and
``PYTHONPATH``), so everything here is defined at module level. What a task does is steered by
``fake.json`` in the task's project root, which every worker sees: ``{"sleep": seconds,
"fail": [keys], "full": [keys]}`` (``full``: the run finds the disk full). Each task leaves ``started.json`` in its run folder (when, which process, which
worker, and whether each input's marker existed at that moment) and, on success, a real marker.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from renoise import atomic
from renoise.pipeline import markers
from renoise.errors import DiskFullError, RunError
from renoise.pipeline.runner import worker_name


def run_folder(task, key: str | None = None) -> Path:
    """The run folder of ``key`` (default: the task's own run) in the task's project."""
    own = task.run.run_dir
    base = own[: len(own) - len(task.run.key)]  # runs/<experiment>/
    return Path(task.root) / f"{base}{key or task.run.key}"


def _control(task) -> dict:
    path = Path(task.root) / "fake.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _finish(task, **facts) -> dict:
    run_dir = run_folder(task)
    atomic.write_text(run_dir / "output.txt", task.run.key)
    markers.write_marker(run_dir, Path(task.root), key=task.run.key, hash=task.hash,
                         outputs=[str((run_dir / "output.txt").relative_to(task.root))], **facts)
    return markers.read_marker(run_dir)


def record(task, *inputs) -> dict:
    """Note the start (and which input markers exist then), sleep, fail or find the disk full where
    told, write a marker."""
    control = _control(task)
    name, _ = worker_name()
    run_dir = run_folder(task)
    run_dir.mkdir(parents=True, exist_ok=True)
    seen = {k: (run_folder(task, k) / markers.MARKER).is_file() for k in task.run.needs}
    atomic.write_json(run_dir / "started.json", {"time": time.time(), "pid": os.getpid(), "worker": name,
                                                  "inputs_seen": seen, "inputs_given": [m["key"] for m in inputs]})
    time.sleep(control.get("sleep", 0.0))
    if task.run.key in control.get("fail", []):
        raise RunError(f"{task.run.key}: told to fail")
    if task.run.key in control.get("full", []):
        raise DiskFullError(f"no space left on {task.root} while writing {run_dir / 'model.keras'}")
    return _finish(task, worker=name, pid=os.getpid(), ended=time.time())


def stubborn(task, *inputs) -> dict:
    """The first attempt of the run named in ``fake.json``'s ``"victim"`` waits (up to a minute) to be
    killed; a first attempt of any other run finishes at once, a later one (dask computing a lost
    result again) after ``"again"`` seconds. Attempts append their pid and worker to
    ``attempts.txt`` in the run folder."""
    control = _control(task)
    name, _ = worker_name()
    run_dir = run_folder(task)
    run_dir.mkdir(parents=True, exist_ok=True)
    attempts = run_dir / "attempts.txt"
    first = not attempts.exists()
    with open(attempts, "a") as handle:
        handle.write(f"{os.getpid()} {name}\n")
    if first and task.run.key == control.get("victim"):
        time.sleep(60)
    elif not first:
        time.sleep(control.get("again", 0.0))
    return _finish(task, worker=name, pid=os.getpid())


def cli(argv: list[str]) -> int:
    """``python -m renoise`` with :func:`stubborn` in place of the runner's task: the real command
    line, plan, markers, executors and lock, without notebooks. Run it as ``python -c "import sys,
    fake_tasks; sys.exit(fake_tasks.cli(sys.argv[1:]))" run EXPERIMENT ...`` so that the task
    travels to workers by this module's name."""
    from renoise import cli as command_line
    from renoise.pipeline import runner

    runner.execute_task = stubborn
    return command_line.main(argv)


def elsewhere() -> None:
    """Run on one worker: from now on it sees the file system as a worker on another machine
    would, with everything under another root, and so cannot find the probe of the shared-folder
    check (the real check, :func:`renoise.pipeline.executors._sees`, still does the reading)."""
    from renoise.pipeline import executors

    real = executors._sees
    executors._sees = lambda path, token: real(f"/elsewhere{path}", token)


def blind(path: str, token: str) -> bool:
    """The shared-folder check of a worker that sees none of this machine's files."""
    return False
