"""Overrides in Hydra's grammar, grid points and their folders, and runs shared by points executing once."""

import pytest

from renoise.pipeline import engine, grid, overrides, runner
from renoise.errors import ConfigError
from test_runner import fake_engine


@pytest.mark.parametrize("text, key, values", [
    ("autoencoder.learning_rate=1e-3", "autoencoder.learning_rate", (0.001,)),
    ("structures.one_level.children=[0,0.25,mixed]", "structures.one_level.children", ([0, 0.25, "mixed"],)),
    ("compare.tsne_backend='1e-3'", "compare.tsne_backend", ("1e-3",)),
    ("data.path=\"a,b\"", "data.path", ("a,b",)),
])
def test_set_reads_values_as_yaml_1_2_and_quotes_as_literals(text, key, values):
    assert overrides.parse(text, choice=False) == overrides.Override(key, values, text)


def test_grid_choices_and_ranges_exclude_stop():
    assert overrides.parse("a.b=dense,conv", choice=True).values == ("dense", "conv")
    assert overrides.parse("a=range(1,7,2)", choice=True).values == (1, 3, 5)
    assert overrides.parse("a=range(0.1,0.4,0.1)", choice=True).values == (0.1, 0.2, 0.3)
    assert overrides.parse("a=[32,8],[16]", choice=True).values == ([32, 8], [16])


@pytest.mark.parametrize("flags, message", [
    ({"grid_texts": ["seed="]}, "an empty choice"),
    ({"grid_texts": ["seed=range(1,)"]}, "malformed override"),
    ({"set_texts": ["autoencoder.architectur=conv"]}, "did you mean 'autoencoder.architecture'"),
    ({"set_texts": ["repetitions=two"]}, "repetitions expects a whole number"),
    ({"set_texts": ["seed=1"], "grid_texts": ["seed=1,2"]}, "in both --set and --grid"),
    ({"grid_texts": ["seed=range(0,1001)"]}, "1,001 points (more than 1,000)"),
    ({"grid_texts": ["compare.tsne_backend=a/b,a_b"]}, "would share the folder"),
])
def test_bad_overrides_are_refused_with_one_line(project, flags, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        grid.build(project / "experiments/quick.yaml", **flags)


def test_the_product_of_two_grids_and_its_folders(project):
    built = grid.build(project / "experiments/quick.yaml", ["seed=3"],
                       ["structures.one_level.epochs=2,4", "autoencoder.hidden=[32,8],[16]"])
    assert [p.folder for p in built.points] == [
        "autoencoder.hidden=_32,8_,seed=3,structures.one_level.epochs=2",
        "autoencoder.hidden=_16_,seed=3,structures.one_level.epochs=2",
        "autoencoder.hidden=_32,8_,seed=3,structures.one_level.epochs=4",
        "autoencoder.hidden=_16_,seed=3,structures.one_level.epochs=4"]
    assert built.points[1].label(built.swept) == "epochs=2, hidden=[16]"


def test_runs_the_grid_leaves_alone_are_shared_and_execute_once(project, monkeypatch):
    (project / "experiments/t.yaml").write_text("structures: {one_level: {epochs: 1, children: [0.25]}}\n")
    built = grid.build(project / "experiments/t.yaml", grid_texts=["autoencoder.architecture=dense,conv"])
    executed = []
    monkeypatch.setattr(engine, "execute", fake_engine(executed))
    outcome = runner.run_plan(built.plan, project, "t", log=lambda line: None)
    conv = "autoencoder.architecture=conv"
    # dense is t.yaml's own architecture: that point's runs are the experiment's own
    assert sorted(executed) == sorted(["data", "classifier", "one_level/001", "one_level/001/25/0001",
                                       f"{conv}/one_level/001", f"{conv}/one_level/001/25/0001",
                                       "autoencoder.architecture=dense/compare", f"{conv}/compare"])
    assert outcome.ok and (project / "runs/t/data/_COMPLETE.json").is_file()
    assert built.runs["autoencoder.architecture=conv"][-1].parameters["storage_dir"] == f"storage/t/{conv}"


def test_each_run_carries_the_key_it_was_planned_with_and_the_comparison_lives_in_its_point(project):
    (project / "experiments/t.yaml").write_text("structures: {one_level: {epochs: 1, children: [0.25]}}\n")
    built = grid.build(project / "experiments/t.yaml", grid_texts=["autoencoder.architecture=dense,conv"])
    conv = "autoencoder.architecture=conv"
    runs = built.runs[conv]
    assert [r.key for r in runs] == ["data", "classifier", f"{conv}/one_level/001", f"{conv}/one_level/001/25/0001",
                                     f"{conv}/compare"]
    assert [r.local_key for r in runs] == ["data", "classifier", "one_level/001", "one_level/001/25/0001", "compare"]
    assert [r.home for r in runs if r.is_comparison] == [conv]
