"""Where a run's log lines go: the run's ``kernel.log`` inside a run, the notebook elsewhere.

A report holds findings, not logs. Inside a kernel that the runner started (``RENOISE_KERNEL_LOG``
set, see :mod:`renoise.pipeline.engine`), the kernel's stderr is appended to the run's ``kernel.log`` and
ipykernel does not copy that stream into the notebook (``capture_fd_output`` off), so progress
lines and Python warnings written there stay out of the executed notebook and of both HTML
reports. In JupyterLab (no runner) they show in the notebook as usual.
"""

from __future__ import annotations

import os
import sys
import warnings

#: Set by the runner for each kernel it starts: the path of the run's kernel log.
KERNEL_LOG_VARIABLE = "RENOISE_KERNEL_LOG"


def in_run() -> bool:
    """True inside a kernel the runner started (its stderr is the run's kernel log)."""
    return bool(os.environ.get(KERNEL_LOG_VARIABLE))


def note(message: str) -> None:
    """A progress line: to the run's kernel log inside a run, else to the notebook's output."""
    print(message, file=sys.__stderr__ if in_run() else sys.stdout, flush=True)


def divert_warnings() -> None:
    """Inside a run, write Python warnings to the kernel log rather than into the notebook."""
    def show(message, category, filename, lineno, file=None, line=None):
        sys.__stderr__.write(warnings.formatwarning(message, category, filename, lineno, line))

    if in_run():
        warnings.showwarning = show
