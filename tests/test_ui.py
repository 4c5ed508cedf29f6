"""``make ui``: MLflow's UI over the tracker's store, on 127.0.0.1 only, answering within 30 s.

Runs only where ``make ui`` has installed the full MLflow (``.venv/.ui``): this test never installs
it. It serves a scratch store (``TRACKER=``), not the project's, and stops every process it starts.
"""

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(not (ROOT / ".venv" / ".ui").exists(), reason="MLflow's UI not installed (make ui)")

#: Straight to the server: a proxy from the environment would not reach this machine's loopback.
OPEN = urllib.request.build_opener(urllib.request.ProxyHandler({})).open
#: The issue's bound on the time from `make ui` to the experiments page.
SECONDS = 30


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def first_answer(url: str, process, seconds: float, log: Path):
    """The first answer of ``url`` within ``seconds``, while ``process`` runs (its output in ``log``)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with OPEN(url, timeout=5) as page:
                return page.status, page.read()
        except OSError:  # not listening yet
            time.sleep(0.2)
    pytest.fail(f"no answer from {url} within {seconds} s:\n{log.read_text(errors='replace')}")


def stop(process) -> None:
    """SIGTERM to the whole process group (make, mlflow, its server), then wait until none is left."""
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=60)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    pytest.fail("make ui left processes behind after SIGTERM")


def test_make_ui_serves_the_store_on_loopback_within_30_s(tmp_path):
    import psutil
    from mlflow import MlflowClient

    store = tmp_path / "storage"
    MlflowClient(f"sqlite:///{store}/mlflow.db").create_experiment("seen-in-the-ui")
    port, log = free_port(), tmp_path / "make-ui.log"
    started = time.monotonic()
    with log.open("wb") as output:  # a file, not a pipe nobody reads while the server runs
        process = subprocess.Popen(["make", "--no-print-directory", "ui", f"UI_PORT={port}", f"TRACKER={store}"],
                                   cwd=ROOT, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        status, _ = first_answer(f"http://127.0.0.1:{port}/#/experiments", process, SECONDS, log)
        assert status == 200 and time.monotonic() - started < SECONDS
        _, found = first_answer(f"http://127.0.0.1:{port}/ajax-api/2.0/mlflow/experiments/search?max_results=100",
                                process, 10, log)
        assert "seen-in-the-ui" in [e["name"] for e in json.loads(found)["experiments"]]
        listening = {c.laddr.ip for c in psutil.net_connections("tcp") if c.laddr.port == port and c.status == "LISTEN"}
        assert listening == {"127.0.0.1"}
    finally:
        stop(process)
