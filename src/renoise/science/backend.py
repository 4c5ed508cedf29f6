"""What differs between keras' backends (TensorFlow, JAX, PyTorch): threads, determinism, seeding
and device memory. Everything else in renoise is written against ``keras`` and ``keras.ops``.

The experiment's ``backend`` chooses one; the runner gives each notebook kernel its
:func:`kernel_environment` (``KERAS_BACKEND`` and the memory settings, read when the framework
starts, so before ``import keras``). Validation (:func:`check`) finds a backend's package without
importing it, so ``status`` and validation stay free of every framework.
"""

from __future__ import annotations

import importlib.util
import os

from renoise.errors import ConfigError

#: Backends by name, with the package each imports and the extra of renoise that installs it.
PACKAGES = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}
EXTRAS = {"tensorflow": "renoise (its default install)", "jax": "renoise[jax]", "torch": "renoise[torch]"}
DEFAULT = "tensorflow"
#: How each backend is made deterministic (recorded in the marker). XLA on a CPU computes the same
#: numbers every run for a fixed thread count; on a GPU its flag below forbids atomics.
DETERMINISM = {"tensorflow": "tf.config.experimental.enable_op_determinism",
               "jax": "XLA_FLAGS=--xla_gpu_deterministic_ops=true (XLA on a CPU is deterministic)",
               "torch": "torch.use_deterministic_algorithms(True)"}


def check(name, where: str) -> str:
    """``name`` if it is a backend whose package is installed, else a :class:`ConfigError` that
    lists the choices (an unknown name) or names the extra that installs it."""
    if name not in PACKAGES:
        raise ConfigError(f"{where}: unknown backend {name!r}; choose one of {', '.join(PACKAGES)}")
    if importlib.util.find_spec(PACKAGES[name]) is None:
        raise ConfigError(f"{where}: backend {name!r} is not installed; install {EXTRAS[name]} "
                          f"(pip install -e \".[{name}]\")")
    return name


def kernel_environment(name: str, op_threads: int, kernels: int = 1) -> dict[str, str]:
    """Environment for one kernel on backend ``name``: ``KERAS_BACKEND``, and device memory that
    ``kernels`` kernels can share on one GPU (each framework otherwise takes nearly all of it).

    TensorFlow grows its allocation as needed; JAX allocates on demand and caps itself at
    1/``kernels`` of the memory; PyTorch allocates lazily already. The XLA flags keep JAX's GPU
    ops deterministic and run each CPU op on ``op_threads`` threads (part of the run's numbers)."""
    return {"KERAS_BACKEND": name, "TF_FORCE_GPU_ALLOW_GROWTH": "true", "XLA_PYTHON_CLIENT_PREALLOCATE": "false",
            "XLA_PYTHON_CLIENT_MEM_FRACTION": f"{0.9 / max(1, kernels):.3f}", "XLA_FLAGS": xla_flags(op_threads),
            "CUBLAS_WORKSPACE_CONFIG": ":4096:8"}  # what torch's deterministic cuBLAS needs


def xla_flags(op_threads: int) -> str:
    """XLA's flags: deterministic GPU ops, and one thread per CPU op where ``op_threads`` is 1."""
    flags = ["--xla_gpu_deterministic_ops=true"]
    if op_threads == 1:
        flags.append("--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
    return " ".join(flags)


def name() -> str:
    """The backend keras runs on in this process."""
    import keras

    return keras.backend.backend()


def limit_threads(op_threads: int, threads: int) -> None:
    """Set the framework's thread pools: ``op_threads`` per op, ``threads`` for independent ops
    (a no-op where the framework has already started; JAX reads its threads from ``XLA_FLAGS``)."""
    backend = name()
    if backend == "tensorflow":
        import tensorflow as tf

        tf.get_logger().setLevel("ERROR")  # many models predicting once each: "retracing" warnings
        try:
            tf.config.threading.set_intra_op_parallelism_threads(op_threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)
        except RuntimeError:  # TensorFlow is already running: its pools are fixed
            pass
    elif backend == "torch":
        import torch

        torch.set_num_threads(op_threads)
        try:
            torch.set_num_interop_threads(threads)
        except RuntimeError:  # set once per process, before any parallel work
            pass


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and the backend, and switch on the backend's determinism (:data:`DETERMINISM`)."""
    import keras

    keras.utils.set_random_seed(seed)
    backend = name()
    if backend == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    elif backend == "torch":
        import torch

        torch.use_deterministic_algorithms(True)


def caller_override(environ=os.environ) -> str | None:
    """The one line to print where the caller's shell sets ``KERAS_BACKEND``: runs take theirs
    from the experiment."""
    given = environ.get("KERAS_BACKEND")
    if given:
        return f"note: KERAS_BACKEND={given} in your shell is ignored; each run's kernel uses the experiment's backend"
    return None
