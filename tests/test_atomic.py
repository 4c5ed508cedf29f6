"""Atomic files and safe loads: a reader never sees half a file, and data never runs code."""

import errno
import os
from pathlib import Path

import numpy as np
import pytest

from renoise import atomic
from renoise.errors import DataError, DiskFullError


def test_atomic_files_are_readable_by_others(tmp_path):
    previous = os.umask(0o022)
    try:
        atomic.write_text(tmp_path / "report.html", "<p>shared</p>")
    finally:
        os.umask(previous)
    assert (tmp_path / "report.html").stat().st_mode & 0o777 == 0o644


def test_atomic_write_leaves_no_partial_file(tmp_path):
    target = tmp_path / "out.json"
    atomic.write_json(target, {"a": np.float32(1.5), "b": np.arange(2)})
    assert atomic.read_json(target) == {"a": 1.5, "b": [0, 1]}
    with pytest.raises(RuntimeError):
        with atomic.atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert atomic.read_json(target) == {"a": 1.5, "b": [0, 1]}  # the old file is intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]


def test_sweep_removes_what_a_killed_writer_left(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / ".model.keras.x1y2.partial.keras").write_text("half")
    (tmp_path / "a" / "keep.json").write_text("{}")
    assert atomic.sweep(tmp_path) == 1 and atomic.sweep(tmp_path / "absent") == 0
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == ["keep.json"]


def test_object_arrays_are_never_written(tmp_path):
    with pytest.raises(TypeError, match="dtype object"):
        atomic.save_arrays(tmp_path / "x.npz", bad=np.array([{"a": 1}], dtype=object))
    assert not (tmp_path / "x.npz").exists()


class Payload:
    """Unpickling this would create a file: proof that code ran."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_a_pickle_bearing_npz_in_storage_is_refused_not_executed(tmp_path):
    proof = tmp_path / "code_ran"
    planted = tmp_path / "storage" / "evaluations" / "x" / "arrays.npz"
    planted.parent.mkdir(parents=True)
    np.savez(planted, samples=np.array([Payload(str(proof))], dtype=object))  # numpy pickles object arrays
    assert not proof.exists() and b"code_ran" in planted.read_bytes()
    with pytest.raises(DataError, match="holds pickled objects"):
        atomic.load_arrays(planted)
    assert not proof.exists()


def test_a_bare_npy_or_a_web_page_is_not_an_archive(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros(3))
    with pytest.raises(DataError, match="x.npy: not an .npz archive"):
        atomic.load_arrays(tmp_path / "x.npy")
    (tmp_path / "mnist.npz").write_text("<html>404 Not Found</html>")
    with pytest.raises(DataError, match="mnist.npz: not a readable .npz"):
        atomic.load_arrays(tmp_path / "mnist.npz")


def test_read_json_names_bad_files(tmp_path):
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(DataError, match="bad.json: not valid JSON"):
        atomic.read_json(tmp_path / "bad.json")


def test_file_record_is_size_time_and_sha256(tmp_path):
    import hashlib

    path = tmp_path / "x.bin"
    path.write_bytes(b"renoise" * 1000)
    record = atomic.file_record(path)
    assert record == {"size": 7000, "mtime_ns": path.stat().st_mtime_ns,
                      "sha256": hashlib.sha256(b"renoise" * 1000).hexdigest()}


@pytest.mark.parametrize("error, words", [(errno.ENOSPC, "no space left"), (errno.EDQUOT, "disk quota exceeded")])
@pytest.mark.parametrize("where", ["write", "replace"])
def test_a_full_disk_is_one_line_naming_the_mount_and_the_file_and_leaves_nothing(tmp_path, monkeypatch, error, words, where):
    target = tmp_path / "runs" / "quick" / "history.json"
    full = OSError(error, os.strerror(error))

    def refuse(*args, **kwargs):
        raise full

    monkeypatch.setattr(os, "replace", refuse) if where == "replace" else \
        monkeypatch.setattr(atomic.Path, "write_bytes", refuse)
    with pytest.raises(DiskFullError) as raised:
        atomic.write_json(target, {"loss": [0.5]})
    mount = tmp_path
    while not os.path.ismount(mount):  # independent of atomic.mount_point: the same walk, by hand
        mount = mount.parent
    assert str(raised.value) == f"{words} on {os.path.realpath(mount)} while writing {target}"
    assert "\n" not in str(raised.value)
    assert list(target.parent.iterdir()) == []  # no temporary file, no final file


def test_other_os_errors_pass_through_unchanged(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(PermissionError):
        atomic.write_text(tmp_path / "x.txt", "x")
    assert list(tmp_path.iterdir()) == []


def test_the_mount_point_of_a_folder_is_a_mount_and_above_it():
    assert atomic.mount_point(Path("/proc/self")) == Path("/proc")
    assert atomic.mount_point(Path("/")) == Path("/")
