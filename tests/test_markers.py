"""Completion markers: what a complete run is, and the states stale, damaged and missing."""

import json
import os

import pytest

from renoise import atomic
from renoise.pipeline import markers
from renoise.errors import RunError
from renoise.pipeline.markers import RunState


@pytest.fixture
def finished(tmp_path):
    """A project with one finished run: a model file and a data file outside its folder."""
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "notebooks").mkdir()
    run_dir = tmp_path / "runs/x/one_level/001"
    run_dir.mkdir(parents=True)
    (run_dir / "model.keras").write_bytes(b"weights" * 100)
    (tmp_path / "storage/x/data").mkdir(parents=True)
    (tmp_path / "storage/x/data/train.npz").write_bytes(bytes(range(256)) * 4)
    outputs = ["runs/x/one_level/001/model.keras", "storage/x/data/train.npz"]
    markers.write_marker(run_dir, tmp_path, key="one_level/001", hash="h1", outputs=outputs, seconds=1.5, worker="local")
    return tmp_path, run_dir


def test_the_marker_records_each_output_and_the_runs_facts(finished):
    root, run_dir = finished
    marker = markers.read_marker(run_dir)
    assert marker["format"] == markers.FORMAT and marker["hash"] == "h1" and marker["seconds"] == 1.5
    assert marker["outputs"]["runs/x/one_level/001/model.keras"] == atomic.file_record(run_dir / "model.keras")
    assert markers.status(run_dir, root, "h1") == markers.Status(RunState.COMPLETE)


def test_a_truncated_output_is_damaged_and_named(finished):
    root, run_dir = finished
    with open(run_dir / "model.keras", "r+b") as handle:
        handle.truncate(10)
    status = markers.status(run_dir, root, "h1")
    assert status.state is RunState.DAMAGED
    assert status.reason == "runs/x/one_level/001/model.keras has changed size (700 -> 10 bytes)"


def test_a_flipped_byte_is_damaged_but_a_touch_is_not(finished):
    root, run_dir = finished
    data = root / "storage/x/data/train.npz"
    os.utime(data, ns=(1, 1))  # a new modification time with the same content: hashed again, still intact
    assert markers.status(run_dir, root, "h1").state is RunState.COMPLETE
    content = bytearray(data.read_bytes())
    content[100] ^= 0xFF
    data.write_bytes(bytes(content))
    status = markers.status(run_dir, root, "h1")
    assert status == markers.Status(RunState.DAMAGED, "storage/x/data/train.npz differs from its marker (sha256)")


def test_a_missing_output_is_damaged(finished):
    root, run_dir = finished
    (root / "storage/x/data/train.npz").unlink()
    assert markers.status(run_dir, root, "h1").reason == "storage/x/data/train.npz is missing"


@pytest.mark.parametrize("text", ["{not json", json.dumps({"hash": "h1"}), json.dumps([1, 2]),
                                  json.dumps({"format": 1, "hash": "h1", "outputs": {}})])
def test_an_unreadable_or_older_marker_means_run_again_never_a_crash(finished, text):
    root, run_dir = finished
    (run_dir / markers.MARKER).write_text(text)
    assert markers.read_marker(run_dir) is None
    status = markers.status(run_dir, root, "h1")
    assert status.state is RunState.STALE and "unreadable or from an older renoise" in status.reason


def test_another_hash_is_stale_and_no_marker_is_missing(finished, tmp_path):
    root, run_dir = finished
    assert markers.status(run_dir, root, "h2").state is RunState.STALE
    assert markers.status(tmp_path / "elsewhere", root, "h1").state is RunState.MISSING


def test_a_run_whose_input_must_run_again_is_stale(finished):
    from renoise.pipeline.plan import Run

    root, run_dir = finished
    child_dir = root / "runs/x/one_level/001/25/0001"
    child_dir.mkdir(parents=True)
    markers.write_marker(child_dir, root, key="child", hash="h3", outputs=[])
    plan = [Run("one_level/001", "autoencoder.ipynb", "p", {"run_dir": "runs/x/one_level/001"}),
            Run("child", "autoencoder.ipynb", "c", {"run_dir": "runs/x/one_level/001/25/0001"}, ("one_level/001",))]
    assert {k: s.state for k, s in markers.states(plan, root, {"one_level/001": "h1", "child": "h3"}).items()} == \
        {"one_level/001": RunState.COMPLETE, "child": RunState.COMPLETE}
    state = markers.states(plan, root, {"one_level/001": "new", "child": "h3"})
    assert state["child"] == markers.Status(RunState.STALE, "its input one_level/001 must run again")


def test_require_complete_says_what_to_do(finished, tmp_path):
    root, run_dir = finished
    assert markers.require_complete(run_dir, "parent run") == run_dir
    with pytest.raises(RunError, match="parent run .*absent is missing: run the experiment's earlier steps first"):
        markers.require_complete(root / "runs/x/absent", "parent run")
    (root / "runs/x/half").mkdir()
    with pytest.raises(RunError, match=r"is incomplete \(no current _COMPLETE.json\)"):
        markers.require_complete(root / "runs/x/half", "parent run")
    (run_dir / "model.keras").write_bytes(b"")
    with pytest.raises(RunError, match=r"is damaged \(runs/x/one_level/001/model.keras has changed size"):
        markers.require_complete(run_dir, "parent run")
