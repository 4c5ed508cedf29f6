"""Executors: where the runs of a plan execute. One small interface, two engines.

:class:`Sequential` runs each task in this process, in plan order. :class:`Dask` hands them to a
dask.distributed cluster: a :class:`~distributed.LocalCluster` of worker processes on this
machine, or an existing scheduler (``dask scheduler`` with ``dask worker``s, or dask-jobqueue on
SLURM). Every pending run is submitted at once with the futures of its inputs as arguments, which
is the dependency: a child starts as soon as its parent is done, siblings run side by side.

Both report each task's result as it arrives (its marker, the error that ended it, or the input
whose failure kept it from starting). A failed run ends its own branch only; a full disk, or a
scheduler that goes away, ends the attempt (:mod:`renoise.pipeline.stops`). Who may reach a cluster
is :mod:`renoise.pipeline.security`'s; how many workers a machine holds, :mod:`renoise.pipeline.sizing`'s.

Pitfalls handled here (dask's and papermill's trackers, DESIGN §6): a worker has one thread, since
papermill changes the working directory of its process; worker processes are daemonic, so the
notebook's kernel is started with ``Popen`` (papermill), never ``multiprocessing``; resources are
labels, so a run asks for ``GPU`` only where a worker declares one (a request nobody can serve
would wait forever); and the runner checks that every worker sees the project folder.
"""

from __future__ import annotations

import importlib.util
import logging
import uuid
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Callable

from renoise.errors import RunError, first_line
from renoise.pipeline import sizing
from renoise.pipeline.security import LOCAL_DASHBOARD
from renoise.pipeline.stops import SchedulerLost, as_stop

#: ``on_result(key, marker, error, blocked_by)``: one call per task, as its result arrives.
OnResult = Callable[..., None]
#: Seconds to wait for the first worker of a cluster to join its scheduler.
WORKER_TIMEOUT = 120


class Executor(ABC):
    """Runs the tasks of a plan (see :class:`renoise.pipeline.runner.Task`), inputs before the runs that read them."""

    #: The address of a live dashboard, where the engine has one.
    dashboard: str | None = None

    def __enter__(self) -> "Executor":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Release what the executor started (a cluster, say)."""

    def prepare(self, folder: Path) -> None:
        """Check, before anything runs, that the executor can run tasks that write to ``folder``."""

    def threads_by_worker(self) -> dict[str, int]:
        """CPU threads for the kernel of a task on each worker, by worker address (empty: every core)."""
        return {}

    @abstractmethod
    def run(self, tasks: list, function: Callable, on_result: OnResult) -> None:
        """Execute ``function(task, *input_results)`` for every task and hand each result to ``on_result``.

        A task whose input failed is not executed: it is reported with ``blocked_by`` naming the
        input. :class:`RunError` from a task is its failure; any other exception propagates (a full
        disk among them, which ends the attempt: see :mod:`renoise.pipeline.stops`).
        """


class Sequential(Executor):
    """Every task in this process, in plan order: today's behaviour without ``--workers``."""

    def run(self, tasks: list, function: Callable, on_result: OnResult) -> None:
        unfinished: set[str] = set()
        for task in tasks:
            key = task.run.key
            blocked = [k for k in task.run.needs if k in unfinished]
            if blocked:
                unfinished.add(key)
                on_result(key, None, None, blocked_by=blocked[0])
                continue
            try:
                marker = function(task)
            except RunError as exc:
                unfinished.add(key)
                on_result(key, None, exc)
            else:
                on_result(key, marker, None)


class Dask(Executor):
    """Tasks on a dask.distributed cluster: ``workers`` local worker processes, or the cluster at
    ``scheduler`` (an address such as ``tcp://10.0.0.5:8786``).

    Each local worker has one thread and runs one notebook at a time; its kernel gets the cores
    the worker may use divided among the workers on that machine that share them. A worker that dies mid-run has its
    task rescheduled on another worker by dask; the task then finds no marker and runs again. A
    scheduler that dies takes every pending task with it: :meth:`run` raises :class:`SchedulerLost`.
    """

    def __init__(self, *, workers: int | None = None, scheduler: str | None = None,
                 dashboard_address: str | None = LOCAL_DASHBOARD, security=None):
        from distributed import Client, LocalCluster

        if (workers is None) == (scheduler is None):
            raise ValueError("give either workers or scheduler")
        self.cluster = None
        self.scheduler = scheduler
        if scheduler is None:
            # The scheduler's HTTP server runs whatever is asked (it also serves health checks), on
            # 8787 by default; bokeh's dashboard only where bokeh (the ``cluster`` extra) is installed.
            # Without it, or when no dashboard is wanted, keep the server on a free local port.
            if not (dashboard_address and importlib.util.find_spec("bokeh")):
                dashboard_address = "127.0.0.1:0"
            # host: the scheduler and workers listen on loopback only, since anyone who reaches them runs code
            self.cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                                        dashboard_address=dashboard_address, scheduler_port=0)
            try:
                self.client = Client(self.cluster)
            except BaseException:
                self.cluster.close()
                raise
        else:
            try:  # waits dask's distributed.comm.timeouts.connect (30 s unless configured) for the scheduler
                self.client = Client(scheduler, security=security)
            except (OSError, TimeoutError) as exc:
                raise RunError(f"cannot reach the dask scheduler at {scheduler}: {exc}") from None
        self.address = scheduler or self.cluster.scheduler_address
        self.dashboard = self.client.dashboard_link if dashboard_address and self._serves_dashboard() else None

    def _serves_dashboard(self) -> bool:
        """Whether the scheduler serves bokeh's dashboard (its HTTP server is there in any case,
        with a page asking for bokeh where bokeh is missing)."""

        def has_bokeh() -> bool:  # defined here so that it travels by value: the scheduler needs no renoise
            import importlib.util

            return importlib.util.find_spec("bokeh") is not None

        services = self.client.scheduler_info(n_workers=0).get("services", {})
        if "dashboard" not in services:
            return False
        try:
            return bool(self.client.run_on_scheduler(has_bokeh))
        except Exception:  # a scheduler that refuses to run functions: trust its services
            return True

    def close(self) -> None:
        try:
            self.client.close()
        finally:
            if self.cluster is not None:
                self.cluster.close()

    def workers(self) -> dict[str, dict]:
        """The scheduler's view of its workers, by address (waits for at least one)."""
        try:
            self.client.wait_for_workers(1, timeout=WORKER_TIMEOUT)
        except TimeoutError:
            where = f"the scheduler at {self.scheduler}" if self.scheduler else "the local cluster"
            raise RunError(f"no dask worker joined {where} within {WORKER_TIMEOUT} s: start workers "
                           f"(dask worker {self.scheduler or 'ADDRESS'})") from None
        return self.client.scheduler_info(n_workers=-1)["workers"]

    def prepare(self, folder: Path) -> None:
        """Check that every worker sees ``folder`` (a shared file system): a probe file written here
        must be readable there, with the same content. A worker that cannot is named."""
        folder.mkdir(parents=True, exist_ok=True)
        token = uuid.uuid4().hex
        probe = folder / f".probe-{token}"
        probe.write_text(token)
        try:
            workers = self.workers()  # first: a worker that has not joined yet would escape the check
            seen = self.client.run(_sees, str(probe), token)
        finally:
            probe.unlink(missing_ok=True)
        for address, ok in sorted(seen.items()):
            if not ok:
                name = workers.get(address, {}).get("name", address)
                raise RunError(f"dask worker {name} ({address}) cannot see the project folder {folder.parent.parent}: "
                               "run the workers on a file system shared with this machine")

    def threads_by_worker(self) -> dict[str, int]:
        """Each worker's share of the cores it may use (see :func:`renoise.pipeline.sizing.shares`)."""
        return sizing.shares(self.client.run(sizing.cores))

    def has_gpus(self) -> bool:
        """True where some worker declares a ``GPU`` resource."""
        return any("GPU" in (info.get("resources") or {}) for info in self.workers().values())

    def run(self, tasks: list, function: Callable, on_result: OnResult) -> None:
        futures = self._submit(tasks, function)
        try:
            self._collect(tasks, futures, on_result)
        except SchedulerLost:
            raise  # nothing left to cancel: the pending tasks went with the scheduler
        except BaseException:  # Ctrl-C, a full disk, or a bug: nothing pending may start afterwards
            self.client.cancel(list(futures.values()), force=True)
            raise

    def _submit(self, tasks: list, function: Callable) -> dict:
        """Hand every task to the scheduler at once, its inputs' futures as arguments (the
        dependency), asking for a GPU where some worker declares one; the futures, by run key."""
        gpu = self.has_gpus()
        futures = {}
        for task in tasks:
            inputs = [futures[k] for k in task.run.needs if k in futures]
            resources = {"GPU": 1} if gpu and task.run.gpu else None
            futures[task.run.key] = self.client.submit(function, task, *inputs, key=f"renoise-{task.hash}",
                                                       resources=resources, pure=False)
        return futures

    def _collect(self, tasks: list, futures: dict, on_result: OnResult) -> None:
        """Report each future's result as it arrives; raise what ends the attempt (a full disk,
        the scheduler gone)."""
        from distributed import as_completed

        needs = {task.run.key: task.run.needs for task in tasks}
        owner = {future.key: key for key, future in futures.items()}
        arriving = as_completed(list(futures.values()))
        for future in arriving:
            key = owner[future.key]
            if future.status == "finished":
                on_result(key, future.result(), None)
            elif future.status == "error":
                stop = as_stop(future.exception())
                if stop is not None:
                    raise stop
                failed_inputs = [k for k in needs[key] if k in futures and futures[k].status == "error"]
                if failed_inputs:
                    on_result(key, None, None, blocked_by=failed_inputs[0])
                else:
                    on_result(key, None, _as_run_error(key, future.exception()))
            elif future.status == "cancelled" and self.client.status != "running":  # the connection died
                raise self._lost()
            elif future.status == "cancelled":  # the scheduler restarted, or dropped this client
                on_result(key, None, RunError(f"{key}: dask cancelled the task (was the scheduler restarted?)"))
            else:  # "lost": its result died with a worker before it was reported; dask computes
                arriving.add(future)  # it again (the task finds its marker) and it arrives again

    def _lost(self) -> SchedulerLost:
        """The scheduler went away: close this client, which would otherwise try to reconnect for
        its timeout and then log an error with a traceback (silenced while it closes)."""
        client_log = logging.getLogger("distributed.client")
        client_log.disabled = True
        try:
            self.client.close()
        finally:
            client_log.disabled = False
        return SchedulerLost(f"the dask scheduler at {self.address} went away")


def _as_run_error(key: str, error: BaseException) -> RunError:
    """A task's failure as one line: its own :class:`RunError`, or what dask said (a worker died
    too often, say)."""
    if isinstance(error, RunError):
        return error
    reason = first_line(error)
    return RunError(f"{key}: {reason}" if reason == type(error).__name__ else f"{key}: {type(error).__name__}: {reason}")


def _sees(path: str, token: str) -> bool:
    """On a worker: does ``path`` exist there with ``token`` in it?"""
    try:
        return Path(path).read_text() == token
    except OSError:
        return False
