"""Experiment files: the shipped ones plan the seed's tree; every bad input gets a clear error."""

import pytest

import renoise.pipeline.config
import renoise.pipeline.plan
from renoise.science.architectures import DEFAULT_SIZES
from renoise.errors import ConfigError

from conftest import ROOT


def write(tmp_path, text, name="exp.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_quick_plans_the_seeds_whole_tree_three_times():
    config = renoise.pipeline.config.load(ROOT / "experiments" / "quick.yaml")
    plan = renoise.pipeline.plan.plan(config)
    keys = [run.key for run in plan]
    one = ["one_level/{r}", "one_level/{r}/0/0001", "one_level/{r}/25/0001", "one_level/{r}/Mixed/0001"]
    multi = ["multiple_levels/{r}", "multiple_levels/{r}/0/0001", "multiple_levels/{r}/25/0001",
             "multiple_levels/{r}/Mixed/0001", "multiple_levels/{r}/Multi/0001"]
    assert keys == (["data", "classifier"] + [k.format(r=f"{r:03d}") for r in (1, 2, 3) for k in one]
                    + [k.format(r=f"{r:03d}") for r in (1, 2, 3) for k in multi] + ["compare"])
    by_key = {run.key: run for run in plan}
    child = by_key["multiple_levels/002/Multi/0001"]
    assert child.needs == ("data", "multiple_levels/002")  # its own repetition's parent
    assert child.parameters["parent_dir"] == "runs/quick/multiple_levels/002" and child.parameters["mode"] == "multi"
    assert child.parameters["run_dir"] == "runs/quick/multiple_levels/002/Multi/0001"
    assert len({run.parameters["seed"] for run in plan}) == len(plan)  # every run its own stream
    assert by_key["one_level/001"].parameters["patience"] == 2 and by_key["one_level/001"].gpu
    models = by_key["compare"].parameters["models"]
    assert [(m["key"], m["label"], m["repetition"], m["parent"]) for m in models[:5]] == [
        ("one_level/001", "one lvl parent", 1, None), ("one_level/001/0/0001", "one lvl \u2192 0", 1, "one_level/001"),
        ("one_level/001/25/0001", "one lvl \u2192 25", 1, "one_level/001"),
        ("one_level/001/Mixed/0001", "one lvl \u2192 Mixed", 1, "one_level/001"), ("one_level/002", "one lvl parent", 2, None)]
    assert set(by_key["compare"].needs) == set(keys[:-1]) and by_key["compare"].is_comparison
    assert by_key["compare"].parameters["repetitions"] == 3 and by_key["compare"].parameters["dataset"] == "mnist5k"


def test_repetitions_default_to_one_and_the_data_and_classifier_run_once(tmp_path):
    plan = renoise.pipeline.plan.plan(renoise.pipeline.config.load(write(tmp_path, "structures: {one_level: {children: [mixed]}}\n")))
    assert [run.key for run in plan] == ["data", "classifier", "one_level/001", "one_level/001/Mixed/0001", "compare"]
    plan = renoise.pipeline.plan.plan(renoise.pipeline.config.load(write(tmp_path, "repetitions: 2\nstructures: {one_level: {}}\n")))
    assert [run.key for run in plan] == ["data", "classifier", "one_level/001", "one_level/002", "compare"]


def test_a_restricted_comparison_keeps_only_the_available_models():
    plan = renoise.pipeline.plan.plan(renoise.pipeline.config.load(ROOT / "experiments" / "quick.yaml"))
    available = {run.key for run in plan if not run.key.startswith("one_level/002")}
    compare = renoise.pipeline.plan.restrict(plan[-1], available)
    assert [m["key"] for m in compare.parameters["models"]] == [m["key"] for m in plan[-1].parameters["models"]
                                                                 if not m["key"].startswith("one_level/002")]
    assert set(compare.needs) == available - {"compare"} and compare.parameters["repetitions"] == 3


def test_architectures_take_their_own_default_sizes(tmp_path):
    expected = {"dense": [1024, 529, 256, 36], "conv": [32, 64], "residual": list(DEFAULT_SIZES["residual"])}
    for architecture, sizes in expected.items():
        text = f"autoencoder: {{architecture: {architecture}}}\nstructures: {{one_level: {{}}}}\n"
        config = renoise.pipeline.config.load(write(tmp_path, text))
        assert config["autoencoder"]["hidden"] == sizes


def test_residual_trains_quicks_tree_to_the_plateau_checking_the_multiple_levels_pass_four_times():
    quick, residual = (renoise.pipeline.plan.plan(renoise.pipeline.config.load(ROOT / "experiments" / f"{name}.yaml")) for name in ("quick", "residual"))
    assert [run.key for run in residual] == [run.key for run in quick]  # the same children, 3 repetitions
    by_key = {run.key: run.parameters for run in residual}
    assert by_key["one_level/001"]["architecture"] == "residual" and by_key["one_level/001"]["learning_rate"] == 3e-3
    one_level, multi = by_key["one_level/002/25/0001"], by_key["multiple_levels/003/Multi/0001"]
    assert (one_level["patience"], one_level["epochs_per_pass"]) == (5, 1)
    assert (multi["patience"], multi["epochs_per_pass"], multi["epochs"]) == (5, 4, 80)


def test_the_threshold_and_schedule_reach_every_autoencoder_run_with_structure_overrides(tmp_path):
    config = renoise.pipeline.config.load(write(tmp_path, "autoencoder: {min_delta: 0.01, lr_factor: 0.2, min_lr: 1e-6}\n"
                                             "structures: {one_level: {children: [mixed]},\n"
                                             "             multiple_levels: {min_delta: 0.02, lr_patience: 3}}\n"))
    by_key = {run.key: run.parameters for run in renoise.pipeline.plan.plan(config)}
    for key in ("one_level/001", "one_level/001/Mixed/0001"):
        assert by_key[key]["min_delta"] == 0.01
        assert by_key[key]["schedule"] == {"schedule": "plateau", "lr_factor": 0.2, "lr_patience": 2, "min_lr": 1e-6}
    assert by_key["multiple_levels/001"]["min_delta"] == 0.02
    assert by_key["multiple_levels/001"]["schedule"]["lr_patience"] == 3
    assert by_key["one_level/001"]["epochs_per_pass"] == by_key["multiple_levels/001"]["epochs_per_pass"] == 1


def test_quick_checks_the_long_multiple_levels_pass_four_times():
    by_key = {run.key: run.parameters for run in renoise.pipeline.plan.plan(renoise.pipeline.config.load(
        ROOT / "experiments" / "quick.yaml"))}
    assert {by_key[k]["epochs_per_pass"] for k in by_key if k.startswith("multiple_levels/")} == {4}
    assert {by_key[k]["epochs_per_pass"] for k in by_key if k.startswith("one_level/")} == {1}
    assert by_key["multiple_levels/002/Multi/0001"]["epochs"] == 40 and by_key["multiple_levels/001"]["min_delta"] == 0.01


def test_a_learning_rate_in_exponent_form_is_a_number(tmp_path):
    text = "autoencoder: {learning_rate: 3e-3}\nstructures: {one_level: {}}\n"  # a string to PyYAML (YAML 1.1)
    assert renoise.pipeline.config.load(write(tmp_path, text))["autoencoder"]["learning_rate"] == 0.003


def test_full_is_valid_and_seeds_are_stable():
    config = renoise.pipeline.config.load(ROOT / "experiments" / "full.yaml")
    assert config["data"]["dataset"] == "mnist" and config["autoencoder"]["patience"] == 30
    assert renoise.pipeline.plan.run_seed(0, "data") == renoise.pipeline.plan.run_seed(0, "data") != renoise.pipeline.plan.run_seed(1, "data")


def test_name_defaults_to_the_file_stem(tmp_path):
    path = write(tmp_path, "structures: {one_level: {epochs: 1}}\n", "mine.yaml")
    assert renoise.pipeline.config.load(path)["name"] == "mine"


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
        ("autoencoder: {architecture: rnn}\nstructures: {one_level: {}}\n", r"'rnn' is not one of dense, conv, residual"),
        ("autoencoder: {architecture: conv, hidden: [8, 8, 8]}\nstructures: {one_level: {}}\n",
         r"hidden: conv takes the filters of its two strided layers"),
        ("autoencoder: {hidden: [64, 0]}\nstructures: {one_level: {}}\n", r"layer sizes must be whole numbers of at least 1"),
        ("autoencoder: {learning_rate: 0}\nstructures: {one_level: {}}\n",
         r"autoencoder.learning_rate: expected a number between 0 and 1, got 0"),
        ("autoencoder: {learning_rate: fast}\nstructures: {one_level: {}}\n",
         r"learning_rate: expected a number between 0 and 1, got 'fast'"),
        ("structures: {one_level: {patience: 0}}\n",
         r"exp.yaml.structures.one_level.patience: expected a whole number of at least 1, got 0"),
        ("repetitions: 0\nstructures: {one_level: {}}\n", r"exp.yaml.repetitions: expected a whole number of at least 1, got 0"),
        ("repetitions: -2\nstructures: {one_level: {}}\n", r"repetitions: expected a whole number of at least 1, got -2"),
        ("repetitions: 2.5\nstructures: {one_level: {}}\n", r"repetitions: expected a whole number of at least 1, got 2.5"),
        ("repetitions: three\nstructures: {one_level: {}}\n", r"repetitions: expected a whole number of at least 1, got 'three'"),
        ("repetitions: true\nstructures: {one_level: {}}\n", r"repetitions: expected a whole number of at least 1, got True"),
        ("data: {n_train: 5}\nstructures: {one_level: {}}\n",
         r"data.n_train: 5 training images are too few for a stratified validation split of 0.1; use at least 91"),
        ("data: {n_train: 15, validation_fraction: 0.5}\nstructures: {one_level: {}}\n", r"use at least 20"),
        ("data: {n_test: 50}\nstructures: {one_level: {}}\n",
         r"data.n_test: 50 points are too few for a t-SNE map \(perplexity 30 needs at least 91\)"),
        ("data: {test_fraction: 0.015}\nstructures: {one_level: {}}\n",
         r"data.test_fraction: 75 points are too few for a t-SNE map"),
        ("compare: {tsne_points: 20}\nstructures: {one_level: {}}\n", r"compare.tsne_points: 20 points are too few"),
        ("data: {test_fraction: 0.001}\nstructures: {one_level: {}}\n", r"test_fraction: 0.001 of mnist5k's 5000 digits"),
        ("autoencoder: {hidden: []}\nstructures: {one_level: {}}\n", r"hidden: expected a list of layer sizes"),
        ("compare: {tsne_sets: ['5%']}\nstructures: {one_level: {}}\n", r"unknown sets \['5%'\]"),
        ("compare: {tsne_backend: umap}\nstructures: {one_level: {}}\n", r"no t-SNE backend named 'umap'"),
        ("- a list\n", r"expected a mapping at the top level"),
        ("structures: {one_level: {children: [0.25, 25%]}}\n", r"renoise modes repeat \(25\)"),
        ("compare: {tsne_sets: Mixed}\nstructures: {one_level: {}}\n", r"tsne_sets: expected a list of set names"),
        ("compare: {shared_map: 'no'}\nstructures: {one_level: {}}\n", r"shared_map: expected true or false"),
        ("data: 3\nstructures: {one_level: {}}\n", r"exp.yaml.data: expected a mapping, got int"),
        ("autoencoder: {min_delta: -0.01}\nstructures: {one_level: {}}\n",
         r"exp.yaml.autoencoder.min_delta: expected a fraction of the best loss, at least 0 and below 1 "
         r"\(0.005: 0.5 %\), got -0.01"),
        ("structures: {one_level: {min_delta: 1}}\n", r"structures.one_level.min_delta: expected a fraction of the best"),
        ("autoencoder: {lr_factor: 1}\nstructures: {one_level: {}}\n",
         r"exp.yaml.autoencoder.lr_factor: expected a fraction strictly between 0 and 1, got 1"),
        ("autoencoder: {lr_factor: 0}\nstructures: {one_level: {}}\n", r"lr_factor: expected a fraction strictly"),
        ("autoencoder: {patience: 0}\nstructures: {one_level: {}}\n",
         r"exp.yaml.autoencoder.patience: expected a whole number of at least 1, got 0"),
        ("autoencoder: {lr_patience: 0}\nstructures: {one_level: {}}\n",
         r"exp.yaml.autoencoder.lr_patience: expected a whole number of at least 1, got 0"),
        ("structures: {one_level: {lr_patience: 0}}\n", r"structures.one_level.lr_patience: expected a whole number"),
        ("structures: {multiple_levels: {epochs_per_pass: 0}}\n",
         r"^exp.yaml.structures.multiple_levels.epochs_per_pass: expected a whole number of at least 1, got 0$"),
        ("structures: {multiple_levels: {epochs_per_pass: 0.25}}\n",
         r"structures.multiple_levels.epochs_per_pass: expected a whole number of at least 1, got 0.25"),
        ("autoencoder: {min_lr: 1e-3}\nstructures: {one_level: {}}\n",
         r"exp.yaml.autoencoder.min_lr: expected a number of at least 0 and below the learning rate 0.001, got 0.001"),
        ("autoencoder: {min_lr: -1}\nstructures: {one_level: {}}\n", r"min_lr: expected a number of at least 0"),
        ("autoencoder: {schedule: cosine}\nstructures: {one_level: {}}\n",
         r"exp.yaml.autoencoder.schedule: 'cosine' is not one of plateau, constant"),
        ("name: \"<script>alert(1)</script>\"\nstructures: {one_level: {}}\n",
         r"exp.yaml.name: '<script>alert\(1\)</script>' must name one folder: .* without '/'"),
        ("name: ..\nstructures: {one_level: {}}\n", r"exp.yaml.name: '..' must name one folder"),
        ("name: ''\nstructures: {one_level: {}}\n", r"exp.yaml.name: '' must name one folder"),
        ("tracking: maybe\nstructures: {one_level: {}}\n",
         r"^exp.yaml.tracking: expected true, false or a mapping such as \{models: true\}, got 'maybe'$"),
        ("tracking: {model: true}\nstructures: {one_level: {}}\n",
         r"^exp.yaml.tracking: unknown key 'model' \(did you mean 'models'\?\)$"),
        ("tracking: {models: 1}\nstructures: {one_level: {}}\n", r"^exp.yaml.tracking.models: expected true or false, got 1$"),
        ("tracking: [models]\nstructures: {one_level: {}}\n", r"^exp.yaml.tracking: expected true, false or a mapping"),
    ],
)
def test_bad_experiments_are_refused_clearly(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        renoise.pipeline.config.load(write(tmp_path, text))


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="experiment file not found"):
        renoise.pipeline.config.load(tmp_path / "absent.yaml")


def test_threads_per_op_belong_to_every_run_and_to_its_hash(tmp_path):
    from renoise.pipeline.sources import expected_hashes

    one = renoise.pipeline.plan.plan(renoise.pipeline.config.load(write(tmp_path, "structures: {one_level: {}}\n")))
    two = renoise.pipeline.plan.plan(renoise.pipeline.config.load(write(tmp_path, "threads: 2\nstructures: {one_level: {}}\n")))
    assert {run.threads for run in one} == {1} and {run.threads for run in two} == {2}
    first, second = (expected_hashes(plan, ROOT / "notebooks") for plan in (one, two))
    assert all(first[key] != second[key] for key in first)  # other threads per op, other float results
    with pytest.raises(ConfigError, match=r"exp.yaml.threads: expected a whole number of at least 1, got 0"):
        renoise.pipeline.config.load(write(tmp_path, "threads: 0\nstructures: {one_level: {}}\n"))
