"""Where the project is: the folder every run path is relative to.

Kept apart from the runner so that a notebook can find the project without importing the machinery
that executes notebooks.
"""

from __future__ import annotations

import os
from pathlib import Path

from renoise.errors import RunError


def project_root(start: str | os.PathLike | None = None) -> Path:
    """The folder holding ``pyproject.toml`` and ``notebooks/``, searched upward from ``start``
    (default: the working directory), so notebooks find it from JupyterLab or papermill alike.

    The path is made absolute but its links are kept: ``runs/`` or ``runs/<experiment>`` may be a
    symlink to a scratch file system, and the project is above the link, not above its target.
    """
    here = Path(os.path.abspath(start or os.getcwd()))
    for folder in (here, *here.parents):
        if (folder / "pyproject.toml").is_file() and (folder / "notebooks").is_dir():
            return folder
    raise RunError(f"{here}: not inside a renoise project (no pyproject.toml with notebooks/ above it)")
