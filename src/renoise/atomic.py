"""Atomic file writes and safe loads: a reader never sees half a file, and data never runs code.

Every artifact is written to a temporary file in the destination folder, flushed to disk and then
renamed over the final name, which POSIX makes atomic. Loads refuse pickled objects.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Iterator

import numpy as np

from renoise.errors import DataError, DiskFullError, first_line


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds.

    ``suffix`` keeps the extension that some writers insist on (keras wants ``.keras``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial" + suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp's 0600 would make shared reports unreadable
        os.replace(tmp, path)
    except OSError as exc:
        if exc.errno not in FULL:
            raise
        raise DiskFullError(f"{FULL[exc.errno]} on {mount_point(path.parent)} while writing {path}") from None
    finally:
        tmp.unlink(missing_ok=True)


#: The errors of a full file system (or a full quota on it), and how the one-line message says them.
FULL = {errno.ENOSPC: "no space left", errno.EDQUOT: "disk quota exceeded"}


def mount_point(folder: Path) -> Path:
    """The mount point of the file system holding ``folder``: the nearest folder above it (itself
    included) that is one; a symlinked ``runs/`` names the scratch file system it points to."""
    here = Path(os.path.realpath(folder))
    while not os.path.ismount(here):
        here = here.parent
    return here


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def sweep(folder: str | os.PathLike) -> int:
    """Delete the temporary files that a killed writer left below ``folder``; return how many.

    Only the holder of the experiment's lock may call this, since a live writer's file looks alike.
    """
    leftovers = [p for p in Path(folder).rglob(".*.partial*") if p.is_file()] if Path(folder).is_dir() else []
    for path in leftovers:
        path.unlink(missing_ok=True)
    return len(leftovers)


def file_record(path: str | os.PathLike) -> dict:
    """Size (bytes), modification time (ns) and sha256 of a file: what a marker or a cache entry
    records of each file it vouches for."""
    path = Path(path)
    stat = path.stat()
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": digest.hexdigest()}


def mismatch(records: dict[str, dict], root: str | os.PathLike, recorded_in: str) -> str:
    """The first file of ``records`` (paths relative to ``root`` -> :func:`file_record`) that no
    longer matches its record, described; ``""`` when all match. ``recorded_in`` names the record
    in the description (``its marker``, ``evaluation.json``).

    One ``stat`` per file: a file is hashed again only where its size or modification time
    differs from the record. This is the one file-integrity check, shared by run markers and the
    evaluation cache: a JSON written last vouches for the files it records.
    """
    for path, record in records.items():
        try:
            stat = (Path(root) / path).stat()
        except OSError:
            return f"{path} is missing"
        if stat.st_size != record.get("size"):
            return f"{path} has changed size ({record.get('size')} -> {stat.st_size} bytes)"
        if stat.st_mtime_ns != record.get("mtime_ns") and file_record(Path(root) / path)["sha256"] != record.get("sha256"):
            return f"{path} differs from {recorded_in} (sha256)"
    return ""


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike, obj) -> None:
    """Write ``obj`` as indented, key-sorted JSON atomically."""
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def read_json(path: str | os.PathLike):
    """Read a JSON file, naming the file when it is missing or malformed."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not valid JSON ({exc})") from None


def save_arrays(path: str | os.PathLike, **arrays: np.ndarray) -> None:
    """Save plain numeric arrays as an uncompressed ``.npz`` atomically (no object arrays)."""
    for name, array in arrays.items():
        if np.asarray(array).dtype == object:
            raise TypeError(f"array {name!r} has dtype object; renoise stores plain arrays only")
    with atomic_path(path, suffix=".npz") as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, **arrays)


def _looks_pickled(path: Path) -> bool:
    """An archive with an object array, or a bare pickle (protocol 2 and later start with 0x80)."""
    with open(path, "rb") as handle:
        return zipfile.is_zipfile(handle) or handle.read(1) == b"\x80"


def load_arrays(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Load every array of an ``.npz`` into memory, refusing pickles and naming a bad file."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {name: npz[name] for name in npz.files}
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except ValueError as exc:
        if "allow_pickle" in str(exc) and _looks_pickled(path):
            raise DataError(f"{path}: holds pickled objects, which renoise refuses to load") from None
        raise DataError(f"{path}: not a readable .npz ({first_line(exc)})") from None
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: truncated or corrupt .npz ({exc})") from None
    except (TypeError, AttributeError):  # np.load returned a bare array: a .npy, not an .npz
        raise DataError(f"{path}: not an .npz archive of named arrays") from None
