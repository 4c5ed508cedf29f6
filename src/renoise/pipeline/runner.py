"""Bringing an experiment up to date: which runs must execute, handed to an executor, under the lock.

The runner decides *what* runs (hashes and markers, :mod:`renoise.pipeline.markers`); an executor
(:mod:`renoise.pipeline.executors`) decides *where*: in this process, one after another, or on the workers
of a dask cluster. Every run reads its inputs from run folders and writes only its own, so a task
is self-contained: :func:`execute_task` runs on whichever process receives it.

A failed run ends its own branch; independent branches go on. The comparison runs last, over the
models whose runs completed, so a failed repetition leaves the others usable and the report says
how many repetitions each model has. A full disk or a lost scheduler ends the whole attempt with
one line saying how many runs are complete (:mod:`renoise.pipeline.stops`); the next run resumes.
"""

from __future__ import annotations

import dataclasses
import socket
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from renoise import atomic
from renoise.pipeline import engine, markers, progress, sources, stops
from renoise.science import backend as backends
from renoise.pipeline.plan import Run, restrict
from renoise.pipeline.lock import ExperimentLock
from renoise.pipeline.markers import RunState
from renoise.pipeline.memory import PeakMemory

#: The module whose code (with everything it imports) keys the evaluation cache.
EVALUATION = "renoise.report.evaluation"


@dataclass(frozen=True)
class Task:
    """One run as an executor receives it: the run with the parameters its notebook gets, the hash
    its marker must hold, the project root as every worker sees it, the CPU threads its kernel
    may use on each worker (by worker address; none: every core), and the attempt it belongs to
    (one per :func:`run_plan`), which tells a retried task from an old result."""

    run: Run
    hash: str
    root: str
    threads: dict[str, int] = field(default_factory=dict)
    attempt: str = ""


def worker_name() -> tuple[str, str | None]:
    """``(name, address)`` of the dask worker running this code, or ``("local", None)``."""
    if "distributed" in sys.modules:
        from distributed import get_worker

        try:
            worker = get_worker()
            return str(worker.name), worker.address
        except ValueError:  # not inside a worker
            pass
    return "local", None


def execute_task(task: Task, *inputs) -> dict:
    """Execute one run where this is called and return its marker.

    ``inputs`` are the markers of the runs it needs (passed by the executor only to order the
    tasks). Idempotent within an attempt: a task whose marker this attempt already wrote, with
    intact outputs, returns at once, so a task retried after its worker died, or submitted twice,
    never runs twice; an older marker (of a run whose input was rebuilt) does not count.
    """
    root = Path(task.root)
    run_dir = root / task.run.run_dir
    if markers.status(run_dir, root, task.hash).state is RunState.COMPLETE and \
            markers.read_marker(run_dir).get("attempt") == task.attempt:
        return markers.read_marker(run_dir)
    name, address = worker_name()
    host = socket.gethostname()
    # a worker restarted after a crash has a new address: it gets the smallest share
    threads = task.threads.get(address, min(task.threads.values(), default=None)) if address else None
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / markers.MARKER).unlink(missing_ok=True)
    progress.announce(run_dir, host=host, worker=name)
    start = time.perf_counter()
    with PeakMemory() as memory:
        engine.execute(task.run, root, threads=threads, kernels=kernels_beside(address, task.threads))
    peak_mb = None if memory.peak is None else round(memory.peak / 2**20)
    atomic.write_json(run_dir / "parameters.json", task.run.parameters)
    markers.write_marker(run_dir, root, key=task.run.key, hash=task.hash, outputs=task.run.outputs,
                         seconds=round(time.perf_counter() - start, 1), peak_memory_mb=peak_mb, host=host,
                         worker=name, threads=threads, op_threads=task.run.threads, backend=task.run.backend,
                         determinism=backends.DETERMINISM[task.run.backend], attempt=task.attempt)
    progress.retire(run_dir)
    return markers.read_marker(run_dir)


def kernels_beside(address: str | None, workers) -> int:
    """How many kernels run on the host of the worker at ``address`` (one per worker there, among
    the ``workers`` addresses): on one GPU they share its memory. 1 outside a cluster."""
    if not address:
        return 1
    host = address.rsplit(":", 1)[0]
    return max(1, sum(1 for other in workers if other.rsplit(":", 1)[0] == host))


@dataclass
class Outcome:
    """What :func:`run_plan` did: the keys it executed, the runs that failed (key -> one-line
    message), the runs that could not start because an input failed (key -> why), and whether the
    comparison left out models whose runs failed."""

    executed: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    blocked: dict[str, str] = field(default_factory=dict)
    partial: bool = False

    @property
    def ok(self) -> bool:
        return not self.failed and not self.blocked


def task_for(run: Run, hashes: dict[str, str], root: Path, threads: dict[str, int], attempt: str = "",
             local: dict[str, str] | None = None) -> Task:
    """The task of ``run``: the comparison also receives its inputs' hashes, by the keys it knows
    them by (``local``: a grid's plan key -> the key within its point), and the evaluation code's
    hash: its cache keys, computed here so that the evaluation never imports the hashing code."""
    if run.is_comparison:
        local = local or {}
        run = dataclasses.replace(run, parameters={**run.parameters, "evaluation_code": sources.module_hash(EVALUATION),
                                                   "input_hashes": {local.get(k, k): hashes[k] for k in run.needs}})
    return Task(run, hashes[run.key], str(root), threads, attempt)


def run_plan(plan: list[Run], root: Path, name: str, *, executor=None, log: Callable[[str], None] | None = None,
             board: progress.Board | None = None, then: Callable[[], None] | None = None, tracker=None) -> Outcome:
    """Bring every run of ``plan`` up to date under the experiment lock and return the :class:`Outcome`.

    Complete runs are skipped; stale, damaged and missing ones run through ``executor`` (default:
    :class:`~renoise.pipeline.executors.Sequential`), the comparison last, over whatever completed.
    ``board`` shows progress (default: plain lines to ``log``). ``then`` (rendering the reports,
    say) runs afterwards, still under the lock, if the comparison ran or was up to date. A full
    disk or a lost scheduler raises the one-line error of :func:`renoise.pipeline.stops.stopped`.
    ``tracker`` (a :class:`~renoise.pipeline.tracker.Tracker`, or ``None``) hears of each run this
    process sees complete, and of ``then`` having run: workers never write to it.
    """
    from renoise.pipeline.executors import Sequential

    executor = executor or Sequential()
    board = board or progress.Board(root, plan, log=log or print, live=False)
    with ExperimentLock(root / "runs" / name, name):
        swept = sum(atomic.sweep(root / top / name) for top in ("runs", "storage", "reports"))
        if swept:
            board.log(f"  removed {swept} temporary files left by an interrupted run")
        attempt = Attempt(plan, root, executor, board, tracker)
        try:
            executor.prepare(root / "runs" / name)
            attempt.run()
        except Exception as error:
            stop = stops.as_stop(error)
            if stop is None:
                raise
            raise stops.stopped(stop, attempt.count_complete(), len(plan)) from None
        if then is not None and attempt.comparison_ready():
            then()
            if tracker is not None:
                tracker.rendered()
        return attempt.outcome


class Attempt:
    """One pass of :func:`run_plan` over a plan: its hashes and states, the tasks it hands to the
    executor, and its :class:`Outcome`. Tasks carry the attempt's id, so a retried task knows its
    own marker from an older one."""

    def __init__(self, plan: list[Run], root: Path, executor, board, tracker=None):
        self.plan, self.root, self.executor, self.board, self.tracker = plan, root, executor, board, tracker
        self.hashes = sources.expected_hashes(plan, root / "notebooks")
        self.state = markers.states(plan, root, self.hashes)
        self.outcome = Outcome()
        self.id = uuid.uuid4().hex
        self.local = {run.key: run.local_key for run in plan}  # a grid's plan keys -> keys within a point

    def complete(self, key: str) -> bool:
        return self.state[key].state is RunState.COMPLETE or key in self.outcome.executed

    def count_complete(self) -> int:
        """How many runs of the plan are complete now, by their markers (read again: a run may
        have completed on a worker after the executor last reported)."""
        now = markers.states(self.plan, self.root, self.hashes)
        return sum(status.state is RunState.COMPLETE for status in now.values())

    def run(self) -> None:
        """Skip what is complete, execute the rest, the comparison last."""
        for run in self.plan:
            if self.complete(run.key):
                self.board.log(f"  skip  {run.key:<36} complete")
        pending = [run for run in self.plan if not self.complete(run.key)]
        with self.board.watch(pending, dashboard=self.executor.dashboard):
            self.execute([run for run in pending if not run.is_comparison])
            comparisons = [self.prepare_comparison(run) for run in pending if run.is_comparison]
            self.execute([run for run in comparisons if run is not None])

    def execute(self, runs: list[Run]) -> None:
        """Hand ``runs`` to the executor; record each result in the outcome and on the board."""
        for run in runs:
            progress.retire(self.root / run.run_dir)  # a notice left by a killed run is not a start
        by_key = {run.key: run for run in runs}
        threads = self.executor.threads_by_worker()
        tasks = [task_for(run, self.hashes, self.root, threads, self.id, self.local) for run in runs]
        self.executor.run(tasks, execute_task, lambda key, *result, **kw: self.record(by_key[key], *result, **kw))

    def record(self, run: Run, marker: dict | None, error: BaseException | None, blocked_by: str | None = None) -> None:
        """One task's result: done (and tracked), failed (its message names the executed notebook),
        or blocked."""
        key = run.key
        if blocked_by is not None:
            self.outcome.blocked[key] = f"its input {blocked_by} did not complete"
            self.board.blocked(key, self.outcome.blocked[key])
        elif error is not None:
            notebook = f"{run.run_dir}/{run.notebook}"
            message = str(error)
            self.outcome.failed[key] = message if notebook in message else f"{message} (see {notebook})"
            self.board.failed(key, self.outcome.failed[key])
        else:
            self.outcome.executed.append(key)
            self.board.done(key, marker)
            if self.tracker is not None:
                self.tracker.done(run, marker)

    def prepare_comparison(self, comparison: Run) -> Run | None:
        """The comparison over every model run that is complete, or ``None`` (recorded as blocked)
        where it cannot run: its data or classifier, or every model, did not complete."""
        names = {m["key"] for m in comparison.parameters["models"]}
        models = [k for k in comparison.needs if self.local[k] in names]
        essential = [k for k in comparison.needs if k not in models and not self.complete(k)]
        if essential or not any(self.complete(k) for k in models):
            self.record(comparison, None, None, blocked_by=(essential or models)[0])
            return None
        if not all(self.complete(k) for k in models):
            comparison = restrict(comparison, {k for k in comparison.needs if self.complete(k)}, self.local)
            self.hashes[comparison.key] = sources.expected_hash(comparison, self.root / "notebooks", self.hashes)
            self.outcome.partial = True
        return comparison

    def comparison_ready(self) -> bool:
        """Whether every comparison ran in this attempt or was already up to date."""
        comparisons = [run.key for run in self.plan if run.is_comparison]
        return bool(comparisons) and all(self.complete(key) for key in comparisons)
