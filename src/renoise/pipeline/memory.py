"""Peak resident memory of the processes a run starts (its Jupyter kernel), read from Linux's /proc,
and the memory this machine has free for more of them.

Each process's ``VmHWM`` is its own high-water mark, so sampling it now and then still catches
the peak: only growth in the last moments before a process exits can be missed.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

PROC = Path("/proc")


def descendants(pid: int) -> list[int]:
    """The ids of every process below ``pid`` (children, grandchildren, ...), from /proc."""
    children: dict[int, list[int]] = {}
    for stat in PROC.glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # it ended while we looked
            continue
        # the command name sits in parentheses and may hold anything: the fields after it are fixed
        parent = int(text[text.rindex(")") + 2:].split()[1])
        children.setdefault(parent, []).append(int(stat.parent.name))
    found, frontier = [], [pid]
    while frontier:
        below = children.get(frontier.pop(), [])
        found += below
        frontier += below
    return found


def available_memory() -> int | None:
    """Bytes the machine can give new processes without swapping (``MemAvailable`` of
    /proc/meminfo: free memory plus caches it can drop); None where there is no /proc to read."""
    try:
        meminfo = (PROC / "meminfo").read_text()
    except OSError:
        return None
    for line in meminfo.splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return None


def high_water_mark(pid: int) -> int:
    """Peak resident memory of process ``pid`` so far, in bytes (0 once it has ended)."""
    try:
        status = (PROC / str(pid) / "status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


class PeakMemory:
    """Context manager: the largest peak resident memory of any process this one starts inside it.

    ``peak`` (bytes) is updated every ``interval`` seconds by a background thread; it is ``None``
    where there is no /proc to read (not Linux).
    """

    def __init__(self, interval: float = 0.25):
        self.interval = interval
        self.peak: int | None = 0 if (PROC / "self" / "status").is_file() else None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while True:
            marks = (high_water_mark(pid) for pid in descendants(os.getpid()))
            self.peak = max(self.peak, *marks, 0)
            if self._stop.wait(self.interval):
                return

    def __enter__(self) -> PeakMemory:
        if self.peak is not None:
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
