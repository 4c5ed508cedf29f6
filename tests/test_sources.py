"""Code identity: the import graph from ast, and exactly which runs go stale when a module is edited."""

import re
import shutil

import pytest

from renoise.pipeline import sources
from renoise.report import pairing
import renoise.pipeline.config
import renoise.pipeline.plan

from conftest import ROOT

PLAN_YAML = "structures: {one_level: {epochs: 1, children: [0.25]}}\n"
DATA, CLASSIFIER, MODELS, COMPARE = {"data"}, {"classifier"}, {"one_level/001", "one_level/001/25/0001"}, {"compare"}
EXPERIMENT = DATA | CLASSIFIER | MODELS | COMPARE
#: The run of ``renoise compare`` (notebooks/paired.ipynb) over finished experiments.
PAIRED = {"compare/x"}
EVERYTHING = EXPERIMENT | PAIRED
#: For each module, the runs an edit to it must make stale, worked out by hand from what each
#: notebook imports: data <- data, figures, noise, paths; classifier adds models and training;
#: autoencoder adds markers; compare reads the evaluation code, plots and tables; paired reads
#: pairing, findings, styles and tables (and through pairing the plan's Run and html's folder). A package's
#: ``__init__`` counts for every module below it. Modules no notebook imports (the runner's
#: machinery) make nothing stale.
EXPECTED = {
    # the package, its base modules and its face
    "renoise": EVERYTHING, "renoise.atomic": EVERYTHING, "renoise.errors": EVERYTHING, "renoise.paths": EVERYTHING,
    "renoise.logs": COMPARE,  # routes output only: __init__ calls it, the closure counts evaluation's import
    "renoise.__main__": set(), "renoise.cli": set(),
    # science
    "renoise.science": EVERYTHING, "renoise.science.noise": EVERYTHING, "renoise.science.data": EXPERIMENT,
    "renoise.science.architectures": CLASSIFIER | MODELS | COMPARE | PAIRED,
    "renoise.science.backend": CLASSIFIER | MODELS | COMPARE | PAIRED,
    "renoise.science.models": CLASSIFIER | MODELS | COMPARE, "renoise.science.training": CLASSIFIER | MODELS | COMPARE,
    "renoise.science.feeds": CLASSIFIER | MODELS | COMPARE,
    "renoise.science.baselines": COMPARE | PAIRED, "renoise.science.metrics": COMPARE | PAIRED,
    "renoise.science.embedding": COMPARE,
    # pipeline
    "renoise.pipeline": MODELS | COMPARE | PAIRED, "renoise.pipeline.markers": MODELS | COMPARE,
    "renoise.pipeline.specs": COMPARE | PAIRED, "renoise.pipeline.plan": PAIRED,
    "renoise.pipeline.config": set(), "renoise.pipeline.engine": set(), "renoise.pipeline.executors": set(),
    "renoise.pipeline.lock": set(), "renoise.pipeline.memory": set(), "renoise.pipeline.progress": set(),
    "renoise.pipeline.runner": set(), "renoise.pipeline.sources": set(), "renoise.pipeline.overrides": set(),
    "renoise.pipeline.grid": set(), "renoise.pipeline.security": set(), "renoise.pipeline.sizing": set(),
    "renoise.pipeline.stops": set(),
    # report
    "renoise.report": EVERYTHING, "renoise.report.figures": EVERYTHING,
    "renoise.report.tables": COMPARE | PAIRED, "renoise.report.styles": COMPARE | PAIRED,
    "renoise.report.statistics": COMPARE | PAIRED,
    "renoise.report.evaluation": COMPARE, "renoise.report.plots": COMPARE, "renoise.report.diagrams": COMPARE,
    "renoise.report.findings": COMPARE | PAIRED,
    "renoise.report.pairing": PAIRED, "renoise.report.html": PAIRED,
    "renoise.pipeline.tracking": set(), "renoise.pipeline.tracker": set(),  # the submitting process logs finished runs
}


@pytest.fixture(scope="module")
def copy(tmp_path_factory):
    """A copy of the package and the notebooks, a small experiment's plan over them and a comparison."""
    where = tmp_path_factory.mktemp("copy")
    shutil.copytree(sources.PACKAGE_DIR, where / "renoise", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "notebooks", where / "notebooks")
    (where / "t.yaml").write_text(PLAN_YAML)
    plan = renoise.pipeline.plan.plan(renoise.pipeline.config.load(where / "t.yaml"))
    return where, plan + [pairing.comparison_run("x", [])]


def stale_after_editing(copy, module: str) -> set[str]:
    where, plan = copy
    path = sources.module_file(module, where / "renoise")
    before = sources.expected_hashes(plan, where / "notebooks", where / "renoise")
    original = path.read_text()
    path.write_text(original + "\nEDITED = True\n")
    try:
        after = sources.expected_hashes(plan, where / "notebooks", where / "renoise")
    finally:
        path.write_text(original)
    return {key for key in before if before[key] != after[key]}


def test_every_module_is_accounted_for(copy):
    modules = set(sources.package_modules(copy[0] / "renoise"))
    assert (sorted(modules - set(EXPECTED)), sorted(set(EXPECTED) - modules)) == ([], [])  # (not listed, gone)


@pytest.mark.parametrize("module", sorted(EXPECTED))
def test_editing_a_module_makes_exactly_its_readers_stale(copy, module):
    assert stale_after_editing(copy, module) == EXPECTED[module]


def test_comments_docstrings_and_layout_make_nothing_stale(copy):
    where, plan = copy
    path = sources.module_file("renoise.science.noise", where / "renoise")
    before = sources.expected_hashes(plan, where / "notebooks", where / "renoise")
    original = path.read_text()
    edited = re.sub(r'(\n    """)', r"\1A typo fixed. ", original, count=1)  # the first function docstring
    edited = '"""Rewritten."""\n# a new comment\n\n' + edited.split('"""', 2)[2]  # the module's docstring
    assert edited.count("A typo fixed. ") == 1 and "Rewritten" in edited
    path.write_text(edited)
    try:
        after = sources.expected_hashes(plan, where / "notebooks", where / "renoise")
    finally:
        path.write_text(original)
    assert before == after


def test_the_program_keeps_code_and_drops_prose():
    assert sources.program_text("x = 1  # one\n") == sources.program_text("\n\nx = 1\n")
    assert sources.program_text('def f():\n    "Doc."\n    return 1\n') == sources.program_text("def f():\n    return 1\n")
    assert sources.program_text('def f():\n    "Doc."\n') == sources.program_text("def f():\n    pass\n")
    assert sources.program_text("x = 'a string'\n") != sources.program_text("x = 'a strong'\n")
    assert sources.program_text("x = 1\n") != sources.program_text("x = 2\n")


def test_editing_a_notebook_makes_its_runs_and_their_dependants_stale(copy):
    where, plan = copy
    notebook = where / "notebooks" / "classifier.ipynb"
    before = sources.expected_hashes(plan, where / "notebooks", where / "renoise")
    original = notebook.read_text()
    notebook.write_text(original.replace("Classifier of clean images", "Classifier of clean digits"))
    try:
        after = sources.expected_hashes(plan, where / "notebooks", where / "renoise")
    finally:
        notebook.write_text(original)
    assert {key for key in before if before[key] != after[key]} == CLASSIFIER | COMPARE


def test_imports_are_read_from_the_syntax_tree(tmp_path):
    package = tmp_path / "renoise"
    package.mkdir()
    for name in ("__init__", "a", "b", "c", "d"):
        (package / f"{name}.py").write_text("")
    code = ("import os\nfrom renoise import a, not_a_module\nimport renoise.b as bee\n%matplotlib inline\n"
            "def later():\n    from renoise.c import thing\n")
    assert sources.imported_modules(code, package) == {"renoise", "renoise.a", "renoise.b", "renoise.c"}
    (package / "a.py").write_text("from renoise import d\n")
    assert sources.closure(["renoise.a"], package) == ["renoise", "renoise.a", "renoise.d"]
    (package / "wing").mkdir()
    (package / "wing" / "__init__.py").write_text("")
    (package / "wing" / "e.py").write_text("")
    (package / "b.py").write_text("from renoise.wing import e\n")
    assert sources.closure(["renoise.b"], package) == ["renoise", "renoise.b", "renoise.wing", "renoise.wing.e"]
    assert sources.parents("renoise.wing.e") == {"renoise", "renoise.wing"}
    # code that does not parse counts as importing everything: it can only make a run stale
    assert sources.imported_modules("def broken(:\n", package) == set(sources.package_modules(package))


def test_a_runs_hash_covers_parameters_code_and_inputs():
    base = sources.run_hash({"epochs": 1}, "code", ["input"])
    assert base == sources.run_hash({"epochs": 1}, "code", ["input"])
    assert len({base, sources.run_hash({"epochs": 2}, "code", ["input"]), sources.run_hash({"epochs": 1}, "other", ["input"]),
                sources.run_hash({"epochs": 1}, "code", ["changed"])}) == 4
