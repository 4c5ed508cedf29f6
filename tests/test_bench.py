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
