"""Run folders, completion markers, the experiment lock and the executor that runs notebooks.

A run is complete only when its marker ``_COMPLETE.json`` exists and holds the hash of what the
run was computed from: its parameters, its notebook's code and its inputs' hashes. The marker is
written last, after every artifact (each written atomically), so a run killed at any point has
no marker and is simply run again. A run whose hash changed is stale and reruns, and with it
everything downstream, since their hashes include its own.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterable

from renoise import atomic
from renoise.memory import PeakMemory
from renoise.errors import DataError, LockedError, RunError
from renoise.experiment import Run

MARKER = "_COMPLETE.json"
KERNEL = "renoise"
#: The kernel's environment: TensorFlow's settings, and inline figures even where the runner
#: itself was started with a non-interactive backend (``MPLBACKEND=Agg``).
KERNEL_ENVIRONMENT = {"MPLBACKEND": "module://matplotlib_inline.backend_inline"}


def project_root(start: str | os.PathLike | None = None) -> Path:
    """The folder holding ``pyproject.toml`` and ``notebooks/``, searched upward from ``start``
    (default: the working directory), so notebooks find it from JupyterLab or papermill alike."""
    here = Path(start or os.getcwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "pyproject.toml").is_file() and (folder / "notebooks").is_dir():
            return folder
    raise RunError(f"{here}: not inside a renoise project (no pyproject.toml with notebooks/ above it)")


def notebook_hash(path: Path) -> str:
    """Hash of a notebook's cells, code and prose (outputs and metadata ignored)."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    sources = [("".join(c["source"]) if isinstance(c["source"], list) else c["source"]) for c in cells]
    return hashlib.sha256(json.dumps(sources).encode()).hexdigest()


def library_hash() -> str:
    """Hash of the ``renoise`` package's source: a change to the library reruns what it computed."""
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def run_hash(run: Run, notebook: str, library: str, input_hashes: Iterable[str]) -> str:
    """The hash a run's marker must hold for the run to count as complete."""
    payload = {"parameters": run.parameters, "notebook": notebook, "library": library, "inputs": list(input_hashes)}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def expected_hashes(plan: list[Run], notebooks: Path) -> dict[str, str]:
    """Every run's expected hash, in plan order (inputs come first)."""
    sources = {nb: notebook_hash(notebooks / nb) for nb in {r.notebook for r in plan}}
    library = library_hash()
    hashes: dict[str, str] = {}
    for run in plan:
        hashes[run.key] = run_hash(run, sources[run.notebook], library, [hashes[k] for k in run.needs])
    return hashes


def read_marker(run_dir: Path) -> dict | None:
    """The run's marker, or ``None`` when there is none or it is unreadable."""
    try:
        return atomic.read_json(Path(run_dir) / MARKER)
    except DataError:
        return None


def is_complete(run_dir: str | os.PathLike) -> bool:
    """True if the run has a completion marker."""
    return read_marker(Path(run_dir)) is not None


def require_complete(run_dir: str | os.PathLike, what: str = "run") -> Path:
    """Return ``run_dir`` as a path if the run is complete; else raise :class:`RunError`."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunError(f"{what} {run_dir} is missing: run the experiment's earlier steps first")
    if not is_complete(run_dir):
        raise RunError(f"{what} {run_dir} is incomplete (no {MARKER}): run it again before using it")
    return run_dir


def states(plan: list[Run], root: Path, hashes: dict[str, str] | None = None) -> dict[str, str]:
    """Each run's state: ``complete``, ``stale`` (its marker holds another hash, or an input of
    it must rerun) or ``missing`` (no marker, or an output file is gone)."""
    hashes = hashes or expected_hashes(plan, root / "notebooks")
    result: dict[str, str] = {}
    for run in plan:
        marker = read_marker(root / run.parameters["run_dir"])
        if marker is None or not all((root / path).is_file() for path in run.outputs):
            result[run.key] = "missing"
        elif marker.get("hash") != hashes[run.key] or any(result[k] != "complete" for k in run.needs):
            result[run.key] = "stale"
        else:
            result[run.key] = "complete"
    return result


class ExperimentLock:
    """One pipeline per experiment: an OS file lock (released if the process dies) plus a note
    saying who holds it, shown to anyone who finds it taken."""

    def __init__(self, folder: Path, name: str):
        from filelock import FileLock

        folder.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.holder = folder / ".lock.json"
        self.lock = FileLock(folder / ".lock", timeout=0)

    def __enter__(self):
        from filelock import Timeout

        try:
            self.lock.acquire()
        except Timeout:
            raise LockedError(f"experiment {self.name!r} is being run by {self._holder()}; wait for it to finish or stop it") from None
        now = datetime.datetime.now().isoformat(timespec="seconds")
        atomic.write_json(self.holder, {"pid": os.getpid(), "host": socket.gethostname(), "since": now})
        return self

    def _holder(self) -> str:
        try:
            who = atomic.read_json(self.holder)
            return f"pid {who['pid']} on {who['host']} since {who['since']}"
        except (DataError, KeyError, TypeError):
            return "another process"

    def __exit__(self, *exc):
        self.holder.unlink(missing_ok=True)
        self.lock.release()


def ensure_kernel() -> str:
    """Register this interpreter as the Jupyter kernel ``renoise`` in its environment (once), with
    :data:`KERNEL_ENVIRONMENT` and TensorFlow's quiet, deterministic settings; return its name."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    import renoise

    manager = KernelSpecManager()
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}", "--IPKernelApp.log_level=ERROR"]
    env = {**renoise.TF_ENVIRONMENT, **KERNEL_ENVIRONMENT}
    try:
        spec = manager.get_kernel_spec(KERNEL)
        if spec.argv == argv and spec.env == env:
            return KERNEL
    except NoSuchKernel:
        pass
    spec = {"argv": argv, "env": env, "display_name": "Python (renoise)", "language": "python",
            "metadata": {"debugger": True}}
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "kernel.json").write_text(json.dumps(spec, indent=1))
        manager.install_kernel_spec(folder, KERNEL, prefix=sys.prefix)
    return KERNEL


def execute(run: Run, root: Path, *, progress: bool = True) -> None:
    """Execute ``run``'s notebook with papermill into its run folder, keeping the executed copy.

    A failing cell raises :class:`RunError` naming the notebook and the error; the executed
    notebook, with papermill's error banner, stays for inspection.
    """
    import papermill
    from papermill.exceptions import PapermillExecutionError

    run_dir = root / run.parameters["run_dir"]
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / MARKER).unlink(missing_ok=True)
    output = run_dir / run.notebook
    try:
        papermill.execute_notebook(
            str(root / "notebooks" / run.notebook), str(output), parameters=run.parameters,
            kernel_name=ensure_kernel(), cwd=str(root), progress_bar=progress, log_output=False,
        )
    except PapermillExecutionError as exc:
        raise RunError(f"{run.key}: {exc.ename}: {exc.evalue} (cell {exc.exec_count} of {output})") from None
    except Exception as exc:  # the kernel died or could not start: no cell to blame
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RunError(f"{run.key}: the notebook could not finish: {type(exc).__name__}: {reason} (see {output})") from None


def write_marker(run: Run, root: Path, run_hash_: str, seconds: float, peak_memory: int | None = None) -> None:
    """Write the run's parameters, then its completion marker (last), with its time and its
    kernel's peak resident memory (``None`` where it could not be measured)."""
    run_dir = root / run.parameters["run_dir"]
    atomic.write_json(run_dir / "parameters.json", run.parameters)
    finished = datetime.datetime.now().isoformat(timespec="seconds")
    peak_mb = None if peak_memory is None else round(peak_memory / 2**20)
    atomic.write_json(run_dir / MARKER, {"hash": run_hash_, "key": run.key, "seconds": round(seconds, 1),
                                         "peak_memory_mb": peak_mb, "finished": finished})


def describe_cost(marker: dict) -> str:
    """A complete run's time and peak memory, as the log and ``status`` print them."""
    cost = f"{marker.get('seconds', float('nan')):7.1f} s"
    if marker.get("peak_memory_mb") is not None:
        cost += f" {marker['peak_memory_mb'] / 1024:5.2f} GB"
    return cost


def execute_sequentially(pending: list[Run], work: Callable[[Run], None]) -> None:
    """The executor: run each pending run in plan order, in this process.

    Every run reads its inputs from run folders and writes only its own, so another executor
    (a process pool, dask.distributed) may run independent runs side by side behind this signature.
    """
    for run in pending:
        work(run)


def run_plan(plan: list[Run], root: Path, name: str, *, log: Callable[[str], None] = print,
             executor: Callable = execute_sequentially, progress: bool = True,
             then: Callable[[], None] | None = None) -> list[str]:
    """Bring every run of ``plan`` up to date under the experiment lock; return the keys executed.

    Complete runs are skipped; stale and missing ones run in dependency order, one log line each.
    ``then`` (rendering the reports, say) runs afterwards, still under the lock.
    """
    with ExperimentLock(root / "runs" / name, name):
        swept = sum(atomic.sweep(root / top / name) for top in ("runs", "storage", "reports"))
        if swept:
            log(f"  removed {swept} temporary files left by an interrupted run")
        hashes = expected_hashes(plan, root / "notebooks")
        state = states(plan, root, hashes)
        pending = [r for r in plan if state[r.key] != "complete"]
        for run in plan:
            if run not in pending:
                log(f"  skip  {run.key:<36} complete")
        executed = []

        def work(run: Run) -> None:
            start = time.perf_counter()
            log(f"  run   {run.key:<36} {run.label} ...")
            with PeakMemory() as memory:
                execute(run, root, progress=progress)
            write_marker(run, root, hashes[run.key], time.perf_counter() - start, memory.peak)
            executed.append(run.key)
            log(f"  done  {run.key:<36} {describe_cost(read_marker(root / run.parameters['run_dir']))}")

        executor(pending, work)
        if then is not None:
            then()
        return executed
