"""The experiment lock: one pipeline per experiment at a time, and who holds it when it is taken."""

from __future__ import annotations

import datetime
import os
import socket
from pathlib import Path

from renoise import atomic
from renoise.errors import DataError, LockedError


class ExperimentLock:
    """An OS file lock (released if its process dies) plus a note saying who holds it, shown to
    anyone who finds it taken. The submitting process holds it for the whole run, whichever
    executor runs the notebooks."""

    def __init__(self, folder: Path, name: str):
        from filelock import FileLock

        folder.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.holder = folder / ".lock.json"
        self.lock = FileLock(folder / ".lock", timeout=0)

    def __enter__(self) -> "ExperimentLock":
        from filelock import Timeout

        try:
            self.lock.acquire()
        except Timeout:
            raise LockedError(f"experiment {self.name!r} is being run by {self._holder()}; "
                              "wait for it to finish or stop it") from None
        now = datetime.datetime.now().isoformat(timespec="seconds")
        atomic.write_json(self.holder, {"pid": os.getpid(), "host": socket.gethostname(), "since": now})
        return self

    def _holder(self) -> str:
        try:
            who = atomic.read_json(self.holder)
            return f"pid {who['pid']} on {who['host']} since {who['since']}"
        except (DataError, KeyError, TypeError):
            return "another process"

    def __exit__(self, *exc) -> None:
        self.holder.unlink(missing_ok=True)
        self.lock.release()
