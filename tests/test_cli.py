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
    assert lines[0].split()[:2] == ["missing", "data"] and lines[-1] == "0/30 runs complete; backend tensorflow"
    assert "one_level/003/Mixed/0001" in result.stdout and "never run, or interrupted" in lines[0]


BLOCK_TENSORFLOW = """
import importlib.util, sys
class Refuse:  # finds tensorflow, keras and mlflow (validation asks whether a backend is installed), refuses to load them
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("tensorflow", "keras", "mlflow"):
            return importlib.util.spec_from_loader(name, self)
    def create_module(self, spec):
        raise ImportError(f"status must not import {spec.name}")
    def exec_module(self, module):
        pass
sys.meta_path.insert(0, Refuse())
from renoise.cli import main
code = main(["status"])
assert "tensorflow" not in sys.modules and "keras" not in sys.modules and "mlflow" not in sys.modules
raise SystemExit(code)
"""


def test_status_works_with_tensorflow_and_keras_blocked(project):
    result = subprocess.run([sys.executable, "-c", BLOCK_TENSORFLOW], cwd=project, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "0/30 runs complete; backend tensorflow"


@pytest.mark.parametrize("flags, message", [
    (["--workers", "2", "--scheduler", "tcp://127.0.0.1:1"], "--workers and --scheduler exclude each other"),
    (["--workers", "0"], "--workers: expected a whole number of at least 1, got 0"),
    (["--scheduler", "tcp://127.0.0.1:9"], "cannot reach the dask scheduler at tcp://127.0.0.1:9"),
    (["--scheduler", "tls://127.0.0.1:9"], "tls://127.0.0.1:9: a tls:// address needs certificates: give "
     "--tls-ca-file, --tls-cert and --tls-key, or set distributed.comm.tls.* in dask's configuration (missing --tls-ca-file)"),
    (["--scheduler", "tls://127.0.0.1:9", *(f"--tls-{f}=absent.pem" for f in ("ca-file", "cert", "key"))],
     "--tls-ca-file: cannot read absent.pem: No such file or directory"),
])
def test_bad_executor_flags_are_one_line(project, flags, message, monkeypatch):
    monkeypatch.setenv("DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT", "3s")  # dask's own setting: a refused port fails sooner
    (project / "experiments" / "x.yaml").write_text("structures: {one_level: {epochs: 1}}\n")
    result = renoise("run", "x", *flags, cwd=project)
    assert result.returncode == 1 and message in result.stderr
    assert result.stderr.count("\n") == 1 and not (project / "runs" / "x").exists()


def executed_compare(project, name="x"):
    """A stand-in for an executed compare notebook: markdown, code and its output."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

    notebook = new_notebook(cells=[new_markdown_cell("## Metrics over noise"),
                                   new_code_cell("print('secret code')", outputs=[new_output("stream", text="42\n")])])
    path = project / "runs" / name / "compare" / "compare.ipynb"
    path.parent.mkdir(parents=True)
    nbformat.write(notebook, path)
    return path


def test_reports_with_and_without_code(project):
    from renoise.report.html import write_reports

    executed_compare(project)
    with_code, without = write_reports(project, "x")
    assert with_code == project / "reports/x/comparison.html" and without == project / "reports/x/no_code/comparison.html"
    assert "secret" in with_code.read_text() and "secret" not in without.read_text()
    for html in (with_code.read_text(), without.read_text()):
        assert "Metrics over noise" in html and "42" in html and "<title>renoise x: comparison</title>" in html


def test_main_in_process(project, monkeypatch, capsys):
    """The CLI's own code paths, in this process: status, report (runner stubbed), failures, errors."""
    from renoise import cli
    from renoise.pipeline import runner

    monkeypatch.chdir(project)
    assert cli.main(["status"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "0/30 runs complete; backend tensorflow"
    (project / "experiments" / "x.yaml").write_text("structures: {one_level: {epochs: 1}}\n")
    executed_compare(project)
    monkeypatch.setattr(runner, "run_plan", lambda plan, root, name, then=None, **kw: then() or runner.Outcome())
    assert cli.main(["report", "x", "--quiet", "--workers", "1"]) == 0
    out = capsys.readouterr().out
    assert "0 runs executed, 4 up to date" in out and "wrote reports/x/no_code/comparison.html" in out
    failed = runner.Outcome(executed=["data"], failed={"classifier": "classifier: ValueError: boom (cell 3 of c.ipynb)"},
                            blocked={"compare": "its input classifier did not complete"})
    monkeypatch.setattr(runner, "run_plan", lambda *args, **kw: failed)
    assert cli.main(["run", "x", "--workers", "1"]) == 1
    captured = capsys.readouterr()
    assert "1 runs executed, 3 up to date, 1 failed, 1 not run" in captured.out
    assert captured.err.splitlines() == ["renoise: failed: classifier: ValueError: boom (cell 3 of c.ipynb)",
                                         "renoise: not run: compare: its input classifier did not complete"]
    assert cli.main(["run", str(project / "experiments" / "absent.yml")]) == 1
    assert capsys.readouterr().err.startswith("renoise: error: ")

    def interrupted(*args, **kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "run_plan", interrupted)
    assert cli.main(["run", "x", "--workers", "1"]) == 130
    assert "completed runs are kept" in capsys.readouterr().err


@pytest.mark.parametrize("workers, machine, expected", [
    (None, (1, 24 * 2**30), "Sequential"), (None, (2, 24 * 2**30), 2), ("1", (16, 24 * 2**30), "Sequential"),
    (None, (16, 5 * 2**30), 2),
])
def test_the_default_executor_fills_the_machine_and_one_worker_is_sequential(monkeypatch, workers, machine, expected):
    from renoise import cli
    from renoise.pipeline import executors

    started = []
    monkeypatch.setattr(executors, "Dask", lambda **kw: started.append(kw) or "dask")
    args = cli.parser().parse_args(["run", "x"] + (["--workers", workers] if workers else []))
    executor = cli.make_executor(args, machine=machine)
    if expected == "Sequential":
        assert isinstance(executor, executors.Sequential) and not started
    else:
        assert executor == "dask" and started == [{"workers": expected, "dashboard_address": "127.0.0.1:8787"}]


@pytest.mark.parametrize("address", ["8787", "localhost:port", "127.0.0.1:70000", "http://host:8787"])
def test_a_malformed_dashboard_address_is_one_line_and_nothing_starts(project, address):
    (project / "experiments" / "x.yaml").write_text("structures: {one_level: {epochs: 1}}\n")
    result = renoise("run", "x", "--workers", "2", "--dashboard", address, cwd=project)
    assert result.returncode == 1 and result.stderr.count("\n") == 1
    assert result.stderr.startswith("renoise: error: --dashboard: expected HOST:PORT") and repr(address) in result.stderr
    assert not (project / "runs" / "x").exists()


def test_more_workers_than_the_memory_holds_is_one_line(project):
    from renoise.pipeline import sizing

    (project / "experiments" / "x.yaml").write_text("structures: {one_level: {epochs: 1}}\n")
    too_many = sizing.most_workers(sizing.machine()[1]) + 1
    result = renoise("run", "x", "--workers", str(too_many), cwd=project)
    assert result.returncode == 1 and result.stderr.count("\n") == 1
    assert f"renoise: error: --workers: {too_many} workers need {2 * too_many} GiB; this machine's " in result.stderr
    assert f"GiB of free memory holds at most {too_many - 1}" in result.stderr and not (project / "runs" / "x").exists()
