"""What incremental builds need (the record of what a run was computed from, and of the files it
left) lives in this module, with the states a run can be in.

A run is complete only when its marker ``_COMPLETE.json`` exists, holds the hash the run would have
now (:func:`renoise.pipeline.sources.expected_hashes`: its parameters, its notebook's code and its inputs'
hashes), and every output it declares still has the size and sha256 the marker recorded. The
marker is written last, after every artifact, each written atomically: a run killed at any point
has no marker and simply runs again. Notebooks import this module to check their inputs, so it
stays free of the hashing machinery: editing how hashes are computed never retrains a model.

Checking outputs costs one ``stat`` per file (:func:`renoise.atomic.mismatch`, the check the
evaluation cache shares): a file is hashed again only when its size or modification time differs
from the marker's record.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Iterable

from renoise import atomic
from renoise.errors import DataError, RunError
from renoise.paths import project_root

MARKER = "_COMPLETE.json"
#: The marker's layout; a marker of another format means "run again", never a crash.
FORMAT = 2


class RunState(Enum):
    """Where a run stands."""

    COMPLETE = "complete"  # marker with the current hash, outputs as recorded
    STALE = "stale"  # marker with another hash (or older format), or an input must run again
    DAMAGED = "damaged"  # marker with the current hash, but an output is missing or differs
    MISSING = "missing"  # no readable marker

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Status:
    """A run's state and, unless complete, why."""

    state: RunState
    reason: str = ""


def write_marker(run_dir: Path, root: Path, *, key: str, hash: str, outputs: Iterable[str], **facts) -> None:
    """Record the run's outputs (paths relative to ``root``) and write its marker, last.

    ``facts`` (time, peak memory, host, worker) are kept for ``status``.
    """
    finished = datetime.datetime.now().isoformat(timespec="seconds")
    records = {path: atomic.file_record(root / path) for path in outputs}
    atomic.write_json(Path(run_dir) / MARKER, {"format": FORMAT, "hash": hash, "key": key, "outputs": records,
                                               "finished": finished, **facts})


def read_marker(run_dir: Path) -> dict | None:
    """The run's marker if it is readable and of the current format, else ``None``."""
    try:
        marker = atomic.read_json(Path(run_dir) / MARKER)
    except DataError:
        return None
    if not isinstance(marker, dict) or marker.get("format") != FORMAT or not isinstance(marker.get("outputs"), dict):
        return None
    return marker


def damage(marker: dict, root: Path) -> str:
    """The first output that no longer matches ``marker``, described; ``""`` when all match."""
    return atomic.mismatch(marker["outputs"], root, "its marker")


def status(run_dir: Path, root: Path, expected: str) -> Status:
    """One run's :class:`Status` against its ``expected`` hash (inputs not considered)."""
    path = Path(run_dir) / MARKER
    if not path.exists():
        return Status(RunState.MISSING, "never run, or interrupted")
    marker = read_marker(run_dir)
    if marker is None:
        return Status(RunState.STALE, f"{MARKER} is unreadable or from an older renoise")
    if marker["hash"] != expected:
        return Status(RunState.STALE, "its parameters, code or inputs changed")
    problem = damage(marker, root)
    return Status(RunState.DAMAGED, problem) if problem else Status(RunState.COMPLETE)


def states(plan, root: Path, hashes: dict[str, str]) -> dict[str, Status]:
    """Every run's :class:`Status`; a run whose input must run again is stale too."""
    result: dict[str, Status] = {}
    for run in plan:
        own = status(root / run.run_dir, root, hashes[run.key])
        redo = [k for k in run.needs if result[k].state is not RunState.COMPLETE]
        if own.state is RunState.COMPLETE and redo:
            own = Status(RunState.STALE, f"its input {redo[0]} must run again")
        result[run.key] = own
    return result


def require_complete(run_dir: str | os.PathLike, what: str = "run") -> Path:
    """Return ``run_dir`` as a path if the run has a marker whose outputs are intact; else raise
    :class:`RunError` saying what to do."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunError(f"{what} {run_dir} is missing: run the experiment's earlier steps first")
    marker = read_marker(run_dir)
    if marker is None:
        raise RunError(f"{what} {run_dir} is incomplete (no current {MARKER}): run it again before using it")
    problem = damage(marker, project_root(run_dir))
    if problem:
        raise RunError(f"{what} {run_dir} is damaged ({problem}): run the experiment again to rebuild it")
    return run_dir
