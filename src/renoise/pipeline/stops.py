"""Why an attempt stops before its plan is done: a full disk, or a dask scheduler that went away.

A run that fails ends its own branch and the others go on (:mod:`renoise.pipeline.runner`). These
two end the whole attempt instead, since every run after them would fail the same way: on a full
file system (or a full quota) each run fails at its first write, and without its scheduler a
cluster hands out nothing. The runner stops with one line saying why, how many runs are complete
(their markers, written last, stand) and what to do; the next run resumes from there.
"""

from __future__ import annotations

from pathlib import Path

from renoise import atomic
from renoise.errors import DiskFullError, RenoiseError, RunError, first_line


class SchedulerLost(RunError):
    """The dask scheduler went away mid-run (killed, or its machine lost): its pending tasks went with it."""


#: For each reason to stop, what to do before running again.
REMEDIES = {DiskFullError: "free space there", SchedulerLost: "start the cluster again (or run without --scheduler)"}


def as_stop(error: BaseException) -> RenoiseError | None:
    """``error`` as a reason to stop the attempt: itself where it is one; for any other ``ENOSPC``
    or ``EDQUOT`` (a writer outside :mod:`renoise.atomic`), the :class:`DiskFullError` naming the
    file and its file system as :mod:`renoise.atomic` does; else None."""
    if isinstance(error, tuple(REMEDIES)):
        return error
    if not (isinstance(error, OSError) and error.errno in atomic.FULL):
        return None
    if error.filename:
        where = f" on {atomic.mount_point(Path(error.filename).parent)} while writing {error.filename}"
    else:
        where = f" ({first_line(error)})"
    return DiskFullError(f"{atomic.FULL[error.errno]}{where}")


def stopped(stop: RenoiseError, complete: int, total: int) -> RenoiseError:
    """The one line that ends the attempt: why (``stop``, from :func:`as_stop`), how many of the
    plan's ``total`` runs are ``complete``, and how to resume."""
    return type(stop)(f"{stop}; {complete} of {total} runs complete: {REMEDIES[type(stop)]}, then run again to resume")
