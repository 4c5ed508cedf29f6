"""The command line: one-line errors and non-zero exits on bad input; status of a fresh experiment."""

import subprocess
import sys

import pytest


def renoise(*args, cwd):
    return subprocess.run([sys.executable, "-m", "renoise", *args], cwd=cwd, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize(
    "text, message",
    [
        ("structures: {one_level: {children: [1.5]}\n", "malformed YAML at line 2"),
        ("structures: {one_level: {children: [1.5]}}\n", "noise level must be in [0, 1], got 1.5"),
        ("structures: {one_level: {children: [sometimes]}}\n", "unknown renoise mode 'sometimes'"),
        ("structures: {two_levels: {}}\n", "unknown training structure 'two_levels'"),
    ],
)
def test_bad_experiments_exit_non_zero_with_one_line(project, text, message):
    (project / "experiments" / "bad.yaml").write_text(text)
    result = renoise("run", "bad", cwd=project)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("renoise: error: ") and message in result.stderr
    assert not (project / "runs" / "bad").exists()  # nothing started, nothing written


def test_missing_experiment(project):
    result = renoise("status", "nonesuch", cwd=project)
    assert result.returncode == 1 and "experiments/nonesuch.yaml: experiment file not found" in result.stderr


def test_outside_a_project(tmp_path):
    result = renoise("status", cwd=tmp_path)
    assert result.returncode == 1 and "not inside a renoise project" in result.stderr


def test_status_of_a_fresh_experiment(project):
    result = renoise("status", cwd=project)
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines[0].split()[:2] == ["missing", "data"] and lines[-1] == "0/12 runs complete"
