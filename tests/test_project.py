"""Project hygiene: pins agree, notebooks are clean and parameterised, no pickle loading anywhere."""

import json
import re
import tomllib

import yaml

from conftest import ROOT


def test_environment_yml_repeats_the_pyproject_pins():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = set(project["dependencies"]) | {p for extra in project["optional-dependencies"].values() for p in extra}
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in environment["dependencies"] if isinstance(d, dict))
    assert pins == {p for p in pip if "==" in p}


def test_notebooks_are_clean_and_parameterised():
    for path in (ROOT / "notebooks").glob("*.ipynb"):
        notebook = json.loads(path.read_text())
        code = [c for c in notebook["cells"] if c["cell_type"] == "code"]
        assert not any(c["outputs"] or c["execution_count"] for c in code), path.name
        tagged = [c for c in code if "parameters" in c["metadata"].get("tags", [])]
        assert len(tagged) == 1, path.name
        assert notebook["metadata"]["kernelspec"]["name"] == "renoise"


def test_no_pickle_loading_in_the_code():
    pattern = re.compile(r"allow_pickle\s*=\s*True|pickle\.loads?\(")
    for path in list((ROOT / "src").rglob("*.py")) + list((ROOT / "notebooks").glob("*.ipynb")):
        assert not pattern.search(path.read_text()), path
