"""Atomic files and safe loads: a reader never sees half a file, and data never runs code."""

import errno
import os
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT
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


def _model(folder: Path) -> Path:
    from renoise.science import models

    models.save_model(models.build_autoencoder(hidden=[8, 4]), folder / "model.keras")
    return folder / "model.keras"


def _marker(folder: Path) -> Path:
    from renoise.pipeline import markers

    markers.write_marker(folder, folder, key="data", hash="0", outputs=[])
    return folder / markers.MARKER


def _history(folder: Path) -> Path:
    atomic.write_json(folder / "history.json", {"loss": [0.5]})  # as the notebooks write it
    return folder / "history.json"


def _data_arrays(folder: Path) -> Path:
    from renoise.science import data

    data.save_prepared(folder, {name: np.zeros(2) for name in ("x_train", "y_train", "x_val", "y_val", "sets", "labels")})
    return folder / "train.npz"


def _cache(folder: Path) -> Path:
    from renoise.report.evaluation import Cache, Evaluation, Family
    from renoise.science.metrics import METRICS

    row = Evaluation("p", "parent", Family.PARENT, "one_level", None, 1, {m: np.zeros(12) for m in METRICS},
                     np.zeros((12, 2)), np.zeros((12, 1, 784)), np.zeros((0, 2, 2)), outputs=np.zeros((12, 2, 784)))
    Cache(folder).save(row, "key")  # arrays.npz, then outputs.npy (refused), and evaluation.json never
    return folder / "p" / "outputs.npy"


def _csv(folder: Path) -> Path:
    import pandas as pd

    from renoise.report.tables import write_csv

    write_csv(pd.DataFrame({"value": [1.0]}), folder / "summary.csv")
    return folder / "summary.csv"


def _report(folder: Path) -> Path:
    import nbformat
    from nbformat.v4 import new_markdown_cell, new_notebook

    from renoise.report.html import render

    notebook = folder.parent / "compare.ipynb"
    nbformat.write(new_notebook(cells=[new_markdown_cell("# Findings")]), notebook)
    return render(notebook, folder / "comparison.html", templates=ROOT / "templates", code=False, title="t", source="x")


def _executed_notebook(folder: Path) -> Path:
    from renoise.pipeline.engine import AtomicNotebooks

    AtomicNotebooks().write('{"cells": []}', str(folder / "compare.ipynb"))  # papermill's save of each cell
    return folder / "compare.ipynb"


#: Every writer the issue names, by what it writes, and the library call inside it that touches the disk.
WRITERS = {"model (keras' save)": (_model, "keras.Model.save"), "marker": (_marker, "pathlib.Path.write_bytes"),
           "history": (_history, "pathlib.Path.write_bytes"), "data arrays": (_data_arrays, "numpy.savez"),
           "evaluation cache": (_cache, "numpy.save"), "csv": (_csv, "pandas.DataFrame.to_csv"),
           "report": (_report, "pathlib.Path.write_bytes"),
           "executed notebook": (_executed_notebook, "pathlib.Path.write_bytes")}


@pytest.mark.parametrize("writer", WRITERS)
def test_every_writer_turns_a_full_disk_into_one_line_and_leaves_no_file(tmp_path, monkeypatch, writer):
    """ENOSPC injected where the library itself writes: each writer raises renoise's one line,
    naming the file system and its file, and leaves neither that file nor a temporary one."""
    write, library_call = WRITERS[writer]
    where = tmp_path / "runs" / "t"
    where.mkdir(parents=True)
    target = write(where)  # written once for real: where the file goes
    target.unlink()

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(library_call, full)
    with pytest.raises(DiskFullError) as raised:
        write(where)
    assert str(raised.value) == f"no space left on {atomic.mount_point(tmp_path)} while writing {target}"
    assert not target.exists() and not list(where.rglob(".*.partial*"))
