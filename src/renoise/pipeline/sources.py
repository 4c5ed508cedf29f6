"""Code identity: which library modules a piece of code reads, one hash of them, and the hash of a run.

A run is computed by its notebook's cells and by the ``renoise`` modules those cells import,
directly or through other modules. This module finds that closure from the import graph (parsed
with :mod:`ast`, never imported), so that a run's hash covers exactly the code that ran: editing
``plots.py`` makes only the runs whose notebooks draw with it stale, and a model is not retrained
for a typo in a module its training never touches. The package's ``__init__``, and a
subpackage's, belongs to the closure of every module below it, since importing a module executes
them; so a subpackage's ``__init__`` stays empty (a re-export there would pull a whole wing into
every closure).

A run's hash covers its parameters, that code identity of its notebook, and its inputs' hashes, so a
change anywhere upstream reaches everything downstream; :mod:`renoise.pipeline.markers` compares it with
the hash a run's marker holds.
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Iterable

import renoise

PACKAGE = "renoise"
#: The package's folder (wherever this module sits inside it).
PACKAGE_DIR = Path(renoise.__file__).resolve().parent

#: IPython syntax that is not Python (magics, shell escapes): dropped before parsing a cell.
_IPYTHON_LINE = re.compile(r"^\s*[%!]")


def module_file(module: str, package_dir: Path = PACKAGE_DIR) -> Path | None:
    """The source file of a module of the package (``renoise.report.plots`` -> ``plots.py``), if it exists."""
    parts = module.split(".")
    if parts[0] != PACKAGE:
        return None
    path = package_dir.joinpath(*parts[1:])
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imported_modules(source: str, package_dir: Path = PACKAGE_DIR) -> set[str]:
    """The package's modules that ``source`` imports anywhere in its body (functions included).

    ``from renoise import plots`` names the module ``renoise.report.plots``; ``from renoise.report.plots import
    x`` names ``renoise.report.plots``. Code that does not parse counts as importing every module, so an
    unreadable cell can only make a run stale, never hide a dependency.
    """
    try:
        tree = ast.parse("\n".join(line for line in source.splitlines() if not _IPYTHON_LINE.match(line)))
    except SyntaxError:
        return set(package_modules(package_dir))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.split(".")[0] == PACKAGE)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split(".")[0] != PACKAGE:
                continue
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names
                         if module_file(f"{node.module}.{alias.name}", package_dir))
    return {module for module in found if module_file(module, package_dir)}


def package_modules(package_dir: Path = PACKAGE_DIR) -> list[str]:
    """Every module of the package, by dotted name."""
    modules = []
    for path in sorted(package_dir.rglob("*.py")):
        parts = path.relative_to(package_dir).with_suffix("").parts
        modules.append(".".join((PACKAGE, *parts[:-1])) if parts[-1] == "__init__" else ".".join((PACKAGE, *parts)))
    return modules


def closure(roots: Iterable[str], package_dir: Path = PACKAGE_DIR) -> list[str]:
    """``roots`` and every package module they import, transitively, plus every package above
    each of them (the package itself, a subpackage such as ``renoise.science``: importing a
    module executes its parents' ``__init__``); sorted."""
    seen = {PACKAGE}
    frontier = [m for m in roots if module_file(m, package_dir)]
    while frontier:
        module = frontier.pop()
        if module in seen:
            continue
        seen.add(module)
        frontier.extend((_imports_of(module_file(module, package_dir), package_dir) | parents(module)) - seen)
    return sorted(seen)


def parents(module: str) -> set[str]:
    """The packages above ``module``: ``renoise.science.data`` -> ``renoise``, ``renoise.science``."""
    parts = module.split(".")
    return {".".join(parts[:n]) for n in range(1, len(parts))}


@lru_cache(maxsize=None)
def _imports_of_version(path: Path, package_dir: Path, mtime_ns: int, size: int) -> frozenset[str]:
    return frozenset(imported_modules(path.read_text(encoding="utf-8"), package_dir))


def _imports_of(path: Path, package_dir: Path) -> set[str]:
    """The package modules one source file imports (memoised per version of the file)."""
    stat = path.stat()
    return set(_imports_of_version(path, package_dir, stat.st_mtime_ns, stat.st_size))


def program_text(source: str) -> str:
    """What a module computes, without its comments, docstrings and layout: its syntax tree with
    every docstring removed, dumped (the source itself where it does not parse). ``ast.dump``'s
    text changes between Python versions, so a new Python makes every run stale once."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return source
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body \
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                and isinstance(body[0].value.value, str):
            node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree)


@lru_cache(maxsize=None)
def _program_of_version(path: Path, mtime_ns: int, size: int) -> bytes:
    return program_text(path.read_text(encoding="utf-8")).encode()


def code_hash(modules: Iterable[str], package_dir: Path = PACKAGE_DIR) -> str:
    """One hash of the named modules' programs (:func:`program_text`), so that fixing a typo in a
    comment or a docstring makes no run stale."""
    digest = hashlib.sha256()
    for module in sorted(set(modules)):
        path = module_file(module, package_dir)
        stat = path.stat()
        digest.update(module.encode() + b"\0" + _program_of_version(path, stat.st_mtime_ns, stat.st_size) + b"\0")
    return digest.hexdigest()


def notebook_cells(path: Path) -> list[tuple[str, str]]:
    """Each cell of a notebook as ``(cell type, source)``, in order (outputs and metadata ignored)."""
    cells = json.loads(Path(path).read_text(encoding="utf-8"))["cells"]
    return [(c["cell_type"], "".join(c["source"]) if isinstance(c["source"], list) else c["source"]) for c in cells]


def notebook_code(path: Path, package_dir: Path = PACKAGE_DIR) -> str:
    """A notebook's code identity: one hash of its cells (code and prose) and of the library
    modules its code cells import, transitively."""
    cells = notebook_cells(path)
    modules = closure(imported_modules("\n".join(s for kind, s in cells if kind == "code"), package_dir), package_dir)
    return hashlib.sha256(json.dumps([[s for _, s in cells], code_hash(modules, package_dir)]).encode()).hexdigest()


def module_hash(module: str, package_dir: Path = PACKAGE_DIR) -> str:
    """The hash of ``module`` and everything it imports from the package: the evaluation cache's
    code key, for instance."""
    return code_hash(closure([module], package_dir), package_dir)


def run_hash(parameters: dict, code: str, input_hashes: Iterable[str], threads: int = 1,
             backend: str = "tensorflow") -> str:
    """The hash a run's marker must hold for the run to count as complete: its parameters, code,
    inputs, and the keras backend and its threads per op (which its float results depend on)."""
    payload = {"parameters": parameters, "code": code, "inputs": list(input_hashes), "threads": threads,
               "backend": backend}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def expected_hashes(plan, notebooks: Path, package_dir: Path = PACKAGE_DIR) -> dict[str, str]:
    """Every run's expected hash, in plan order (a run's inputs come before it)."""
    code = {nb: notebook_code(notebooks / nb, package_dir) for nb in {run.notebook for run in plan}}
    hashes: dict[str, str] = {}
    for run in plan:
        hashes[run.key] = run_hash(run.parameters, code[run.notebook], [hashes[k] for k in run.needs], run.threads,
                                   run.backend)
    return hashes


def expected_hash(run, notebooks: Path, hashes: dict[str, str], package_dir: Path = PACKAGE_DIR) -> str:
    """One run's expected hash, given its inputs' ``hashes``."""
    return run_hash(run.parameters, notebook_code(notebooks / run.notebook, package_dir),
                    [hashes[k] for k in run.needs], run.threads, run.backend)
