"""Grids: the Cartesian product of ``--grid`` overrides, each point a variant of the experiment with
its own identity, and one plan for all of them in which a run shared by several points runs once.

A **point** is the experiment with some keys overridden (``--set`` and one value of each
``--grid``). Its key is its sorted overrides in Hydra's ``override_dirname`` form,
``autoencoder.architecture=conv,structures.one_level.epochs=20``; its folder is that key made
safe for every file system (:func:`folder_name`): its runs live in ``runs/<experiment>/<folder>/``,
its evaluation cache, CSV tables and report in ``storage/<experiment>/<folder>/`` and
``reports/<experiment>/<folder>/``. Its label is for display only.

**Shared runs.** A run lives in the folder of the overrides that reach it: those whose removal
would change what it computes (:func:`_home`, found by planning the point without each override in
turn and comparing the run's content: its notebook, parameters and inputs' contents). A grid over
``autoencoder.architecture`` leaves the data and classifier runs alone, so they live in the
experiment's own folder, ``runs/<experiment>/data``, are planned once for every point, execute
once, and are the very runs a plain ``renoise run <experiment>`` uses. Nothing records which
folder is canonical: it follows from the keys, and the marker in that folder stays the truth. Every
point's comparison lives in its own folder.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from renoise.pipeline import overrides
import renoise.pipeline.config
import renoise.pipeline.plan
from renoise.errors import ConfigError
from renoise.pipeline.plan import Run
from renoise.pipeline.overrides import Override, value_text

#: The most points a grid may have without ``--yes``: a typo in a range should not start a week of runs.
MAX_POINTS = 1000
#: The longest point folder name; a longer key is cut and ends in 12 hex digits of its hash.
MAX_FOLDER = 120
#: Characters a folder name keeps on every file system (others become ``_``).
_UNSAFE = re.compile(r"[^A-Za-z0-9._,=+-]")


@dataclass(frozen=True)
class Point:
    """One point of a grid: its number (1, 2, ..., in product order) and its overrides, sorted by
    key, each with one value."""

    number: int
    changes: tuple[Override, ...]

    @property
    def key(self) -> str:
        """Its identity: ``key=value`` of each override, sorted by key, joined by commas."""
        return point_key(self.changes)

    @property
    def folder(self) -> str:
        return folder_name(self.key)

    @property
    def values(self) -> dict:
        """Each overridden key's value."""
        return {change.key: change.values[0] for change in self.changes}

    def label(self, swept: tuple[str, ...]) -> str:
        """For display only: the swept keys' values, by the keys' last parts (``architecture=conv``)."""
        return ", ".join(f"{key.rsplit('.', 1)[-1]}={value_text(self.values[key])}" for key in swept)


def point_key(changes) -> str:
    return ",".join(f"{c.key}={value_text(c.values[0])}" for c in sorted(changes, key=lambda c: c.key))


def folder_name(key: str) -> str:
    """A point key as a folder name that every file system accepts: letters, digits and ``._,=+-``
    kept, anything else ``_``, no trailing dot, at most :data:`MAX_FOLDER` characters."""
    name = _UNSAFE.sub("_", key).rstrip(".")
    if len(name) > MAX_FOLDER:
        name = f"{name[:MAX_FOLDER - 13]}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"
    return name


@dataclass
class Grid:
    """A grid over one experiment file: its points with their configurations, the keys it sweeps,
    and the plan of all their runs (shared runs once, every comparison last)."""

    name: str
    points: list[Point]
    swept: tuple[str, ...]
    configs: dict[str, dict] = field(default_factory=dict)  # point folder -> its configuration
    runs: dict[str, list[Run]] = field(default_factory=dict)  # point folder -> its runs (plan keys)
    plan: list[Run] = field(default_factory=list)


# -- reading the overrides -------------------------------------------------------------------------


def in_file(path) -> bool:
    """Whether the experiment file has a ``grid:`` block (an absent file is left to the loader)."""
    return Path(path).is_file() and bool(renoise.pipeline.config._read_yaml(Path(path)).get("grid"))


def _file_grid(path: Path) -> list[Override]:
    """The ``grid:`` block of an experiment file: ``key: "a,b"`` or ``key: "range(1,5)"`` in the
    override grammar, or ``key: [a, b]`` as a YAML list (numbers in exponent form read as floats)."""
    block = renoise.pipeline.config._read_yaml(Path(path)).get("grid") or {}
    if not isinstance(block, dict):
        raise ConfigError(f"{Path(path).name}.grid: expected a mapping of keys to choices")
    found = []
    for key, given in block.items():
        if isinstance(given, list):
            values = tuple(renoise.pipeline.config._yaml11_float(v) for v in given)
            if not values:
                raise ConfigError(f"{Path(path).name}.grid.{key}: an empty choice")
            found.append(Override(str(key), values, f"grid {key}: {given}"))
        else:
            found.append(overrides.parse(f"{key}={given}", choice=True))
    return found


def _combined(sets: list[Override], grids: list[Override], from_file: list[Override]) -> list[Override]:
    """The grid's axes: the file's, replaced by a ``--grid`` of the same key, without a key that
    ``--set`` pins. A key given twice on the command line, or in both ``--set`` and ``--grid``, is refused."""
    for group, flag in ((sets, "--set"), (grids, "--grid")):
        keys = [o.key for o in group]
        twice = sorted({k for k in keys if keys.count(k) > 1})
        if twice:
            raise ConfigError(f"{flag}: {twice[0]!r} is given twice")
    both = sorted({o.key for o in sets} & {o.key for o in grids})
    if both:
        raise ConfigError(f"{both[0]!r} is in both --set and --grid: give it one value or a choice")
    pinned = {o.key for o in sets} | {o.key for o in grids}
    return [o for o in from_file if o.key not in pinned] + list(grids)


def points(sets: list[Override], axes: list[Override], *, yes: bool = False) -> list[Point]:
    """The product of ``axes`` (in the order given), each point with the ``sets`` too; refuses more
    than :data:`MAX_POINTS` points without ``yes``, and two keys whose folders collide."""
    count = math.prod(len(axis.values) for axis in axes)
    if count > MAX_POINTS and not yes:
        raise ConfigError(f"the grid has {count:,} points (more than {MAX_POINTS:,}): pass --yes to run them all")
    found = []
    for number, values in enumerate(itertools.product(*(axis.values for axis in axes)), start=1):
        chosen = [Override(axis.key, (value,), f"{axis.key}={value_text(value)}") for axis, value in zip(axes, values)]
        found.append(Point(number, tuple(sorted([*sets, *chosen], key=lambda c: c.key))))
    _refuse_collisions([p.key for p in found])
    return found


def _refuse_collisions(keys) -> None:
    """Two keys whose folders are one after sanitising (or differ only in case, as macOS and
    Windows see them) would share runs that are not the same: refused."""
    seen: dict[str, str] = {}
    for key in keys:
        folder = folder_name(key).lower()
        if folder in seen and seen[folder] != key:
            raise ConfigError(f"grid points {seen[folder]!r} and {key!r} would share the folder "
                              f"{folder_name(key)!r}; change one value")
        seen.setdefault(folder, key)


# -- planning --------------------------------------------------------------------------------------


def build(path, set_texts=(), grid_texts=(), *, yes: bool = False) -> Grid:
    """Parse the overrides, form the points, validate each point's configuration and plan them all."""
    path = Path(path)
    sets = [overrides.parse(text, choice=False) for text in set_texts]
    grids = [overrides.parse(text, choice=True) for text in grid_texts]
    axes = _combined(sets, grids, _file_grid(path))
    found = points(sets, axes, yes=yes)
    planner = _Planner(path)
    grid = Grid("", found, tuple(axis.key for axis in axes))
    for point in found:
        config = grid.configs[point.folder] = planner.config(point.changes)
        homes = {run.key: planner.home(point.changes, run) for run in renoise.pipeline.plan.plan(config)}
        grid.runs[point.folder] = renoise.pipeline.plan.plan(config, point=point.folder, homes=homes)
        grid.name = config["name"]
    _refuse_collisions([p.key for p in found] + [point_key(subset) for subset in planner.subsets])
    grid.plan = _merged([grid.runs[p.folder] for p in found])
    return grid


def _merged(plans: list[list[Run]]) -> list[Run]:
    """One plan: each run once (the points' plans agree on a shared run, or the grid is refused),
    in dependency order, every comparison last."""
    merged: dict[str, Run] = {}
    for run in itertools.chain.from_iterable(plans):
        known = merged.get(run.key)
        if known is not None and (known != run or known.parameters != run.parameters):
            raise ConfigError(f"grid points plan the run {run.key} differently: its overrides interact; "
                              f"run the points one at a time with --set")
        merged.setdefault(run.key, run)
    return [r for r in merged.values() if not r.is_comparison] + [r for r in merged.values() if r.is_comparison]


class _Planner:
    """Configurations and run contents of subsets of a point's overrides, each computed once."""

    def __init__(self, path: Path):
        self.path = path
        self._configs: dict[str, dict | None] = {}
        self._contents: dict[str, dict[str, str] | None] = {}
        self.subsets: list[tuple[Override, ...]] = []

    def config(self, changes: tuple[Override, ...]) -> dict:
        """The validated configuration with ``changes`` (raises :class:`ConfigError`)."""
        return renoise.pipeline.config.load(self.path, changes)

    def contents(self, changes: tuple[Override, ...]) -> dict[str, str] | None:
        """Each run's content hash (by its key in the point) with ``changes``; ``None`` where
        they do not make a valid experiment."""
        key = point_key(changes)
        if key not in self._contents:
            try:
                self._contents[key] = content_hashes(renoise.pipeline.plan.plan(self.config(changes)))
            except ConfigError:
                self._contents[key] = None
        return self._contents[key]

    def home(self, changes: tuple[Override, ...], run: Run) -> str:
        """The folder of the overrides in ``changes`` that reach ``run`` (planned with them): each
        override, in key order, is dropped where the run's content stays the same without it. The
        comparison, the point's own report, always lives in the point's folder."""
        if run.is_comparison:
            return folder_name(point_key(changes))
        target = self.contents(changes)[run.key]
        kept = list(changes)
        for change in changes:
            trial = tuple(c for c in kept if c is not change)
            contents = self.contents(trial)
            if contents is not None and contents.get(run.key) == target:
                kept = list(trial)
        if kept:
            self.subsets.append(tuple(kept))
        return folder_name(point_key(kept)) if kept else ""


def content_hashes(plan: list[Run]) -> dict[str, str]:
    """What each run computes, by key: its notebook, parameters, threads and inputs' contents
    (paths included: every plan of one experiment file lays its runs out alike)."""
    found: dict[str, str] = {}
    for run in plan:
        payload = [run.notebook, run.parameters, run.threads, run.backend, [found[k] for k in run.needs]]
        found[run.key] = hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()
    return found


# -- showing the plan ------------------------------------------------------------------------------


def describe(grid: Grid) -> list[str]:
    """The dry run's lines: every point, numbered, with its folder and runs; a run that several
    points share says which."""
    planned = sum(len(runs) for runs in grid.runs.values())
    lines = [f"renoise: experiment {grid.name!r}, a grid of {len(grid.points)} points over "
             f"{', '.join(grid.swept) or 'no key (--set only)'}: {len(grid.plan)} runs "
             f"({planned - len(grid.plan)} fewer than planned one point at a time: shared runs run once)"]
    users = {}
    for point in grid.points:
        for run in grid.runs[point.folder]:
            users.setdefault(run.key, []).append(point.number)
    for point in grid.points:
        folder = f"  in {point.folder}/" if point.folder != point.key else ""
        lines.append(f"point {point.number:>3}  {point.key}  ({point.label(grid.swept)}){folder}")
        for run in grid.runs[point.folder]:
            shared = users[run.key]
            named = ", ".join(map(str, shared)) if len(shared) <= 5 else f"{shared[0]}, ..., {shared[-1]} ({len(shared)})"
            note = f"  shared by points {named}" if len(shared) > 1 else ""
            lines.append(f"      {run.key:<60} {run.label}{note}")
    return lines
