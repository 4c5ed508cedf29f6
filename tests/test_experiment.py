"""Experiment files: the shipped ones plan the seed's tree; every bad input gets a clear error."""

import pytest

from renoise import experiment
from renoise.errors import ConfigError

from conftest import ROOT


def write(tmp_path, text, name="exp.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_quick_plans_the_seeds_whole_tree():
    config = experiment.load(ROOT / "experiments" / "quick.yaml")
    plan = experiment.plan(config)
    keys = [run.key for run in plan]
    assert keys == [
        "data", "classifier",
        "one_level/001", "one_level/001/0/0001", "one_level/001/25/0001", "one_level/001/Mixed/0001",
        "multiple_levels/001", "multiple_levels/001/0/0001", "multiple_levels/001/25/0001",
        "multiple_levels/001/Mixed/0001", "multiple_levels/001/Multi/0001", "compare",
    ]
    by_key = {run.key: run for run in plan}
    child = by_key["multiple_levels/001/Multi/0001"]
    assert child.needs == ("data", "multiple_levels/001")
    assert child.parameters["parent_dir"] == "runs/quick/multiple_levels/001" and child.parameters["mode"] == "multi"
    assert child.parameters["run_dir"] == "runs/quick/multiple_levels/001/Multi/0001"
    assert len({run.parameters["seed"] for run in plan}) == len(plan)  # every run its own stream
    models = by_key["compare"].parameters["models"]
    assert [m["name"] for m in models][:2] == ["one lvl parent", "one lvl \u2192 0"]
    assert set(by_key["compare"].needs) == set(keys[:-1])


@pytest.mark.parametrize("path", sorted((ROOT / "experiments").glob("*.yaml")), ids=lambda p: p.stem)
def test_every_shipped_experiment_plans_the_seeds_tree(path):
    plan = experiment.plan(experiment.load(path))
    assert len(plan) == 12 and plan[-1].key == "compare"


def test_full_is_valid_and_seeds_are_stable():
    config = experiment.load(ROOT / "experiments" / "full.yaml")
    assert config["data"]["dataset"] == "mnist" and config["autoencoder"]["patience"] == 30
    assert experiment.run_seed(0, "data") == experiment.run_seed(0, "data") != experiment.run_seed(1, "data")


def test_name_defaults_to_the_file_stem(tmp_path):
    path = write(tmp_path, "structures: {one_level: {epochs: 1}}\n", "mine.yaml")
    assert experiment.load(path)["name"] == "mine"


@pytest.mark.parametrize(
    "text, message",
    [
        ("structures: {one_level: {epochs: 1}\n", r"exp.yaml: malformed YAML at line 2"),
        ("structres: {}\n", r"unknown key 'structres' \(did you mean 'structures'\?\)"),
        ("structures: {one_level: {children: [1.5]}}\n", r"noise level must be in \[0, 1\], got 1.5"),
        ("structures: {one_level: {children: [.nan]}}\n", r"noise level must be in \[0, 1\], got nan"),
        ("structures: {one_level: {children: [sometimes]}}\n", r"unknown renoise mode 'sometimes'"),
        ("structures: {one_level: {children: [multi]}}\n", r"'multi' needs the multiple_levels structure"),
        ("structures: {two_levels: {epochs: 1}}\n", r"unknown training structure 'two_levels'"),
        ("structures: {}\n", r"name at least one of one_level, multiple_levels"),
        ("data: {dataset: emnist}\nstructures: {one_level: {}}\n", r"no dataset named 'emnist'"),
        ("structures: {one_level: {epochs: -3}}\n", r"epochs: expected a whole number of at least 1, got -3"),
        ("structures: {one_level: {epochs: 2.5}}\n", r"got 2.5"),
        ("seed: -1\nstructures: {one_level: {}}\n", r"seed: expected a whole number of at least 0"),
        ("data: {test_fraction: 1.5}\nstructures: {one_level: {}}\n", r"test_fraction: expected a fraction"),
        ("autoencoder: {architecture: rnn}\nstructures: {one_level: {}}\n", r"'rnn' is not one of dense, conv"),
        ("autoencoder: {hidden: []}\nstructures: {one_level: {}}\n", r"hidden: expected a list of layer sizes"),
        ("compare: {tsne_sets: ['5%']}\nstructures: {one_level: {}}\n", r"unknown sets \['5%'\]"),
        ("compare: {tsne_backend: umap}\nstructures: {one_level: {}}\n", r"no t-SNE backend named 'umap'"),
        ("- a list\n", r"expected a mapping at the top level"),
        ("structures: {one_level: {children: [0.25, 25%]}}\n", r"renoise modes repeat \(25\)"),
        ("compare: {tsne_sets: Mixed}\nstructures: {one_level: {}}\n", r"tsne_sets: expected a list of set names"),
        ("compare: {shared_map: 'no'}\nstructures: {one_level: {}}\n", r"shared_map: expected true or false"),
        ("data: 3\nstructures: {one_level: {}}\n", r"exp.yaml.data: expected a mapping, got int"),
    ],
)
def test_bad_experiments_are_refused_clearly(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        experiment.load(write(tmp_path, text))


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="experiment file not found"):
        experiment.load(tmp_path / "absent.yaml")
