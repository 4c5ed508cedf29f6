"""renoise: two denoising autoencoders trained iteratively on salt-and-pepper MNIST.

The library behind the notebook suite: data and noise, models and their training, metrics and
t-SNE, classical baselines, statistics over repetitions, and the runner that executes an
experiment's notebooks in order, in this process or on a dask cluster.
"""

import os

#: Environment for TensorFlow, here and in every notebook kernel: no C++ start-up chatter over the
#: progress a user wants to see, and no oneDNN kernels, whose float reordering varies run to run.
TF_ENVIRONMENT = {"TF_CPP_MIN_LOG_LEVEL": "3", "TF_ENABLE_ONEDNN_OPTS": "0"}
for _name, _value in TF_ENVIRONMENT.items():
    os.environ.setdefault(_name, _value)

from renoise import logs as _logs  # noqa: E402  (after the environment above)

_logs.divert_warnings()

__version__ = "0.2.0"


def threads() -> int:
    """CPU threads this process may use: ``RENOISE_THREADS`` where the runner set it (several
    notebooks side by side on one machine), else every core."""
    try:
        return max(1, int(os.environ["RENOISE_THREADS"]))
    except (KeyError, ValueError):
        return os.cpu_count() or 1


def op_threads() -> int:
    """Threads TensorFlow splits one op over: ``RENOISE_OP_THREADS`` where the runner set it (the
    experiment's ``threads``: a run's numbers depend on it, so it is part of the run, not of the
    machine or the executor), else :func:`threads`."""
    try:
        return max(1, int(os.environ["RENOISE_OP_THREADS"]))
    except (KeyError, ValueError):
        return threads()
