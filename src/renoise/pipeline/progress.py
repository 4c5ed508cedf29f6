"""Progress you can see: which runs are done, running and pending, and each training run's epoch.

Two small files in a run's folder carry the news, so it reaches the submitting process from any
executor over the shared project folder: ``_RUNNING.json``, written by the task when it starts
(host, worker), and ``progress.json``, written by the training's keras callback after every epoch
(:class:`renoise.science.training.ProgressFile`). A :class:`Board` polls them. On a terminal it keeps one
live line per running run under the log; elsewhere (CI, a log file) it prints one plain line per
event.
"""

from __future__ import annotations

import contextlib
import datetime
import shutil
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Iterator

from renoise import atomic
from renoise.errors import DataError

RUNNING = "_RUNNING.json"
PROGRESS = "progress.json"


def announce(run_dir: Path, **facts) -> None:
    """Say that a run has started here (``facts``: host, worker) and forget its last epochs."""
    (Path(run_dir) / PROGRESS).unlink(missing_ok=True)
    atomic.write_json(Path(run_dir) / RUNNING, {"started": datetime.datetime.now().isoformat(timespec="seconds"), **facts})


def retire(run_dir: Path) -> None:
    """Remove a run's start notice: it finished, or a new attempt is about to begin."""
    (Path(run_dir) / RUNNING).unlink(missing_ok=True)


def read_mapping(path: Path) -> dict | None:
    """A JSON file's mapping, or ``None`` where it is missing, unreadable or not a mapping."""
    try:
        value = atomic.read_json(path)
    except DataError:
        return None
    return value if isinstance(value, dict) else None


def describe_cost(marker: dict) -> str:
    """A complete run's time and peak memory, as the log and ``status`` print them."""
    cost = f"{marker.get('seconds', float('nan')):7.1f} s"
    if marker.get("peak_memory_mb") is not None:
        cost += f" {marker['peak_memory_mb'] / 1024:5.2f} GB"
    return cost


def describe_epoch(news: dict) -> str:
    """``epoch  7/16  loss 0.0812  val_loss 0.0901`` from a ``progress.json``."""
    text = f"epoch {news.get('epoch', 0):>3}/{news.get('epochs', '?')}"
    for key in ("loss", "val_loss"):
        if key in news:
            text += f"  {key} {news[key]:.4g}"
    return text


class Board:
    """The runner's display: log lines (skip, run, epoch, done, failed) and, on a terminal, a live
    block with the counts of runs done, running and pending and one line per running run.

    ``log`` receives each plain line; ``live`` (default: whether ``stream`` is a terminal) draws the
    block on ``stream`` instead; ``epochs`` adds a line per finished epoch where there is no block.
    A grid's plan (runs in several homes, :attr:`renoise.pipeline.plan.Run.home`) has its running runs
    grouped by home under a line with that home's counts.
    """

    def __init__(self, root: Path, plan, *, log: Callable[[str], None] | None = None, stream=None,
                 live: bool | None = None, epochs: bool = True, interval: float = 0.5):
        self.root = Path(root)
        self.runs = {run.key: run for run in plan}
        self.grouped = len({run.home for run in plan}) > 1
        self.finished: set[str] = set()
        self.stream = stream or sys.stdout
        self.live = self.stream.isatty() if live is None else live
        self._print = log or (lambda line: print(line, file=self.stream, flush=True))
        self.epochs = epochs
        self.interval = interval
        self.pending: list[str] = []
        self.running: dict[str, dict] = {}  # key -> its start notice and last epoch news
        self.counts = {"done": 0, "failed": 0}
        self.dashboard: str | None = None
        self._lock = threading.RLock()
        self._drawn = 0
        self._watching = False
        self._stale: dict[str, dict | None] = {}  # start notices found when watching began
        self._stop = threading.Event()

    # -- events ---------------------------------------------------------------------------------

    def log(self, line: str) -> None:
        """Print ``line`` above the live block."""
        with self._lock:
            self._erase()
            self._print(line)
            self._draw()

    def warn(self, line: str) -> None:
        """Print ``line`` to stderr, above the live block."""
        with self._lock:
            self._erase()
            print(line, file=sys.stderr, flush=True)
            self._draw()

    def started(self, key: str, notice: dict) -> None:
        with self._lock:
            if key in self.pending:
                self.pending.remove(key)
            self.running[key] = {"notice": notice, "news": {}}
            where = f" on {notice.get('worker')}@{notice.get('host')}" if notice.get("worker") not in (None, "local") else ""
            self.log(f"  run   {key:<36} {self.runs[key].label}{where} ...")

    def done(self, key: str, marker: dict) -> None:
        with self._lock:
            self._finish(key, ran={"worker": marker.get("worker"), "host": marker.get("host")})
            self.counts["done"] += 1
            self.finished.add(key)
            where = f"  {marker.get('worker')}@{marker.get('host')}" if marker.get("worker") not in (None, "local") else ""
            self.log(f"  done  {key:<36} {describe_cost(marker)}{where}")

    def failed(self, key: str, message: str) -> None:
        with self._lock:
            self._finish(key, ran={})
            self.counts["failed"] += 1
            self.log(f"  FAIL  {key:<36} {message}")

    def blocked(self, key: str, reason: str) -> None:
        with self._lock:
            self._finish(key)
            self.counts["failed"] += 1
            self.log(f"  stop  {key:<36} not run: {reason}")

    def _finish(self, key: str, ran: dict | None = None) -> None:
        """Take ``key`` off the board. A run that ran (``ran``: where, as its marker says) but
        finished between two polls gets its ``run`` line first."""
        with self._lock:
            if key in self.pending and ran is not None:
                self.started(key, self._notice(key) or ran)
            if key in self.pending:
                self.pending.remove(key)
            self.running.pop(key, None)

    def _notice(self, key: str) -> dict | None:
        """The start notice in ``key``'s run folder, unless it is one that was there before the
        board began watching (left by a run that was killed): that one announces nothing."""
        notice = read_mapping(self.root / self.runs[key].run_dir / RUNNING)
        return None if notice is not None and notice == self._stale.get(key) else notice

    # -- watching -------------------------------------------------------------------------------

    @contextlib.contextmanager
    def watch(self, runs, dashboard: str | None = None) -> Iterator["Board"]:
        """Poll the run folders of ``runs`` (about to execute) while the block is inside."""
        self.pending = [run.key for run in runs]
        self._stale = {key: read_mapping(self.root / self.runs[key].run_dir / RUNNING) for key in self.pending}
        self.dashboard = dashboard
        if dashboard and runs:
            from renoise.pipeline.security import describe_dashboard

            self.log(f"  dask dashboard: {describe_dashboard(dashboard)}")
        self._stop.clear()
        self._watching = True
        poller = threading.Thread(target=self._poll, daemon=True)
        poller.start()
        try:
            yield self
        finally:
            self._stop.set()
            poller.join()
            with self._lock:
                self._erase()
                self._watching = False

    def _poll(self) -> None:
        while not self._stop.wait(self.interval):
            with self._lock:
                for key in list(self.pending):
                    notice = self._notice(key)
                    if notice is not None:
                        self.started(key, notice)
                for key, state in list(self.running.items()):
                    news = read_mapping(self.root / self.runs[key].run_dir / PROGRESS)
                    if news and news.get("epoch") != state["news"].get("epoch"):
                        state["news"] = news
                        if self.epochs and not self.live and news.get("epoch"):
                            self.log(f"  epoch {key:<36} {describe_epoch(news)}")
                self._erase()
                self._draw()

    # -- the live block -------------------------------------------------------------------------

    def summary(self) -> str:
        """``3 done, 2 running, 25 pending, 0 failed``."""
        return (f"{self.counts['done']} done, {len(self.running)} running, {len(self.pending)} pending, "
                f"{self.counts['failed']} failed")

    def _lines(self) -> list[str]:
        lines = [f"  [{self.summary()}]" + (f"  dashboard {self.dashboard}" if self.dashboard else "")]
        now = time.time()
        homes: dict[str, list[str]] = {}
        for key in self.running:
            homes.setdefault(self.runs[key].home if self.grouped else "", []).append(key)
        for home, keys in homes.items():
            if self.grouped:
                lines.append(f"  {home or '(the experiment’s own folder)'}: {self._tally(home)}")
            for key in keys:
                state = self.running[key]
                news = state["news"]
                text = describe_epoch(news) if news.get("epoch") else "starting"
                elapsed = now - _since(state["notice"].get("started"), now)
                shown = f"  {self.runs[key].local_key}" if self.grouped else key
                lines.append(f"  {shown:<36} {text}  {elapsed:5.0f} s")
        return lines

    def _tally(self, home: str) -> str:
        """``2 of 14 done``: the runs of one home in the plan and how many of them finished here."""
        keys = [key for key, run in self.runs.items() if run.home == home]
        return f"{sum(key in self.finished for key in keys)} of {len(keys)} done"

    def _draw(self) -> None:
        if not (self.live and self._watching):
            return
        width = shutil.get_terminal_size((120, 24)).columns - 1
        lines = [line[:width] for line in self._lines()]
        self.stream.write("\n".join(lines) + "\n")
        self.stream.flush()
        self._drawn = len(lines)

    def _erase(self) -> None:
        if self.live and self._drawn:
            self.stream.write(f"\x1b[{self._drawn}F\x1b[J")
            self.stream.flush()
            self._drawn = 0


def _since(started: str | None, default: float) -> float:
    """Seconds since the epoch of an ISO time stamp (``default`` when there is none)."""
    try:
        return datetime.datetime.fromisoformat(started).timestamp()
    except (TypeError, ValueError):
        return default
