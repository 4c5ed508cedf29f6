"""``make lab``: JupyterLab on 127.0.0.1 with its token, as root too (with ``--allow-root``, said once).

Runs only where ``make lab`` has installed JupyterLab (``.venv/.lab``): this test never installs it.
"""

import os
import re
import select
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(not (ROOT / ".venv" / ".lab").exists(), reason="JupyterLab not installed (make lab)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def first_match(process, pattern: str, seconds: float = 120) -> tuple[re.Match, str]:
    """Read the server's output until ``pattern`` appears; the match and everything read."""
    seen, deadline = "", time.monotonic() + seconds
    while time.monotonic() < deadline and process.poll() is None:
        if select.select([process.stdout], [], [], 1)[0]:
            seen += os.read(process.stdout.fileno(), 65536).decode(errors="replace")
            found = re.search(pattern, seen)
            if found:
                return found, seen
    pytest.fail(f"no {pattern!r} from make lab:\n{seen}")


#: Straight to the server: a proxy from the environment would not reach this machine's loopback.
OPEN = urllib.request.build_opener(urllib.request.ProxyHandler({})).open


def test_make_lab_serves_on_loopback_with_its_token_as_root_too():
    port = free_port()
    process = subprocess.Popen(["make", "--no-print-directory", "lab", f"LAB_PORT={port}"], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        # the URL, printed a second time once the server accepts connections (the first comes before)
        found, seen = first_match(process, rf"copy and paste one of these URLs:\s+http://127\.0\.0\.1:{port}/lab\?token=(\w+)\n")
        with OPEN(f"http://127.0.0.1:{port}/lab?token={found.group(1)}", timeout=30) as page:
            assert page.status == 200
        with pytest.raises(urllib.error.HTTPError) as refused:
            OPEN(f"http://127.0.0.1:{port}/api/contents", timeout=30)
        assert refused.value.code == 403  # no token, no access
        assert ("passing --allow-root" in seen) == (os.geteuid() == 0)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)
