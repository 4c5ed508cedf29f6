"""bench/run.py measures training as a run's kernel trains: the same threads for TensorFlow and XLA."""

import json
import os
import subprocess
import sys
from types import SimpleNamespace

from renoise.pipeline import engine

from conftest import ROOT

#: The variables a kernel's numbers or speed depend on, which the caller's shell must not decide here.
SETTINGS = ("XLA_FLAGS", "RENOISE_OP_THREADS", "TF_NUM_INTRAOP_THREADS", "KERAS_BACKEND")


def test_the_bench_trains_in_the_environment_of_a_default_runs_kernel():
    clean = {name: value for name, value in os.environ.items() if name not in SETTINGS}
    script = "import json, os, sys; sys.path.insert(0, 'bench'); import run; print(json.dumps(dict(os.environ)))"
    environment = json.loads(subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=clean, check=True,
                                            capture_output=True, text=True).stdout.splitlines()[-1])
    kernel = engine.kernel_settings(SimpleNamespace(backend="tensorflow", threads=1), threads=None)
    assert {name: environment.get(name) for name in SETTINGS} == {name: kernel[name] for name in SETTINGS}
    assert "intra_op_parallelism_threads=1" in environment["XLA_FLAGS"]  # one XLA thread per op, as a run has


def test_the_two_sides_of_a_training_ratio_take_turns_and_are_rated_by_their_own_fits():
    # Each fit advances a fake clock by its side's seconds an epoch; the rates are then exact.
    script = """
import json, sys, time
sys.path.insert(0, 'bench')
import run
clock, calls = [0.0], []
def side(name, seconds_an_epoch):
    def fit(epochs):
        calls.append([name, epochs])
        clock[0] += seconds_an_epoch * epochs
    return fit
run.time.perf_counter = lambda: clock[0]
rates = run.fit_rates({'a': side('a', 2.0), 'b': side('b', 5.0)}, images=1000, repeats=3)
print(json.dumps({'calls': calls, 'rates': rates, 'epochs': run.TRAIN_EPOCHS}))
"""
    result = json.loads(subprocess.run([sys.executable, "-c", script], cwd=ROOT, check=True, capture_output=True,
                                       text=True).stdout.splitlines()[-1])
    epochs = result["epochs"]
    assert result["calls"] == [["a", 1], ["b", 1]] + [["a", epochs], ["b", epochs]] * 3  # warm-ups, then turns
    assert result["rates"] == {"a": [500.0] * 3, "b": [200.0] * 3}  # 1,000 images an epoch in 2 s and in 5 s
