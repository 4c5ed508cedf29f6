"""The house's three wings and their one-way arrows: base <- science <- pipeline <- report, with
report -> science directly; and its size rules: short functions in short modules. Read from the
syntax tree (renoise.pipeline.sources), never imported."""

import ast

import pytest

from renoise.pipeline import sources

from conftest import ROOT

#: What each wing may import besides itself and the base modules at the top level.
ALLOWED = {"science": set(), "pipeline": {"science"}, "report": {"science", "pipeline"}}
WINGS = set(ALLOWED)
#: The most lines a function may take, and the fewest a module may not reach.
FUNCTION_LINES, MODULE_LINES = 40, 350


def wing(module: str) -> str:
    """``renoise.science.data`` -> ``science``; a top-level module -> ``""``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 2 and parts[1] in WINGS else ""


def source_of(module: str) -> str:
    return sources.module_file(module).read_text(encoding="utf-8")


def imports_of(module: str) -> set[str]:
    return sources.imported_modules(source_of(module))


@pytest.mark.parametrize("module", [m for m in sources.package_modules() if wing(m)])
def test_a_wing_imports_only_the_wings_below_it(module):
    own = wing(module)
    crossing = {m for m in imports_of(module) if wing(m) and wing(m) != own and wing(m) not in ALLOWED[own]}
    assert not crossing, f"{module} imports {sorted(crossing)}"


@pytest.mark.parametrize("module", ["renoise.errors", "renoise.atomic", "renoise.paths", "renoise.logs"])
def test_the_base_modules_import_no_wing(module):
    assert not {m for m in imports_of(module) if wing(m)}


def test_every_module_sits_in_a_wing_or_is_a_base_module_or_the_face():
    top = {m for m in sources.package_modules() if not wing(m) and m.count(".") == 1}
    assert top == {"renoise.errors", "renoise.atomic", "renoise.paths", "renoise.logs", "renoise.cli",
                   "renoise.__main__", "renoise.science", "renoise.pipeline", "renoise.report"}


@pytest.mark.parametrize("package", sorted(WINGS))
def test_a_wings_init_holds_no_code(package):
    body = ast.parse(sources.module_file(f"renoise.{package}").read_text()).body
    assert all(isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) for node in body)  # a docstring


def test_the_rule_catches_an_import_against_the_arrows(tmp_path):
    package = tmp_path / "renoise"
    for folder in (package, package / "science", package / "report"):
        folder.mkdir()
        (folder / "__init__.py").write_text("")
    (package / "report" / "plots.py").write_text("")
    (package / "science" / "data.py").write_text("from renoise.report import plots\n")
    found = sources.imported_modules((package / "science" / "data.py").read_text(), package)
    assert {wing(m) for m in found} - {"science", *ALLOWED["science"], ""} == {"report"}


@pytest.mark.parametrize("module", sources.package_modules())
def test_no_function_is_over_40_lines(module):
    functions = [node for node in ast.walk(ast.parse(source_of(module)))
                 if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))]
    long = [f"{f.name} ({f.end_lineno - f.lineno + 1})" for f in functions if f.end_lineno - f.lineno + 1 > FUNCTION_LINES]
    assert not long, f"{module}: {', '.join(long)}"


@pytest.mark.parametrize("module", sources.package_modules())
def test_every_module_is_under_350_lines(module):
    assert len(source_of(module).splitlines()) < MODULE_LINES


def top_level_names(module: str) -> set[str]:
    """What ``module`` defines or imports at its top level: the names ``from module import`` finds."""
    names = set()
    for node in ast.parse(source_of(module)).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(t.id for target in targets for t in ast.walk(target) if isinstance(t, ast.Name))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
    return names


def unresolved(source: str) -> list[str]:
    """The renoise modules and names that ``source`` imports (anywhere in it) and the package lacks."""
    modules, missing = set(sources.package_modules()), []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            missing += [a.name for a in node.names if a.name.split(".")[0] == "renoise" and a.name not in modules]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "renoise":
            if node.module not in modules:
                missing.append(node.module)
                continue
            names = top_level_names(node.module)
            missing += [f"{node.module}.{a.name}" for a in node.names
                        if a.name not in names and f"{node.module}.{a.name}" not in modules]
    return missing


@pytest.mark.parametrize("script", sorted((ROOT / "bench").glob("*.py")), ids=lambda path: path.name)
def test_the_bench_scripts_import_only_what_the_package_has(script):
    """The bench lives outside the package, so a module that moves leaves it behind unless this catches it."""
    assert unresolved(script.read_text(encoding="utf-8")) == []


def test_the_import_rule_catches_a_module_that_moved():
    assert unresolved("from renoise import atomic, data\nimport renoise.noise\nfrom renoise.science import noise, nosuch") \
        == ["renoise.data", "renoise.noise", "renoise.science.nosuch"]
