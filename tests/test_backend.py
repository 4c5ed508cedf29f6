"""keras' backends: validation without importing one, each kernel's environment, the backend in a
run's identity, and every model builder and both training structures trained on each installed
backend (in a process of its own: keras fixes its backend at import), reproducibly."""

import importlib.util
import json
import os
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest

import renoise.pipeline.config
import renoise.pipeline.plan
from renoise.pipeline import engine, sources
from renoise.science import backend
from renoise.science.architectures import CLASSIFIER_HIDDEN
from renoise.errors import ConfigError

INSTALLED = [name for name, package in backend.PACKAGES.items() if importlib.util.find_spec(package)]
#: Trains each architecture's parent on one_level and a child on multiple_levels, saves each model
#: and prints its outputs for a few test images: what the tests compare between processes.
SCRIPT = """
import json, sys
import numpy as np
from renoise.science import backend, models, training
folder = sys.argv[1]
clean = np.random.default_rng(0).uniform(-1, 1, (96, 784)).astype(np.float32)
probe = np.random.default_rng(1).uniform(-1, 1, (8, 784)).astype(np.float32)
out = {"backend": backend.name()}
for arch in ("dense", "conv", "residual"):
    sizes = {"dense": [16, 4], "conv": [4, 4], "residual": [4]}[arch]
    parent, _ = training.train_autoencoder(clean[:64], clean[64:], "one_level", epochs=1, seed=3, architecture=arch,
                                           hidden=sizes, verbose=0)
    child, _ = training.train_autoencoder(clean[:16], clean[64:], "multiple_levels", epochs=1, seed=4, parent=parent,
                                          mode="multi", architecture=arch, hidden=sizes, verbose=0)
    for role, model in (("parent", parent), ("child", child)):
        models.save_model(model, f"{folder}/{arch}_{role}.keras")
        out[f"{arch}_{role}"] = training.predict(model, probe).tolist()
classifier, _ = training.train_classifier(clean[:64], np.arange(64) % 10, clean[64:], np.arange(32) % 10, epochs=1,
                                          seed=5, verbose=0)
out["features"] = training.predict(models.feature_extractor(classifier), probe).tolist()
print("RESULT" + json.dumps(out))
"""


def trained(name: str, folder) -> dict:
    """:data:`SCRIPT`'s outputs on backend ``name``, in a kernel's environment for that backend."""
    run = replace(renoise.pipeline.plan.Run("x", "autoencoder.ipynb", "x", {}), backend=name)
    env = {**os.environ, **engine.kernel_settings(run, threads=1)}
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(folder)], env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(line for line in done.stdout.splitlines() if line.startswith("RESULT"))
    return {k: np.asarray(v) if k != "backend" else v for k, v in json.loads(line[6:]).items()}


def test_an_unknown_backend_gets_the_choices():
    with pytest.raises(ConfigError, match=r"^x\.backend: unknown backend 'mxnet'; choose one of tensorflow, jax, torch$"):
        backend.check("mxnet", "x.backend")


def test_a_missing_backend_names_its_extra(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ConfigError, match=r"backend 'torch' is not installed; install renoise\[torch\]"):
        backend.check("torch", "quick.backend")


def test_the_experiment_validates_its_backend(tmp_path):
    path = tmp_path / "e.yaml"
    path.write_text("backend: theano\nstructures: {one_level: {epochs: 1}}\n")
    with pytest.raises(ConfigError, match="unknown backend 'theano'"):
        renoise.pipeline.config.load(path)
    path.write_text("structures: {one_level: {epochs: 1}}\n")
    assert {run.backend for run in renoise.pipeline.plan.plan(renoise.pipeline.config.load(path))} == {"tensorflow"}


@pytest.mark.parametrize("name", list(backend.PACKAGES))
def test_each_kernel_gets_its_runs_backend_and_shareable_gpu_memory(monkeypatch, name):
    monkeypatch.setenv("KERAS_BACKEND", "somewhere-else")
    run = replace(renoise.pipeline.plan.Run("x", "autoencoder.ipynb", "x", {}), backend=name, threads=1)
    with engine.environment(engine.kernel_settings(run, threads=2, kernels=4)):
        assert os.environ["KERAS_BACKEND"] == name  # the caller's is overridden
        assert os.environ["TF_FORCE_GPU_ALLOW_GROWTH"] == "true"
        assert os.environ["XLA_PYTHON_CLIENT_PREALLOCATE"] == "false"
        assert float(os.environ["XLA_PYTHON_CLIENT_MEM_FRACTION"]) * 4 <= 0.9 + 1e-9
        assert "--xla_gpu_deterministic_ops=true" in os.environ["XLA_FLAGS"]
        assert os.environ["RENOISE_OP_THREADS"] == "1" and os.environ["OMP_NUM_THREADS"] == "2"
    assert os.environ["KERAS_BACKEND"] == "somewhere-else"
    assert backend.caller_override() == ("note: KERAS_BACKEND=somewhere-else in your shell is ignored; "
                                         "each run's kernel uses the experiment's backend")


def test_the_backend_is_part_of_a_runs_hash():
    assert sources.run_hash({"a": 1}, "code", [], 1, "jax") != sources.run_hash({"a": 1}, "code", [], 1, "tensorflow")


def test_kernels_beside_counts_the_workers_on_one_host():
    from renoise.pipeline.runner import kernels_beside

    workers = ["tcp://10.0.0.1:4001", "tcp://10.0.0.1:4002", "tcp://10.0.0.2:4001"]
    assert kernels_beside("tcp://10.0.0.1:4001", workers) == 2
    assert kernels_beside(None, workers) == 1


@pytest.fixture(scope="module", params=[pytest.param(n, marks=[pytest.mark.torch] if n == "torch" else [])
                                        for n in backend.PACKAGES])
def on_backend(request, tmp_path_factory):
    if request.param not in INSTALLED:
        pytest.skip(f"keras' {request.param} backend is not installed")
    folder = tmp_path_factory.mktemp(request.param)
    return request.param, folder, trained(request.param, folder)


def test_every_builder_and_both_structures_train_on_each_backend(on_backend):
    """Each trained model gives finite images in [-1, 1]; the classifier's features are relu's (>= 0)."""
    name, _, out = on_backend
    assert out["backend"] == name
    for arch in ("dense", "conv", "residual"):
        for role in ("parent", "child"):
            y = out[f"{arch}_{role}"]
            assert y.shape == (8, 784) and np.all(np.abs(y) <= 1) and np.isfinite(y).all()
    assert out["features"].shape == (8, CLASSIFIER_HIDDEN[-1]) and (out["features"] >= 0).all()  # relu features


def test_a_model_file_predicts_the_same_in_this_process(on_backend):
    """A model trained and saved on any backend gives the same outputs, to 1e-5, when this
    process's backend (TensorFlow, by default) loads it: the builders are backend-neutral."""
    from renoise.science import models, training

    name, folder, out = on_backend
    probe = np.random.default_rng(1).uniform(-1, 1, (8, 784)).astype(np.float32)
    for arch in ("dense", "conv", "residual"):
        model = models.load_model(folder / f"{arch}_child.keras")
        np.testing.assert_allclose(training.predict(model, probe), out[f"{arch}_child"], atol=1e-5)


def test_the_same_seed_gives_the_same_numbers_on_each_backend(on_backend, tmp_path):
    name, _, out = on_backend
    again = trained(name, tmp_path)
    for key, value in out.items():
        if key != "backend":
            np.testing.assert_allclose(again[key], value, atol=1e-5, err_msg=key)
