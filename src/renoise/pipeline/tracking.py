"""What the experiment tracker records of a run, read from the files the run left behind.

A renoise run becomes one MLflow run (:mod:`renoise.pipeline.tracker` writes it):

- **params**: the parameters its notebook received (``parameters.json``), flattened under the
  notebook's name: ``autoencoder.learning_rate``, ``autoencoder.schedule.lr_factor``,
  ``data.n_train``, ``compare.tsne_backend`` (the experiment file's own keys where they match);
- **tags** (``renoise.*``): its key, label, family, structure, mode, repetition, parent key, run
  hash and attempt, and where it ran: host, worker, backend, threads;
- **metrics**: each per-epoch series of its ``history.json`` (``loss``, ``val_loss``, ...) with
  step = epoch (1, 2, ...), the kept epoch and ``fit_seconds``, and from its marker the peak
  memory and wall time; after the comparison, every model's value of every metric on every test
  set from its point's ``summary.csv`` (``psnr.50pct``, ``ssim.mixed``);
- **artifacts**: the executed notebook and the history (the model file only on request); the
  comparison adds its point's CSV tables and both HTML reports.

Everything comes from run folders, never from a live kernel, so a run is recorded alike whether
it was logged as it completed or back-filled later by ``renoise track``. Nothing here imports
MLflow: the records are cheap to build and to test.
"""

from __future__ import annotations

import csv
import datetime
import json
import re
from dataclasses import dataclass
from pathlib import Path

from renoise.pipeline.plan import Run, model_specs
from renoise.pipeline.progress import read_mapping

#: The prefix of every tag renoise sets: the UI lists them together.
TAG = "renoise."
#: The numbers of a ``history.json`` that are one per run (its lists are per-epoch series).
HISTORY_SCALARS = ("kept_epoch", "fit_seconds")
#: The numbers of a marker that are metrics, and the metric each becomes.
MARKER_METRICS = {"peak_memory_mb": "peak_memory_mb", "seconds": "run_seconds"}
#: What MLflow accepts in a param or metric name; anything else becomes ``_``.
_UNSAFE = re.compile(r"[^A-Za-z0-9_\-. /:]")


@dataclass(frozen=True)
class Record:
    """One run as the tracker stores it: the MLflow experiment it belongs to, what identifies the
    execution (key, run hash, attempt), what to log, the key of the run it nests under, and its
    start and end in milliseconds since the epoch."""

    key: str
    experiment: str
    hash: str
    attempt: str
    params: dict[str, str]
    tags: dict[str, str]
    series: dict[str, list[float]]
    metrics: dict[str, float]
    artifacts: tuple[tuple[Path, str], ...]  # (file, folder among the run's artifacts; "" for the top)
    parent: str | None
    start_ms: int
    end_ms: int


def record(root: Path, name: str, run: Run, marker: dict, *, models: bool = False) -> Record:
    """The :class:`Record` of ``run`` of the experiment ``name``, completed with ``marker``;
    ``models`` adds its model file to the artifacts."""
    run_dir = Path(root) / run.run_dir
    history = read_mapping(run_dir / "history.json") or {}
    parameters = read_mapping(run_dir / "parameters.json") or run.parameters  # as the notebook received them
    end = time_ms(marker["finished"])
    spec = next(iter(model_specs([run])), {})
    return Record(key=run.key, experiment=experiment_name(name, run), hash=marker["hash"], attempt=attempt(marker),
                  params=flatten(parameters, run.notebook.removesuffix(".ipynb")),
                  tags=tags(run, marker, spec, history), series=series(history), metrics=_metrics(history, marker),
                  artifacts=_artifacts(Path(root), run, models), parent=spec.get("parent"),
                  start_ms=end - round(1000 * (marker.get("seconds") or 0)), end_ms=end)


def experiment_name(name: str, run: Run) -> str:
    """The MLflow experiment of ``run``: the renoise experiment's name, or for a run of a grid
    point ``<experiment>/<point folder>`` (a run several points share: the folder it lives in)."""
    return "/".join(part for part in (name, run.home) if part)


def attempt(marker: dict) -> str:
    """What tells one execution of a run from another with the same hash: the runner's attempt id
    (a marker written before attempts were recorded: its time)."""
    return str(marker.get("attempt") or marker["finished"])


def time_ms(stamp: str) -> int:
    """An ISO time stamp of a marker (local time) in milliseconds since the epoch."""
    return round(datetime.datetime.fromisoformat(stamp).timestamp() * 1000)


def flatten(value, prefix: str) -> dict[str, str]:
    """``value`` as MLflow params under ``prefix``: a mapping's entries as ``prefix.key``, a list
    holding mappings as ``prefix.0``, ``prefix.1``, ...; a string as itself, anything else as its
    JSON text (``[32, 8]``, ``0.001``, ``null``)."""
    if isinstance(value, dict):
        return {k: v for key, item in value.items() for k, v in flatten(item, f"{prefix}.{key}").items()}
    if isinstance(value, list) and any(isinstance(item, dict) for item in value):
        return {k: v for i, item in enumerate(value) for k, v in flatten(item, f"{prefix}.{i}").items()}
    return {safe_name(prefix): value if isinstance(value, str) else json.dumps(value)}


def safe_name(name: str) -> str:
    """``name`` with what MLflow refuses in a name turned into ``_`` (``%`` into ``pct``)."""
    return _UNSAFE.sub("_", name.replace("%", "pct"))


def tags(run: Run, marker: dict, spec: dict, history: dict) -> dict[str, str]:
    """The run's ``renoise.*`` tags (those it has: a data run has no family); ``threads`` is
    ``all`` where the kernel had every core."""
    facts = {"key": run.key, "label": run.label, "notebook": run.notebook, "point": run.home,
             **{field: spec.get(field) for field in ("family", "structure", "mode", "repetition", "parent")},
             "hash": marker["hash"], "attempt": attempt(marker), "finished": marker["finished"],
             "host": marker.get("host"), "worker": marker.get("worker"), "backend": marker.get("backend"),
             "threads": marker.get("threads") or "all", "op_threads": marker.get("op_threads"),
             "stopped_early": history.get("stopped_early")}
    return {TAG + key: value if isinstance(value, str) else json.dumps(value)
            for key, value in facts.items() if value is not None and value != ""}


def series(history: dict) -> dict[str, list[float]]:
    """The per-epoch lists of a ``history.json`` (``loss``, ``val_loss``, ``learning_rate``, ...)."""
    return {safe_name(key): [float(v) for v in values] for key, values in history.items()
            if isinstance(values, list) and all(_number(v) for v in values)}


def _metrics(history: dict, marker: dict) -> dict[str, float]:
    """The run's one-number metrics: :data:`HISTORY_SCALARS` and :data:`MARKER_METRICS`."""
    found = {key: history.get(key) for key in HISTORY_SCALARS}
    found.update({name: marker.get(key) for key, name in MARKER_METRICS.items()})
    return {key: float(value) for key, value in found.items() if _number(value)}


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _artifacts(root: Path, run: Run, models: bool) -> tuple[tuple[Path, str], ...]:
    """The run's files to store: its executed notebook, its history (and model, with ``models``);
    a comparison's CSV tables in ``tables/``."""
    run_dir = root / run.run_dir
    names = [run.notebook, "history.json", *(["model.keras"] if models else [])]
    found = [(run_dir / name, "") for name in names if (run_dir / name).is_file()]
    if run.is_comparison:
        found += [(path, "tables") for path in sorted((root / run.parameters["storage_dir"]).glob("*.csv"))]
    return tuple(found)


def set_metrics(root: Path, compare: Run, plan: list[Run]) -> dict[str, dict[str, float]]:
    """Every value of the comparison's ``summary.csv`` as a metric, by the key of the run it is
    logged to: a model's own rows as ``psnr.50pct`` on the model's run; the rows of a variant of
    it (``<key>/renoised``: the child re-noised at evaluation) as ``renoised/psnr.50pct`` there
    too; rows of no run (the baselines) on the comparison's own run, as
    ``baselines/median_3x3/psnr.50pct``. MLflow's UI groups metrics by what precedes a ``/``."""
    local = {run.local_key: run.key for run in plan if run.key in compare.needs}
    found: dict[str, dict[str, float]] = {}
    with open(Path(root) / compare.parameters["storage_dir"] / "summary.csv", newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            owner, rest = _owner(row["run"], local)
            name = "/".join(part for part in (rest, f"{row['metric']}.{row['set'].lower()}") if part)
            found.setdefault(owner or compare.key, {})[safe_name(name)] = float(row["value"])
    return found


def _owner(name: str, local: dict[str, str]) -> tuple[str | None, str]:
    """The run a ``summary.csv`` row named ``name`` belongs to (the longest key of ``local`` that
    ``name`` is or begins with, as its plan key) and the rest of the name; ``None`` and the whole
    name where it belongs to none."""
    parts = name.split("/")
    for n in range(len(parts), 0, -1):
        head = "/".join(parts[:n])
        if head in local:
            return local[head], "/".join(parts[n:])
    return None, name


def reports(root: Path, compare: Run) -> list[tuple[Path, str]]:
    """Both HTML reports of the comparison, for ``reports/`` and ``reports/no_code/`` among its
    artifacts, where they were rendered from its executed notebook (none are older than it);
    ``[]`` where they are missing or older."""
    folder = Path(root) / "reports" / compare.parameters["experiment"]
    notebook = Path(root) / compare.run_dir / compare.notebook
    found = [(folder / "comparison.html", "reports"), (folder / "no_code" / "comparison.html", "reports/no_code")]
    if not notebook.is_file() or not all(path.is_file() for path, _ in found):
        return []
    newest = notebook.stat().st_mtime_ns
    return found if all(path.stat().st_mtime_ns >= newest for path, _ in found) else []
