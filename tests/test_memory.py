"""The peak-memory sampler against processes of a known size."""

import os
import subprocess
import sys
import time

import pytest

from renoise.pipeline.memory import PROC, PeakMemory, descendants, high_water_mark

pytestmark = pytest.mark.skipif(not (PROC / "self" / "status").is_file(), reason="needs Linux's /proc")

HOLD = "import sys, time; block = bytearray({size}); block[::4096] = b'x' * len(block[::4096]); time.sleep({hold})"


def test_descendants_include_grandchildren():
    inner = "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(5)']); time.sleep(5)"
    outer = subprocess.Popen([sys.executable, "-c", inner])
    try:
        for _ in range(100):  # the grandchild needs a moment to start
            grandchildren = descendants(outer.pid)
            if grandchildren:
                break
            time.sleep(0.05)
        found = descendants(os.getpid())  # this process may have other children (a resource tracker, say)
        assert len(grandchildren) == 1 and outer.pid in found and grandchildren[0] in found
    finally:
        for pid in descendants(outer.pid) + [outer.pid]:
            os.kill(pid, 9)
        outer.wait()


def test_high_water_mark_of_an_ended_process_is_zero():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert high_water_mark(child.pid) == 0


def test_peak_memory_sees_a_child_that_touches_300_mb():
    size = 300 * 2**20
    with PeakMemory(interval=0.05) as memory:
        subprocess.run([sys.executable, "-c", HOLD.format(size=size, hold=0.5)], check=True)
    # the block itself, plus an interpreter (well under 100 MB)
    assert size <= memory.peak < size + 100 * 2**20


def test_peak_memory_is_the_largest_of_several_children():
    with PeakMemory(interval=0.05) as memory:
        for megabytes in (50, 200, 100):
            subprocess.run([sys.executable, "-c", HOLD.format(size=megabytes * 2**20, hold=0.3)], check=True)
    assert 200 * 2**20 <= memory.peak < 300 * 2**20
