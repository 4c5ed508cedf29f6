"""The progress board: what it prints, from the start notices (``_RUNNING.json``) and epoch files
(``progress.json``) that runs leave in their folders and from the runner's events, as plain lines
and as a live block on a terminal that leaves nothing behind."""

from __future__ import annotations

import io
import re
import time

import pytest

from renoise import atomic
from renoise.pipeline import progress
import renoise.pipeline.config
import renoise.pipeline.plan
from renoise.pipeline.progress import Board, announce, retire

EXPERIMENT = """\
structures:
  one_level: {epochs: 2, children: [0.25]}
"""
INTERVAL = 0.05


@pytest.fixture
def runs(tmp_path):
    """The runs of a small real plan, by key, with their folders under ``tmp_path``."""
    (tmp_path / "t.yaml").write_text(EXPERIMENT)
    plan = renoise.pipeline.plan.plan(renoise.pipeline.config.load(tmp_path / "t.yaml"))
    assert [run.key for run in plan] == ["data", "classifier", "one_level/001", "one_level/001/25/0001", "compare"]
    for run in plan:
        (tmp_path / run.run_dir).mkdir(parents=True)
    return {run.key: run for run in plan}


def folder(root, run):
    return root / run.run_dir


def marker(seconds=12.34, peak_mb=1536, worker="w1", host="h") -> dict:
    return {"seconds": seconds, "peak_memory_mb": peak_mb, "worker": worker, "host": host}


def wait_for(condition, what: str, seconds: float = 5.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.01)
    raise AssertionError(f"no {what} within {seconds} s")


def screen(text: str) -> list[str]:
    """What a terminal shows after ``text``: its lines, with ``ESC[nF`` (up n lines, to the first
    column) and ``ESC[J`` (erase from the cursor to the end) carried out."""
    lines, row, col = [""], 0, 0
    for part in re.split(r"(\x1b\[\d*[FJ])", text):
        if part.startswith("\x1b["):
            if part.endswith("F"):
                row, col = max(0, row - int(part[2:-1] or 1)), 0
            else:
                lines[row] = lines[row][:col]
                del lines[row + 1:]
            continue
        for char in part:
            if char == "\n":
                row, col = row + 1, 0
                if row == len(lines):
                    lines.append("")
            else:
                line = lines[row].ljust(col)
                lines[row] = line[:col] + char + line[col + 1:]
                col += 1
    return lines


def test_the_screen_helper_carries_out_the_erase_sequence():
    assert screen("a\nb\nc\n\x1b[2F\x1b[Jd\n") == ["a", "d", ""]


def test_plain_lines_follow_each_runs_notice_and_epochs_and_the_runners_events(tmp_path, runs):
    lines: list[str] = []
    board = Board(tmp_path, list(runs.values()), log=lines.append, live=False, interval=INTERVAL)
    data, classifier, parent, child = (runs[k] for k in ("data", "classifier", "one_level/001", "one_level/001/25/0001"))
    with board.watch([data, classifier, parent, child]):
        assert board.summary() == "0 done, 0 running, 4 pending, 0 failed"
        announce(folder(tmp_path, data), host="h", worker="w1")
        wait_for(lambda: len(lines) == 1, "run line")
        assert board.summary() == "0 done, 1 running, 3 pending, 0 failed"
        atomic.write_json(folder(tmp_path, data) / progress.PROGRESS, {"epoch": 0, "epochs": 5})  # training began
        time.sleep(5 * INTERVAL)
        atomic.write_json(folder(tmp_path, data) / progress.PROGRESS,
                          {"epoch": 2, "epochs": 5, "seconds": 3.0, "loss": 0.123456, "val_loss": 0.2})
        wait_for(lambda: len(lines) == 2, "epoch line")
        time.sleep(5 * INTERVAL)  # the same epoch, polled again, says nothing more
        board.done("data", marker())
        announce(folder(tmp_path, classifier), host="h", worker="local")  # the sequential executor
        wait_for(lambda: len(lines) == 4, "second run line")
        board.failed("classifier", "classifier: ValueError: boom (see runs/t/classifier/classifier.ipynb)")
        board.blocked("one_level/001", "its input classifier did not complete")
        assert board.summary() == "1 done, 0 running, 1 pending, 2 failed"
    assert lines == [
        f"  run   {'data':<36} data on w1@h ...",
        f"  epoch {'data':<36} epoch   2/5  loss 0.1235  val_loss 0.2",
        f"  done  {'data':<36}    12.3 s  1.50 GB  w1@h",
        f"  run   {'classifier':<36} classifier ...",
        f"  FAIL  {'classifier':<36} classifier: ValueError: boom (see runs/t/classifier/classifier.ipynb)",
        f"  stop  {'one_level/001':<36} not run: its input classifier did not complete",
    ]


def test_a_run_that_finishes_between_two_polls_still_gets_its_run_line_first(tmp_path, runs):
    lines: list[str] = []
    board = Board(tmp_path, list(runs.values()), log=lines.append, live=False, interval=60)  # no poll comes
    data, classifier = runs["data"], runs["classifier"]
    start = time.monotonic()
    with board.watch([data, classifier]):
        announce(folder(tmp_path, data), host="h", worker="w2")
        retire(folder(tmp_path, data))  # as a task does when it is done: only its marker says where it ran
        board.done("data", marker(seconds=0.4, peak_mb=None, worker="w2"))
        announce(folder(tmp_path, classifier), host="h", worker="w1")  # a failed task leaves its notice
        board.failed("classifier", "classifier: boom")
        assert board.summary() == "1 done, 0 running, 0 pending, 1 failed"
    assert time.monotonic() - start < 5  # leaving the block does not wait out the poll interval
    assert lines == [
        f"  run   {'data':<36} data on w2@h ...",
        f"  done  {'data':<36}     0.4 s  w2@h",
        f"  run   {'classifier':<36} classifier on w1@h ...",
        f"  FAIL  {'classifier':<36} classifier: boom",
    ]


def test_a_notice_left_by_a_killed_run_announces_nothing_until_the_run_starts_again(tmp_path, runs):
    compare = runs["compare"]
    stale = {"started": "2020-01-01T00:00:00", "host": "h", "worker": "w9"}
    atomic.write_json(folder(tmp_path, compare) / progress.RUNNING, stale)
    lines: list[str] = []
    board = Board(tmp_path, list(runs.values()), log=lines.append, live=False, interval=INTERVAL)
    with board.watch([runs["data"], compare]):
        time.sleep(6 * INTERVAL)
        assert lines == [] and board.summary() == "0 done, 0 running, 2 pending, 0 failed"
        retire(folder(tmp_path, compare))  # the runner, as it hands the run over
        announce(folder(tmp_path, compare), host="h", worker="w1")
        wait_for(lambda: lines, "run line")
    assert lines == [f"  run   {'compare':<36} compare on w1@h ..."]


def test_on_a_terminal_a_live_block_shows_each_running_run_and_leaves_nothing_behind(tmp_path, runs, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    stream = io.StringIO()
    board = Board(tmp_path, list(runs.values()), stream=stream, live=True, interval=INTERVAL)
    classifier, parent = runs["classifier"], runs["one_level/001"]
    board.log(f"  skip  {'data':<36} complete")  # before watching: a plain line, no block
    with board.watch([classifier, parent], dashboard="http://10.0.0.5:8787/status"):
        announce(folder(tmp_path, classifier), host="h", worker="w1")
        atomic.write_json(folder(tmp_path, classifier) / progress.PROGRESS, {"epoch": 3, "epochs": 10, "loss": 0.5})
        wait_for(lambda: "epoch   3/10" in screen(stream.getvalue())[-2], "the epoch in the block")
        shown = screen(stream.getvalue())
        assert shown[:3] == [f"  skip  {'data':<36} complete", "  dask dashboard: http://10.0.0.5:8787/status",
                             f"  run   {'classifier':<36} classifier on w1@h ..."]
        assert shown[3] == "  [0 done, 1 running, 1 pending, 0 failed]  dashboard http://10.0.0.5:8787/status"
        assert re.fullmatch(rf"  {'classifier':<36} epoch   3/10  loss 0\.5 +\d+ s", shown[4])
        assert shown[5:] == [""]
        assert "\x1b[2F\x1b[J" in stream.getvalue()  # the block is erased before it is drawn again
        board.done("classifier", marker())
        wait_for(lambda: screen(stream.getvalue())[-2] == "  [1 done, 0 running, 1 pending, 0 failed]  "
                 "dashboard http://10.0.0.5:8787/status", "the block after the run")
    assert screen(stream.getvalue()) == [
        f"  skip  {'data':<36} complete",
        "  dask dashboard: http://10.0.0.5:8787/status",
        f"  run   {'classifier':<36} classifier on w1@h ...",
        f"  done  {'classifier':<36}    12.3 s  1.50 GB  w1@h",
        "",
    ]
    assert "epoch" not in stream.getvalue().split("\x1b[")[0]  # no epoch lines where the block shows them


def test_a_complete_runs_cost_reads_as_time_and_peak_memory():
    assert progress.describe_cost({"seconds": 61.25, "peak_memory_mb": 512}) == "   61.2 s  0.50 GB"
    assert progress.describe_cost({"seconds": 3}) == "    3.0 s"
    assert progress.describe_epoch({"epoch": 7, "epochs": 16, "loss": 0.08123, "val_loss": 0.0901}) == \
        "epoch   7/16  loss 0.08123  val_loss 0.0901"
