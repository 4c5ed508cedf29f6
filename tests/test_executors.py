"""The executors on real dask clusters, with fast fake tasks (tests/fake_tasks.py) in place of notebooks:
dependency order, a failure that ends only its own branch, a full disk that ends the attempt, GPU
labels, a worker or the scheduler killed mid-run, the shared-folder check, each worker's threads,
and no scheduler, worker or kernel left behind.

Clusters of in-process workers (threads of this process) test the scheduling quickly; the tests
that need real worker processes (killing one, its CPU affinity) start a LocalCluster through
:class:`renoise.pipeline.executors.Dask` itself.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import psutil
import pytest

import fake_tasks
from renoise import atomic
from renoise.pipeline import engine, executors, markers, runner, security, sizing
import renoise.pipeline.config
import renoise.pipeline.plan
from renoise.errors import DiskFullError, RunError
from renoise.pipeline.executors import Dask, Sequential
from renoise.pipeline.security import describe_dashboard
from renoise.pipeline.runner import Task

TESTS = Path(__file__).resolve().parent
#: data, classifier, then per structure two parents, each with one child (compare left out: the
#: runner hands it over on its own, see runner._execute_report).
EXPERIMENT = """\
repetitions: 2
structures:
  one_level: {epochs: 1, children: [0.25]}
  multiple_levels: {epochs: 1, children: [multi]}
"""
KEYS = ["data", "classifier", "one_level/001", "one_level/001/25/0001", "one_level/002", "one_level/002/25/0001",
        "multiple_levels/001", "multiple_levels/001/Multi/0001", "multiple_levels/002", "multiple_levels/002/Multi/0001"]
#: Python's own helper processes, started once per interpreter and kept for its lifetime by design.
HELPERS = ("multiprocessing.resource_tracker", "multiprocessing.forkserver")


# -- fixtures and helpers ---------------------------------------------------------------------------


def _descendants() -> dict[int, str]:
    found = {}
    for process in psutil.Process().children(recursive=True):
        try:
            command = " ".join(process.cmdline())
        except psutil.Error:  # gone meanwhile, or a zombie about to be reaped
            continue
        if not any(helper in command for helper in HELPERS):
            found[process.pid] = command
    return found


@pytest.fixture(autouse=True)
def no_process_left_behind():
    """Fail a test that leaves a scheduler, worker or kernel process running (after a few seconds' grace)."""
    before = set(_descendants())
    yield
    deadline = time.monotonic() + 10
    while True:
        left = {pid: command for pid, command in _descendants().items() if pid not in before}
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert not left, "processes left behind: " + "; ".join(f"{pid} {command[:200]}" for pid, command in left.items())


@pytest.fixture(autouse=True)
def workers_import_fake_tasks(monkeypatch):
    """Worker processes unpickle the fake tasks by module name: give them tests/ on their path."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")])))


@pytest.fixture
def tree(tmp_path):
    """A project folder and the runs of a real plan (two repetitions, a child under each parent)."""
    (tmp_path / "t.yaml").write_text(EXPERIMENT)
    runs = [run for run in renoise.pipeline.plan.plan(renoise.pipeline.config.load(tmp_path / "t.yaml")) if not run.is_comparison]
    assert [run.key for run in runs] == KEYS
    return tmp_path, runs


def tasks_for(runs, root: Path) -> list[Task]:
    """Tasks with hashes of their own: no two tests (or dask keys) share one."""
    token = uuid.uuid4().hex
    return [Task(run, hashlib.sha256(f"{token}/{run.key}".encode()).hexdigest(), str(root)) for run in runs]


def steer(root: Path, **control) -> None:
    """Tell the fake tasks what to do (see fake_tasks)."""
    (root / "fake.json").write_text(json.dumps(control))


def started(root: Path, run) -> dict | None:
    path = root / run.run_dir / "started.json"
    return json.loads(path.read_text()) if path.exists() else None


class Reports:
    """Collects the executor's ``on_result`` calls."""

    def __init__(self, delay: float = 0.0):
        self.calls: list[tuple] = []
        self.delay = delay  # seconds each call takes, as a slow display would

    def __call__(self, key, marker, error, blocked_by=None):
        self.calls.append((key, marker, error, blocked_by))
        time.sleep(self.delay)

    @property
    def done(self) -> dict[str, dict]:
        return {key: marker for key, marker, error, blocked_by in self.calls if marker is not None}

    @property
    def failed(self) -> dict[str, BaseException]:
        return {key: error for key, marker, error, blocked_by in self.calls if error is not None}

    @property
    def blocked(self) -> dict[str, str]:
        return {key: blocked_by for key, marker, error, blocked_by in self.calls if blocked_by is not None}


class Background:
    """``executor.run`` on a thread, so that a test can act meanwhile and a hang fails instead of blocking."""

    def __init__(self, executor, tasks, function, delay: float = 0.0):
        self.reports = Reports(delay)
        self.errors: list[BaseException] = []
        self.thread = threading.Thread(target=self._run, args=(executor, tasks, function), daemon=True)
        self.thread.start()

    def _run(self, executor, tasks, function):
        try:
            executor.run(tasks, function, self.reports)
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            self.errors.append(exc)

    def result(self, seconds: float) -> Reports:
        self.thread.join(seconds)
        assert not self.thread.is_alive(), f"still running after {seconds} s; reported so far: {self.reports.calls}"
        if self.errors:
            raise self.errors[0]
        return self.reports


def run_within(executor, tasks, function, seconds: float = 30) -> Reports:
    return Background(executor, tasks, function).result(seconds)


@contextlib.contextmanager
def in_process_cluster(**workers):
    """A scheduler and one single-threaded in-process worker per keyword (its name), with the
    resources given, reached as an existing cluster is: ``Dask(scheduler=ADDRESS)``."""
    from distributed import Scheduler, SpecCluster, Worker

    cluster = SpecCluster(
        scheduler={"cls": Scheduler, "options": {"host": "127.0.0.1", "port": 0, "dashboard_address": "127.0.0.1:0"}},
        workers={name: {"cls": Worker, "options": {"nthreads": 1, "resources": resources or {}}}
                 for name, resources in workers.items()},
        worker={"cls": Worker, "options": {"nthreads": 1}})
    try:
        with Dask(scheduler=cluster.scheduler_address) as executor:
            executor.spec_cluster = cluster
            yield executor
    finally:
        cluster.close()


def wait_for(condition, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"no {what} within {seconds} s")


# -- dependency order -------------------------------------------------------------------------------


@pytest.mark.cluster
def test_on_dask_a_child_starts_only_once_its_parents_markers_exist(tree):
    root, runs = tree
    steer(root, sleep=0.3)
    with in_process_cluster(a=None, b=None) as executor:
        reports = run_within(executor, tasks_for(runs, root), fake_tasks.record)
    assert [call[0] for call in reports.calls if call[1] is None] == []
    assert sorted(key for key, *_ in reports.calls) == sorted(KEYS)  # each reported once, done
    for run in runs:
        start = started(root, run)
        assert start["inputs_seen"] == {key: True for key in run.needs}, run.key
        assert start["inputs_given"] == list(run.needs)  # the parents' markers, as the task's arguments
        assert all(reports.done[parent]["ended"] <= start["time"] for parent in run.needs), run.key
        assert reports.done[run.key]["hash"] == markers.read_marker(root / run.run_dir)["hash"]
    assert {marker["worker"] for marker in reports.done.values()} <= {"a", "b"}


# -- failures ---------------------------------------------------------------------------------------


@pytest.fixture(params=["sequential", pytest.param("dask", marks=pytest.mark.cluster)])
def executor(request):
    if request.param == "sequential":
        yield Sequential()
    else:
        with in_process_cluster(a=None, b=None) as executor:
            yield executor


@pytest.mark.parametrize("failing, blocked", [
    ("one_level/001", {"one_level/001/25/0001": "one_level/001"}),
    ("data", {key: "data" for key in KEYS[1:]}),
])
def test_a_failing_run_ends_its_own_branch_only_and_runs_once_fixed(tree, executor, failing, blocked):
    root, runs = tree
    tasks = tasks_for(runs, root)
    steer(root, fail=[failing])
    reports = run_within(executor, tasks, fake_tasks.record)
    assert {key: str(error) for key, error in reports.failed.items()} == {failing: f"{failing}: told to fail"}
    assert all(type(error) is RunError for error in reports.failed.values())
    assert reports.blocked == blocked
    assert set(reports.done) == set(KEYS) - {failing} - set(blocked)
    assert len(reports.calls) == len(KEYS)
    for run in runs:
        assert (started(root, run) is None) == (run.key in blocked), run.key  # a blocked child never started
        assert (markers.read_marker(root / run.run_dir) is None) == (run.key in blocked or run.key == failing)

    steer(root)  # fixed: the same tasks, on the same executor, now all run
    again = run_within(executor, tasks, fake_tasks.record)
    assert sorted(again.done) == sorted(KEYS) and not again.failed and not again.blocked
    assert len(again.calls) == len(KEYS)


def test_a_full_disk_ends_the_attempt_and_nothing_pending_starts(tree, executor):
    """Unlike a failure, a full disk would fail every run after it: the executor raises it, and
    the failed run's child never starts."""
    root, runs = tree
    steer(root, full=["one_level/001"])
    with pytest.raises(DiskFullError, match=r"^no space left on .* while writing .*/one_level/001/model.keras$"):
        run_within(executor, tasks_for(runs, root), fake_tasks.record)
    child = next(run for run in runs if run.key == "one_level/001/25/0001")
    assert started(root, child) is None and markers.read_marker(root / runs[2].run_dir) is None


# -- resources --------------------------------------------------------------------------------------


@pytest.mark.cluster
def test_gpu_runs_land_only_on_the_worker_that_declares_a_gpu(tree):
    root, runs = tree
    steer(root, sleep=0.1)
    with in_process_cluster(cpu=None, gpu={"GPU": 1}) as executor:
        assert executor.has_gpus()
        reports = run_within(executor, tasks_for(runs, root), fake_tasks.record)
    where = {key: marker["worker"] for key, marker in reports.done.items()}
    assert sorted(where) == sorted(KEYS)
    assert [run.key for run in runs if not run.gpu] == ["data"]  # may land anywhere
    assert where["data"] in ("cpu", "gpu")
    assert {where[run.key] for run in runs if run.gpu} == {"gpu"}


@pytest.mark.cluster
def test_without_a_gpu_worker_gpu_runs_ask_for_nothing_and_run_on_the_cpu_workers(tree):
    root, runs = tree
    steer(root, sleep=0.1)
    with in_process_cluster(a=None, b=None) as executor:
        assert not executor.has_gpus()
        # a request for GPU that no worker can serve would wait forever: run_within fails instead
        reports = run_within(executor, tasks_for(runs, root), fake_tasks.record, seconds=20)
    assert sorted(reports.done) == sorted(KEYS)
    assert {reports.done[run.key]["worker"] for run in runs if run.gpu} <= {"a", "b"}


# -- a worker killed mid-run ------------------------------------------------------------------------


@pytest.mark.cluster
def test_a_worker_killed_mid_run_has_its_run_rescheduled_and_finished_on_another(tree):
    """The victim is a child, so its worker has finished other runs before; the results are
    reported slowly, so some of those are still unreported when it dies, and lost with it: dask
    computes them again (the real task finds its marker) and each must be reported done, once."""
    root, runs = tree
    victim = runs[-1]
    assert victim.key == "multiple_levels/002/Multi/0001"
    steer(root, victim=victim.key, again=1.5)  # a lost result stays lost a while
    attempts = root / victim.run_dir / "attempts.txt"
    with Dask(workers=2, dashboard_address=None) as executor:
        background = Background(executor, tasks_for(runs, root), fake_tasks.stubborn, delay=0.3)
        first = wait_for(lambda: attempts.exists() and attempts.read_text().split(), 30, "first attempt")
        pid = int(first[0])
        worker = psutil.Process(pid)
        assert pid != os.getpid() and worker.ppid() == os.getpid()  # a worker process of this LocalCluster
        os.kill(pid, signal.SIGKILL)
        reports = background.result(60)
    assert {key: str(error) for key, error in reports.failed.items()} == {} and reports.blocked == {}
    assert sorted(key for key, *_ in reports.calls) == sorted(KEYS)  # each reported once, done
    lines = [line.split() for line in attempts.read_text().splitlines()]
    assert len(lines) == 2 and int(lines[0][0]) == pid and int(lines[1][0]) != pid
    assert reports.done[victim.key]["pid"] == int(lines[1][0]) == markers.read_marker(root / victim.run_dir)["pid"]
    assert not psutil.pid_exists(pid) or worker.status() == psutil.STATUS_ZOMBIE


#: Four runs: data, classifier, one parent, compare.
SMALL = "structures: {one_level: {epochs: 1}}\n"
#: ``renoise`` with the fake task (fake_tasks.cli), as a command line.
FAKE_RENOISE = [sys.executable, "-c", "import sys, fake_tasks; sys.exit(fake_tasks.cli(sys.argv[1:]))"]


@contextlib.contextmanager
def external_scheduler(project: Path):
    """``dask scheduler`` (loopback, no dashboard) and one ``dask worker`` in the project folder,
    started as a user would, each in a process group of its own; killed with their groups after.
    Yields the scheduler's address and process."""
    dask = str(Path(sys.executable).with_name("dask"))
    address_file = project / "scheduler.json"
    quiet = {"start_new_session": True, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    started = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                                 "--scheduler-file", str(address_file)], **quiet)]
    try:
        address = wait_for(lambda: address_file.exists() and json.loads(address_file.read_text())["address"], 60,
                           "scheduler address")
        started.append(subprocess.Popen([dask, "worker", address, "--nthreads", "1", "--no-dashboard"], cwd=project,
                                        **quiet))
        yield address, started[0]
    finally:
        for process in started:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=60)


@pytest.mark.cluster
def test_a_scheduler_killed_mid_run_is_one_line_and_the_next_run_resumes(project):
    """``renoise run --scheduler`` (its runs the fake task) on an external scheduler and worker;
    SIGKILL to the scheduler while the classifier runs: one line naming the address and the runs
    complete (data, and the parent where the worker took it before the classifier), exit 1; their
    markers stand, and the next run (one after another) skips them and completes the rest."""
    (project / "experiments" / "t.yaml").write_text(SMALL)
    steer(project, victim="classifier")  # it waits to be killed; every other run finishes at once
    with external_scheduler(project) as (address, scheduler):
        command = subprocess.Popen([*FAKE_RENOISE, "run", "t", "--scheduler", address, "--quiet"], cwd=project,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            wait_for(lambda: (project / "runs/t/classifier/attempts.txt").exists(), 60, "classifier start")
            os.killpg(scheduler.pid, signal.SIGKILL)
            out, err = command.communicate(timeout=60)
        finally:
            command.kill()  # only where the test failed before it exited
            command.wait()
        complete = len(list((project / "runs/t").rglob("_COMPLETE.json")))  # the worker still holds the classifier
    assert command.returncode == 1, out + err
    assert complete in (1, 2) and not (project / "runs/t/classifier/_COMPLETE.json").exists()
    assert err == (f"renoise: error: the dask scheduler at {address} went away; {complete} of 4 runs complete: "
                   "start the cluster again (or run without --scheduler), then run again to resume\n")
    again = subprocess.run([*FAKE_RENOISE, "run", "t", "--workers", "1", "--quiet"], cwd=project,
                           capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert "  skip  data " in again.stdout and f"renoise: {4 - complete} runs executed, {complete} up to date" in again.stdout
    attempts = (project / "runs/t/classifier/attempts.txt").read_text().splitlines()
    assert len(attempts) == 2 and attempts[1].endswith(" local")  # killed on the worker, done here


# -- the shared-folder check ------------------------------------------------------------------------


@pytest.mark.cluster
def test_the_shared_folder_check_names_the_worker_that_cannot_see_the_project(tmp_path):
    folder = tmp_path / "runs" / "t"
    with Dask(workers=2, dashboard_address=None) as executor:
        executor.prepare(folder)  # both workers see this machine's files
        assert folder.is_dir() and not list(folder.glob(".probe-*"))
        workers = executor.workers()
        assert len(workers) == 2
        address = sorted(workers)[1]
        executor.client.run(fake_tasks.elsewhere, workers=[address])
        with pytest.raises(RunError) as caught:
            executor.prepare(folder)
    assert str(caught.value) == (f"dask worker {workers[address]['name']} ({address}) cannot see the project folder "
                                 f"{tmp_path}: run the workers on a file system shared with this machine")
    assert not list(folder.glob(".probe-*"))


@pytest.mark.cluster
def test_the_shared_folder_check_waits_for_a_worker_that_joins_late_and_checks_it(tmp_path, monkeypatch):
    monkeypatch.setattr(executors, "_sees", fake_tasks.blind)  # the in-process worker sees none of our files
    with in_process_cluster() as executor:
        checking = threading.Thread(target=lambda: errors.append(_raised(executor.prepare, tmp_path / "runs" / "t")))
        errors: list = []
        checking.start()
        time.sleep(1.0)
        executor.spec_cluster.scale(1)
        checking.join(30)
        assert not checking.is_alive()
        address = next(iter(executor.workers()))
    assert len(errors) == 1 and isinstance(errors[0], RunError)
    assert str(errors[0]).startswith(f"dask worker 0 ({address}) cannot see the project folder {tmp_path}:")


@pytest.mark.cluster
def test_a_cluster_without_workers_is_an_error_not_a_hang(tmp_path, monkeypatch):
    monkeypatch.setattr(executors, "WORKER_TIMEOUT", 1)
    with in_process_cluster() as executor:
        start = time.monotonic()
        with pytest.raises(RunError, match=rf"^no dask worker joined the scheduler at {executor.scheduler} within 1 s"):
            executor.prepare(tmp_path / "runs" / "t")
        assert time.monotonic() - start < 10


def _raised(function, *args):
    try:
        function(*args)
    except BaseException as exc:  # noqa: BLE001 - returned to the test
        return exc
    return None


# -- threads and the dashboard ----------------------------------------------------------------------


@pytest.mark.cluster
def test_two_local_workers_each_give_their_kernel_half_the_cores_and_no_dashboard_is_claimed_without_bokeh():
    import importlib.util

    cores = len(os.sched_getaffinity(0))  # what the workers inherit; os.cpu_count() on this machine
    with Dask(workers=2) as executor:
        addresses = set(executor.workers())
        threads = executor.threads_by_worker()
        port = executor.client.scheduler_info(n_workers=0)["services"]["dashboard"]
        dashboard = executor.dashboard
    assert len(addresses) == 2
    assert threads == {address: max(1, cores // 2) for address in addresses}
    if importlib.util.find_spec("bokeh") is None:
        assert dashboard is None and port != 8787  # the scheduler's HTTP server stays off the well-known port
    else:
        assert dashboard.endswith("/status")


@pytest.mark.cluster
def test_a_local_cluster_its_workers_and_its_dashboard_listen_on_loopback_only():
    from urllib.parse import urlsplit

    with Dask(workers=2) as executor:
        cluster = executor.cluster
        scheduler = urlsplit(cluster.scheduler_address).hostname
        workers = {urlsplit(address).hostname for address in executor.workers()}
        dashboard = urlsplit(cluster.dashboard_link).hostname
        http = cluster.scheduler.http_server.port  # served with or without bokeh
        bound = {sock.getsockname()[0] for sock in cluster.scheduler.http_server._sockets.values()}
    assert scheduler == "127.0.0.1" and workers == {"127.0.0.1"} and dashboard == "127.0.0.1"
    assert http > 0 and bound == {"127.0.0.1"}


def test_a_loopback_dashboard_is_printed_with_its_ssh_tunnel_and_an_exposed_one_as_it_is():
    import socket

    host = socket.gethostname()
    assert describe_dashboard("http://127.0.0.1:8790/status") == \
        f"http://127.0.0.1:8790/status (this machine only; from yours: ssh -L 8790:127.0.0.1:8790 {host})"
    assert describe_dashboard("http://10.0.0.5:8787/status") == "http://10.0.0.5:8787/status"


def test_a_workers_threads_are_its_cpus_divided_among_the_workers_on_its_host_that_share_them():
    cores = {
        "tcp://10.0.0.1:1001": list(range(8)), "tcp://10.0.0.1:1002": list(range(8)),  # two workers, one machine
        "tcp://10.0.0.2:1001": [0, 1, 2, 3], "tcp://10.0.0.2:1002": [4, 5, 6, 7],  # two SLURM jobs on one node
        "tcp://10.0.0.3:1001": [5],  # a job of one core on a large node
        "tcp://10.0.0.4:1001": [0, 1, 2], "tcp://10.0.0.4:1002": [2, 3],  # overlapping: each shares with one
    }
    assert sizing.shares(cores) == {
        "tcp://10.0.0.1:1001": 4, "tcp://10.0.0.1:1002": 4, "tcp://10.0.0.2:1001": 4, "tcp://10.0.0.2:1002": 4,
        "tcp://10.0.0.3:1001": 1, "tcp://10.0.0.4:1001": 1, "tcp://10.0.0.4:1002": 1,
    }


# -- through the runner -----------------------------------------------------------------------------


@pytest.mark.cluster
def test_run_plan_on_dask_runs_each_run_once_and_each_marker_names_its_worker(project, monkeypatch):
    """The runner's own task (execute_task: markers, notices) on in-process workers, with the
    notebook engine replaced by one that writes each run's outputs."""
    (project / "experiments" / "t.yaml").write_text(EXPERIMENT)
    plan = renoise.pipeline.plan.plan(renoise.pipeline.config.load(project / "experiments" / "t.yaml"))
    executed = []

    def fake_execute(run, root, *, threads=None, kernels=1):
        executed.append((run.key, threads))
        assert (root / run.run_dir / "_RUNNING.json").is_file()
        for path in run.outputs:
            atomic.write_text(root / path, run.key)

    monkeypatch.setattr(engine, "execute", fake_execute)
    lines: list[str] = []
    with in_process_cluster(a=None, b=None) as executor:
        outcome = runner.run_plan(plan, project, "t", executor=executor, log=lines.append)
        again = runner.run_plan(plan, project, "t", executor=executor, log=lines.append)
    keys = [run.key for run in plan]
    assert outcome.ok and sorted(outcome.executed) == sorted(keys) and not outcome.partial
    assert sorted(key for key, _ in executed) == sorted(keys)  # once each: the second run_plan executed nothing
    assert again.ok and again.executed == []
    assert {threads for _, threads in executed} == {max(1, len(os.sched_getaffinity(0)) // 2)}
    host = socket.gethostname()
    for run in plan:
        marker = markers.read_marker(project / run.run_dir)
        assert marker["worker"] in ("a", "b") and marker["host"] == host, run.key
        assert not (project / run.run_dir / "_RUNNING.json").exists()
        done = [line for line in lines if line.startswith(f"  done  {run.key:<36} ")]
        assert len(done) == 1 and done[0].endswith(f"  {marker['worker']}@{host}")
        assert f"  skip  {run.key:<36} complete" in lines


GIB = 2**30


@pytest.mark.parametrize("cores, memory, expected", [
    (1, 24 * GIB, 1),  # one core: no cluster, one run after another
    (2, 24 * GIB, 2),  # this project's machine: one worker a core
    (16, 24 * GIB, 12),  # memory bounds it: 2 GiB a worker
    (16, 5 * GIB, 2),
    (16, 1 * GIB, 1),  # too little even for one: still one, run in this process
    (16, None, 16),  # memory unknown (no /proc): the cores decide
])
def test_the_automatic_worker_count_follows_the_cores_and_the_memory(cores, memory, expected):
    assert sizing.WORKER_MEMORY == 2 * GIB
    assert sizing.automatic_workers(cores, memory) == expected


def test_this_machine_is_its_cpus_and_its_available_memory():
    cores, memory = sizing.machine()
    assert cores == len(os.sched_getaffinity(0))
    assert memory == pytest.approx(psutil.virtual_memory().available, rel=0.1)


# -- TLS ---------------------------------------------------------------------------------------------


def tls_files(folder):
    """A CA, certificate and key made by dask itself (Security.temporary), as the flags' files."""
    _, paths = security.temporary_security(folder)
    return {"tls_ca_file": paths["ca"], "tls_client_cert": paths["cert"], "tls_client_key": paths["key"]}


def test_a_tls_address_with_readable_files_makes_an_encrypting_security(tmp_path):
    pytest.importorskip("cryptography")
    files = tls_files(tmp_path)
    made = security.client_security("tls://10.0.0.5:8786", files, warn=pytest.fail)
    assert made.require_encryption and made.tls_ca_file == files["tls_ca_file"]
    assert made.tls_client_key == files["tls_client_key"]


@pytest.mark.parametrize("address, flags, message", [
    ("tls://10.0.0.5:8786", {}, "tls://10.0.0.5:8786: a tls:// address needs certificates: give --tls-ca-file, "
     "--tls-cert and --tls-key, or set distributed.comm.tls.* in dask's configuration (missing --tls-ca-file)"),
    ("tls://10.0.0.5:8786", {"tls_ca_file": "ca.pem", "tls_client_cert": "cert.pem"},
     "tls://10.0.0.5:8786: a tls:// address needs certificates: give --tls-ca-file, --tls-cert and --tls-key, "
     "or set distributed.comm.tls.* in dask's configuration (missing --tls-key)"),
    ("tls://10.0.0.5:8786", {"tls_ca_file": "absent.pem", "tls_client_cert": "cert.pem", "tls_client_key": "key.pem"},
     "--tls-ca-file: cannot read {tmp}/absent.pem: No such file or directory"),
    ("tls://10.0.0.5:8786", {"tls_ca_file": "ca.pem", "tls_client_cert": "cert.pem", "tls_client_key": "folder"},
     "--tls-key: cannot read {tmp}/folder: Is a directory"),
    ("tcp://10.0.0.5:8786", {"tls_ca_file": "ca.pem"}, "--tls-* flags need a tls:// scheduler address, got tcp://10.0.0.5:8786"),
])
def test_bad_tls_settings_are_one_line_before_anything_connects(tmp_path, monkeypatch, address, flags, message):
    (tmp_path / "folder").mkdir()
    for name in ("ca.pem", "cert.pem", "key.pem"):
        (tmp_path / name).write_text("-----BEGIN CERTIFICATE-----\n")
    files = {name: str(tmp_path / path) for name, path in flags.items()}
    with pytest.raises(security.ConfigError) as raised:
        security.client_security(address, files, warn=pytest.fail)
    assert str(raised.value) == message.format(tmp=tmp_path)


def test_an_unreadable_tls_file_from_daskss_configuration_names_its_key(tmp_path):
    import dask.config

    with dask.config.set({"distributed.comm.tls.ca-file": str(tmp_path / "gone.pem"),
                          "distributed.comm.tls.client.cert": str(tmp_path / "gone.pem"),
                          "distributed.comm.tls.client.key": str(tmp_path / "gone.pem")}):
        with pytest.raises(security.ConfigError, match=r"^distributed.comm.tls.ca-file: cannot read .*gone.pem: No such"):
            security.client_security("tls://10.0.0.5:8786", {}, warn=pytest.fail)


def test_plain_tcp_warns_once_off_this_machine_and_not_on_it():
    warned = []
    assert security.client_security("tcp://10.0.0.5:8786", {}, warn=warned.append) is None
    assert security.client_security("127.0.0.1:8786", {}, warn=warned.append) is None
    assert security.client_security("tcp://localhost:8786", {}, warn=warned.append) is None
    assert warned == ["renoise: warning: tcp://10.0.0.5:8786 is plain TCP: anyone who can reach the port can run "
                      "code as you; use tls:// with certificates (see the README)"]


@pytest.mark.cluster
def test_a_tls_cluster_refuses_a_client_without_certificates_and_accepts_one_with_them(tmp_path):
    pytest.importorskip("cryptography")
    from distributed import Client, LocalCluster
    from distributed.security import Security

    security = Security.temporary()
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, host="127.0.0.1", protocol="tls://",
                      security=security, dashboard_address="127.0.0.1:0") as cluster:
        address = cluster.scheduler_address
        assert address.startswith("tls://127.0.0.1:")
        with pytest.raises((OSError, TimeoutError)):
            Client(address.replace("tls://", "tcp://"), timeout=3)  # plain TCP to a TLS listener
        with pytest.raises((OSError, TimeoutError, TypeError, ValueError)):
            Client(address, timeout=3)  # TLS address, no certificate of ours
        # on the cluster's own running loop: a Client's fresh IO-loop thread, which dask gives a fixed 10 s
        # to start, did not start in time after the rest of the suite had run in this process
        with Client(address, security=security, timeout=10, loop=cluster.loop) as client:
            assert client.submit(sum, [1, 2, 3]).result() == 6
