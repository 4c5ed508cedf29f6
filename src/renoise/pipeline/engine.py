"""The notebook engine: the Jupyter kernel renoise registers, and papermill executing one run.

Papermill changes the process's working directory while a notebook runs and the kernel inherits
the process's environment, so one process executes one notebook at a time: the sequential
executor in the calling process, or one dask worker process (one thread) per notebook.

Papermill saves the executed notebook after every cell; here each save is atomic
(:class:`AtomicNotebooks`), so a full disk leaves the last whole save, never a truncated notebook.
A full disk anywhere in a run, in the kernel or in papermill, is one :class:`DiskFullError` line
naming the file system and the file (or the run), which ends the attempt (:mod:`renoise.pipeline.stops`).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Iterator

from papermill.iorw import LocalHandler, papermill_io

import renoise
from renoise import atomic
from renoise.science import backend
from renoise.errors import DiskFullError, RenoiseError, RunError, first_line

KERNEL = "renoise"
#: The kernel's environment: TensorFlow's settings, and inline figures even where the runner
#: itself was started with a non-interactive backend (``MPLBACKEND=Agg``).
KERNEL_ENVIRONMENT = {"MPLBACKEND": "module://matplotlib_inline.backend_inline"}
#: Seconds a kernel may take to start: generous, since several may start at once on a busy machine.
START_TIMEOUT = 180
#: Each run's kernel writes its own stderr (TensorFlow's C++ start-up lines, which it prints whatever
#: ``TF_CPP_MIN_LOG_LEVEL`` says, or a crash) to this file in its run folder, not over the progress.
KERNEL_LOG = "kernel.log"
#: The kernel's command line: ipykernel, its stderr appended to ``$RENOISE_KERNEL_LOG`` where the
#: runner set it. In JupyterLab it is not, and stderr is left as the server's (never reopened by
#: path: ``/dev/stderr`` cannot be opened where it is a socket, under systemd for one). ipykernel
#: would copy what libraries write to the process's stderr (TensorFlow's C++ start-up lines) into
#: the notebook, and from there into the reports: ``capture_fd_output`` off keeps it in the log.
KERNEL_COMMAND = ('if [ -n "${RENOISE_KERNEL_LOG-}" ]; then exec 2>>"$RENOISE_KERNEL_LOG"; fi; '
                  'exec "$0" -m ipykernel_launcher -f "$1" --IPKernelApp.log_level=ERROR '
                  '--IPKernelApp.capture_fd_output=False')


def ensure_kernel() -> str:
    """Register this interpreter as the Jupyter kernel ``renoise`` in its environment (once), with
    :data:`KERNEL_ENVIRONMENT` and TensorFlow's quiet, deterministic settings; return its name."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    manager = KernelSpecManager()
    argv = ["/bin/sh", "-c", KERNEL_COMMAND, sys.executable, "{connection_file}"]
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


def thread_settings(threads: int | None, op_threads: int) -> dict[str, str]:
    """Environment for one kernel: ``op_threads`` threads for each TensorFlow op (the run's own
    setting, which its numbers depend on), and its share ``threads`` of the machine's cores
    (``None``: all of them) for everything whose results do not depend on it: TensorFlow's
    independent ops, OpenMP, the BLAS libraries and openTSNE (read by :mod:`renoise.science.models` and
    :func:`renoise.threads`)."""
    settings = {"RENOISE_OP_THREADS": str(op_threads), "TF_NUM_INTRAOP_THREADS": str(op_threads)}
    if threads:
        share = str(max(1, int(threads)))
        settings |= {name: share for name in ("RENOISE_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                                "MKL_NUM_THREADS", "TF_NUM_INTEROP_THREADS")}
    return settings


@contextlib.contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables for the kernels started inside the block, then restore them."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def kernel_settings(run, threads: int | None, kernels: int = 1) -> dict[str, str]:
    """The whole environment one kernel of ``run`` gets: :func:`thread_settings`, and the run's
    keras backend with device memory that ``kernels`` kernels on one GPU can share
    (:func:`renoise.science.backend.kernel_environment`), whatever the caller's shell says."""
    return {**thread_settings(threads, run.threads), **backend.kernel_environment(run.backend, run.threads, kernels)}


def execute(run, root: Path, *, threads: int | None = None, kernels: int = 1) -> Path:
    """Execute ``run``'s notebook with papermill into its run folder and return the executed copy.

    ``threads`` is the kernel's share of the machine's cores (``None``: every core); the run's own
    ``threads`` sets the backend's threads per op, and its ``backend`` the kernel's
    ``KERAS_BACKEND`` (:func:`kernel_settings`; ``kernels``: how many run on this machine). A failing cell raises
    :class:`RunError` naming the notebook and the error; the executed notebook, with papermill's
    error banner, stays for inspection.
    """
    import papermill
    from papermill.exceptions import PapermillExecutionError

    output = root / run.run_dir / run.notebook
    output.parent.mkdir(parents=True, exist_ok=True)
    atomic_notebook_saves()
    try:
        with environment({**kernel_settings(run, threads, kernels), "RENOISE_KERNEL_LOG": str(output.parent / KERNEL_LOG)}):
            papermill.execute_notebook(
                str(root / "notebooks" / run.notebook), str(output), parameters=run.parameters,
                kernel_name=ensure_kernel(), cwd=str(root), progress_bar=False, log_output=False,
                start_timeout=START_TIMEOUT,
            )
    except PapermillExecutionError as exc:
        raise cell_error(run, output, exc) from None
    except DiskFullError:  # saving the executed notebook (AtomicNotebooks)
        raise
    except Exception as exc:  # the kernel died or could not start: no cell to blame
        raise RunError(f"{run.key}: the notebook could not finish: {type(exc).__name__}: {first_line(exc)} "
                       f"(see {output} and {output.parent / KERNEL_LOG})") from None
    return output


def cell_error(run, output: Path, error) -> RenoiseError:
    """A failed cell of ``run`` (papermill's ``PapermillExecutionError``) as one line: a full disk
    as the :class:`DiskFullError` the kernel raised (:mod:`renoise.atomic`'s, naming the file), or
    for another writer's ``ENOSPC`` or ``EDQUOT`` one naming the run folder's file system; any other
    error as a :class:`RunError` naming the cell and the executed notebook ``output``."""
    if error.ename == DiskFullError.__name__:
        return DiskFullError(error.evalue)
    code = re.match(r"\[Errno (\d+)\]", error.evalue)
    if code and int(code[1]) in atomic.FULL:
        return DiskFullError(f"{atomic.FULL[int(code[1])]} on {atomic.mount_point(output.parent)} while running "
                             f"{run.key} ({error.ename}: {error.evalue})")
    return RunError(f"{run.key}: {error.ename}: {error.evalue} (cell {error.exec_count} of {output})")


class AtomicNotebooks(LocalHandler):
    """Papermill's handler of local files, except that it saves a notebook atomically
    (:func:`renoise.atomic.write_text`): a reader, or a full disk, never meets half a notebook."""

    def write(self, buf: str, path: str) -> None:
        atomic.write_text(path, buf)


@functools.cache
def atomic_notebook_saves() -> None:
    """Have papermill save every notebook named by an absolute path (every executed run) through
    :class:`AtomicNotebooks`: its registry picks a handler by the path's prefix. Once per process."""
    papermill_io.register("/", AtomicNotebooks())
