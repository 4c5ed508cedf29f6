"""Executors: where the runs of a plan execute. One small interface, two engines.

:class:`Sequential` runs each task in this process, in plan order. :class:`Dask` hands them to a
dask.distributed cluster: a :class:`~distributed.LocalCluster` of worker processes on this
machine, or an existing scheduler (``dask scheduler`` with ``dask worker``s, or dask-jobqueue on
SLURM). Every pending run is submitted at once with the futures of its inputs as arguments, which
is the dependency: a child starts as soon as its parent is done, siblings run side by side.

Both report each task's result as it arrives (its marker, the error that ended it, or the input
whose failure kept it from starting). A failed run ends its own branch only.

Pitfalls handled here (dask's and papermill's trackers, DESIGN §6): a worker has one thread, since
papermill changes the working directory of its process; worker processes are daemonic, so the
notebook's kernel is started with ``Popen`` (papermill), never ``multiprocessing``; resources are
labels, so a run asks for ``GPU`` only where a worker declares one (a request nobody can serve
would wait forever); and the runner checks that every worker sees the project folder.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import urllib.parse
import uuid
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Callable

from renoise.errors import ConfigError, RunError, first_line

#: ``on_result(key, marker, error, blocked_by)``: one call per task, as its result arrives.
OnResult = Callable[..., None]
#: Where a local cluster's dashboard listens unless ``--dashboard`` says otherwise: this machine only.
LOCAL_DASHBOARD = "127.0.0.1:8787"
#: Seconds to wait for the first worker of a cluster to join its scheduler.
WORKER_TIMEOUT = 120
#: Memory set aside for each local worker: its process and its notebook's kernel at peak (a quick
#: autoencoder run holds about 0.9 GB resident), with room for the comparison's t-SNE.
WORKER_MEMORY = 2 * 1024**3


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
        input. :class:`RunError` from a task is its failure; any other exception propagates.
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
    task rescheduled on another worker by dask; the task then finds no marker and runs again.
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
            try:
                self.client = Client(scheduler, timeout=30, security=security)
            except (OSError, TimeoutError) as exc:
                raise RunError(f"cannot reach the dask scheduler at {scheduler}: {exc}") from None
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
        """Each worker's share of the cores it may use (see :func:`shares`)."""
        return shares(self.client.run(_cores))

    def has_gpus(self) -> bool:
        """True where some worker declares a ``GPU`` resource."""
        return any("GPU" in (info.get("resources") or {}) for info in self.workers().values())

    def run(self, tasks: list, function: Callable, on_result: OnResult) -> None:
        from distributed import as_completed

        gpu = self.has_gpus()
        futures = {}
        for task in tasks:
            inputs = [futures[k] for k in task.run.needs if k in futures]
            resources = {"GPU": 1} if gpu and task.run.gpu else None
            futures[task.run.key] = self.client.submit(function, task, *inputs, key=f"renoise-{task.hash}",
                                                       resources=resources, pure=False)
        needs = {task.run.key: task.run.needs for task in tasks}
        owner = {future.key: key for key, future in futures.items()}
        try:
            arriving = as_completed(list(futures.values()))
            for future in arriving:
                key = owner[future.key]
                if future.status == "finished":
                    on_result(key, future.result(), None)
                elif future.status == "error":
                    failed_inputs = [k for k in needs[key] if k in futures and futures[k].status == "error"]
                    if failed_inputs:
                        on_result(key, None, None, blocked_by=failed_inputs[0])
                    else:
                        on_result(key, None, _as_run_error(key, future.exception()))
                elif future.status == "cancelled":  # the scheduler restarted, or dropped this client
                    on_result(key, None, RunError(f"{key}: dask cancelled the task (was the scheduler restarted?)"))
                else:  # "lost": its result died with a worker before it was reported; dask computes
                    arriving.add(future)  # it again (the task finds its marker) and it arrives again
        except BaseException:  # Ctrl-C, or a bug: nothing pending may start afterwards
            self.client.cancel(list(futures.values()), force=True)
            raise


#: The client's TLS files: the flag that gives each, and its key in dask's configuration.
TLS_FILES = {"tls_ca_file": ("--tls-ca-file", "distributed.comm.tls.ca-file"),
             "tls_client_cert": ("--tls-cert", "distributed.comm.tls.client.cert"),
             "tls_client_key": ("--tls-key", "distributed.comm.tls.client.key")}
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def client_security(address: str, files: dict[str, str | None], warn: Callable[[str], None]):
    """The :class:`~distributed.security.Security` for a client of the scheduler at ``address``:
    mutual TLS from ``files`` (by :data:`TLS_FILES` name: the flags), else from dask's configuration;
    None for plain TCP, with one ``warn``ing when the host is not this machine. Every file must be
    readable and a ``tls://`` address needs them all: else a :class:`ConfigError`, before anything connects."""
    import dask.config
    from distributed.security import Security

    given = {name: path for name, path in files.items() if path}
    configured = {name: dask.config.get(key, None) for name, (_, key) in TLS_FILES.items()}
    chosen = given if given else {name: path for name, path in configured.items() if path}
    scheme = address.split("://", 1)[0] if "://" in address else "tcp"
    if scheme != "tls":
        if given:
            raise ConfigError(f"--tls-* flags need a tls:// scheduler address, got {address}")
        if urllib.parse.urlsplit(f"tcp://{address.split('://')[-1]}").hostname not in LOOPBACK:
            warn(f"renoise: warning: {address} is plain TCP: anyone who can reach the port can run code as you; "
                 "use tls:// with certificates (see the README)")
        return None
    for name, (flag, key) in TLS_FILES.items():
        if name not in chosen:
            raise ConfigError(f"{address}: a tls:// address needs certificates: give --tls-ca-file, --tls-cert and "
                              f"--tls-key, or set distributed.comm.tls.* in dask's configuration (missing {flag})")
        _readable(chosen[name], flag if given else key)
    return Security(**chosen, require_encryption=True)


def temporary_security(folder: Path):
    """A fresh mutual-TLS certificate (``Security.temporary()``) written to ``folder`` with mode 0600,
    and the file-based Security that the scheduler, the jobs and this client share; the files, for
    ``renoise --tls-*``."""
    from distributed.security import Security

    made = Security.temporary()
    folder.mkdir(mode=0o700, exist_ok=True)
    files = {"ca": folder / "ca.pem", "cert": folder / "cert.pem", "key": folder / "key.pem"}
    for name, text in (("ca", made.tls_ca_file), ("cert", made.tls_client_cert), ("key", made.tls_client_key)):
        descriptor = os.open(files[name], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(descriptor, 0o600)  # also where an older file had another mode
        with os.fdopen(descriptor, "w") as handle:
            handle.write(text)
    paths = {role: str(path) for role, path in files.items()}
    security = Security(tls_ca_file=paths["ca"], tls_client_cert=paths["cert"], tls_client_key=paths["key"],
                        tls_scheduler_cert=paths["cert"], tls_scheduler_key=paths["key"],
                        tls_worker_cert=paths["cert"], tls_worker_key=paths["key"], require_encryption=True)
    return security, paths


def _readable(path: str, what: str) -> None:
    """Raise a one-line :class:`ConfigError` when ``path`` (given by ``what``) cannot be read."""
    try:
        with open(path, "rb") as handle:
            handle.read(1)
    except OSError as exc:
        raise ConfigError(f"{what}: cannot read {path}: {exc.strerror or exc}") from None


def dashboard_address(text: str) -> str:
    """``--dashboard``'s ``HOST:PORT`` (``:PORT`` for every interface), checked: a malformed address
    is a :class:`ConfigError` before anything starts."""
    host, colon, port = text.rpartition(":")
    if not colon or not port.isdigit() or not 0 <= int(port) <= 65535 or any(c in host for c in "/ "):
        raise ConfigError(f"--dashboard: expected HOST:PORT such as 127.0.0.1:8787 or 0.0.0.0:8787, got {text!r}")
    return text


def describe_dashboard(link: str) -> str:
    """The dashboard's address, with the ``ssh -L`` tunnel that reaches it from another machine when it
    listens on loopback only."""
    url = urllib.parse.urlsplit(link)
    if url.hostname not in LOOPBACK:
        return link
    port = url.port or 80
    return f"{link} (this machine only; from yours: ssh -L {port}:127.0.0.1:{port} {socket.gethostname()})"


def _as_run_error(key: str, error: BaseException) -> RunError:
    """A task's failure as one line: its own :class:`RunError`, or what dask said (a worker died
    too often, say)."""
    if isinstance(error, RunError):
        return error
    reason = first_line(error)
    return RunError(f"{key}: {reason}" if reason == type(error).__name__ else f"{key}: {type(error).__name__}: {reason}")


def shares(cores: dict[str, list[int]]) -> dict[str, int]:
    """CPU threads for each worker's kernel, from the CPUs each worker may use (by address): its
    CPUs divided among the workers on the same host whose CPUs overlap them, at least one.

    The CPUs are the worker's affinity, not the machine's count: a batch system such as SLURM
    narrows it to the job's, so two jobs on one node each keep their own cores.
    """
    host = {address: address.rsplit(":", 1)[0] for address in cores}
    result = {}
    for address, cpus in cores.items():
        sharing = sum(1 for other, theirs in cores.items() if host[other] == host[address] and set(cpus) & set(theirs))
        result[address] = max(1, len(cpus) // max(1, sharing))
    return result


def most_workers(memory: int | None) -> int | None:
    """How many local workers ``memory`` bytes hold (:data:`WORKER_MEMORY` each, at least one);
    None for no limit (memory unknown)."""
    return None if memory is None else max(1, memory // WORKER_MEMORY)


def automatic_workers(cores: int, memory: int | None) -> int:
    """Local workers for a machine of ``cores`` CPUs and ``memory`` free bytes (None: unknown):
    one a core, as many as the memory holds. 1 means no cluster: the runs go one after another."""
    return max(1, min(cores, most_workers(memory) or cores))


def machine() -> tuple[int, int | None]:
    """This process's CPUs (its affinity, see :func:`shares`) and the memory free for new
    processes in bytes (None: unknown)."""
    from renoise.pipeline.memory import available_memory

    return len(_cores()), available_memory()


def _cores() -> list[int]:
    """On a worker: the CPUs this process may run on."""
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:  # no affinity on this platform (macOS): every core
        return list(range(os.cpu_count() or 1))


def _sees(path: str, token: str) -> bool:
    """On a worker: does ``path`` exist there with ``token`` in it?"""
    try:
        return Path(path).read_text() == token
    except OSError:
        return False
