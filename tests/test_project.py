"""Project hygiene: pins agree, notebooks are clean and parameterised, no pickle loading anywhere."""

import json
import re
import subprocess
import tomllib

import pytest
import yaml

from conftest import ROOT


def test_environment_yml_repeats_the_pyproject_pins():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    optional = {"gpu", "jax", "jax-gpu", "torch", "ui"}  # per machine, backend or wish: the file says how to add them
    pins = set(project["dependencies"]) | {p for name, extra in extras.items() if name not in optional for p in extra}
    text = (ROOT / "environment.yml").read_text()
    pip = next(d["pip"] for d in yaml.safe_load(text)["dependencies"] if isinstance(d, dict))
    assert pins == {p for p in pip if "==" in p}
    # the GPU extra is not for every machine: the file says how to add it
    assert extras["gpu"] == ["tensorflow[and-cuda]==2.21.0"] and 'pip install -e ".[gpu]"' in text
    assert all(f'pip install -e ".[{name}]"' in text for name in optional)
    assert "tensorflow==2.21.0" in project["dependencies"] and not any("tensorflow-cpu" in p for p in pins)


@pytest.mark.parametrize("backend, gpu, extra", [("tensorflow", "", ""), ("tensorflow", "yes", ",gpu"), ("jax", "", ",jax"),
                                                 ("jax", "yes", ",jax-gpu"), ("torch", "", ",torch")])
def test_the_makefile_installs_the_backends_extra_with_cuda_only_where_nvidia_smi_finds_a_gpu(backend, gpu, extra):
    """make's dry run of the install, with the GPU test and the experiment's backend given."""
    done = subprocess.run(["make", "-n", "-W", "pyproject.toml", ".venv/.installed", f"BACKEND={backend}",
                           f"HAS_GPU={gpu}"], cwd=ROOT, capture_output=True, text=True, check=True)
    assert f'-e ".[test,cluster{extra}]"' in done.stdout


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
