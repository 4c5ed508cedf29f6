"""Project hygiene: pins agree, notebooks are clean and parameterised, no pickle loading anywhere."""

import json
import re
import tomllib

import yaml

from conftest import ROOT


def test_environment_yml_repeats_the_pyproject_pins():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    pins = set(project["dependencies"]) | {p for name, extra in extras.items() if name != "gpu" for p in extra}
    text = (ROOT / "environment.yml").read_text()
    pip = next(d["pip"] for d in yaml.safe_load(text)["dependencies"] if isinstance(d, dict))
    assert pins == {p for p in pip if "==" in p}
    # the GPU extra is not for every machine: the file says how to add it
    assert extras["gpu"] == ["tensorflow[and-cuda]==2.21.0"] and 'pip install -e ".[gpu]"' in text
    assert "tensorflow==2.21.0" in project["dependencies"] and not any("tensorflow-cpu" in p for p in pins)


def test_the_makefile_installs_the_gpu_extra_only_where_nvidia_smi_finds_a_gpu():
    makefile = (ROOT / "Makefile").read_text()
    assert "GPU := $(shell nvidia-smi -L >/dev/null 2>&1 && echo ,gpu)" in makefile
    assert '-e ".[test,cluster$(GPU)]"' in makefile


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
