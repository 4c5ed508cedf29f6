"""The experiment tracker: every completed run as an MLflow run, written by one process.

**One writer.** The process that submits the runs logs each one when it completes
(:meth:`Tracker.done`, from the runner's result callback), reading the files the run left
(:mod:`renoise.pipeline.tracking`). Workers never touch the tracker, so a cluster needs no shared
database and SQLite never meets concurrent writers ("database is locked"; its locks are unreliable
on NFS). A file lock beside the database keeps two renoise processes of one machine (two
experiments at once, ``renoise track`` beside a run) from writing at once or racing to create a
fresh store.

**Where.** ``storage/mlflow.db`` (``sqlite:///``), artifacts in ``storage/mlflow-artifacts/<MLflow
experiment>/``; ``MLFLOW_TRACKING_URI`` in the environment names another store (a team server
keeps its artifacts where it is configured to; another SQLite file has ``mlflow-artifacts/``
beside it).

**Idempotent.** Each MLflow run carries its renoise run's key, hash and attempt as tags. A run
already logged is found and left alone, so a rerun that executes nothing logs nothing; a run
executed again gets a new MLflow run, and the old one is tagged ``renoise.superseded_by`` and
deleted (MLflow keeps deleted runs until ``mlflow gc``). An MLflow run is FINISHED only once all of
it is written: one cut short is replaced the next time. A child nests under its parent's MLflow
run and a comparison logs its inputs first, so whatever logs a run logs what it hangs on.

**Never fatal.** A tracker that fails (locked, unreachable, corrupt, disk full, MLflow missing)
costs one warning line naming the store and stops tracking for the session; the runs' results are
untouched and ``renoise track`` (:meth:`Tracker.track`) catches up from the markers. MLflow is
imported when the first run is logged, never by ``renoise status``.
"""

from __future__ import annotations

import contextlib
import os
import sys
import urllib.parse
from pathlib import Path
from typing import Callable

from renoise.errors import RenoiseError, RunError, first_line
from renoise.pipeline import markers, tracking
from renoise.pipeline.plan import Run
from renoise.pipeline.tracking import TAG, Record

#: The project's own store, relative to the project root.
STORE = "storage/mlflow.db"
#: The folder beside a SQLite store that holds its artifacts, one folder per MLflow experiment.
ARTIFACTS = "mlflow-artifacts"
#: How long a writer waits for another renoise process's turn at the store.
LOCK_SECONDS = 60
#: MLflow's HTTP client retries for minutes by default; an unreachable server should cost one
#: warning, not stall the runs. Set only where the environment does not say otherwise.
HTTP_DEFAULTS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1", "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}
#: The most params (and tags) and metrics one MLflow ``log_batch`` takes.
PARAMS_PER_BATCH, METRICS_PER_BATCH = 100, 1000


class TrackingError(RenoiseError):
    """The tracker could not be written (``renoise track`` reports it as one line)."""


def store_uri(root: Path) -> str:
    """The tracking URI: ``MLFLOW_TRACKING_URI`` if set, else the project's SQLite store."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{Path(root).absolute() / STORE}"


def database(uri: str) -> Path | None:
    """The file of a ``sqlite:///`` URI (absolute); ``None`` for any other store."""
    if not uri.startswith("sqlite:///"):
        return None
    return Path(uri.removeprefix("sqlite:///").split("?", 1)[0]).absolute()  # sqlite:////abs or sqlite:///relative


def describe(uri: str) -> str:
    """The store as a message names it: a SQLite file's path, else the URI without its password."""
    path = database(uri)
    if path is not None:
        return str(path)
    parts = urllib.parse.urlsplit(uri)
    if parts.password:
        parts = parts._replace(netloc=f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else ""))
    return urllib.parse.urlunsplit(parts)


class Tracker:
    """Logs the runs of ``plan`` (the experiment ``name`` below ``root``) to the store at ``uri``
    (default: :func:`store_uri`); ``models`` stores model files too. ``warn`` prints the one
    warning line (default: stderr); ``command`` is what that line offers to catch up."""

    def __init__(self, root: Path, name: str, plan: list[Run], *, models: bool = False, uri: str | None = None,
                 warn: Callable[[str], None] | None = None, command: str | None = None):
        self.root, self.name, self.models = Path(root), name, models
        self.runs = {run.key: run for run in plan}
        self.uri = uri or store_uri(self.root)
        self.warn = warn or (lambda line: print(line, file=sys.stderr, flush=True))
        self.command = command or f"renoise track {name}"
        self.on = True
        self.created = 0  # MLflow runs written in this session
        self._client = None
        self._lock = None
        self._experiments: dict[str, str] = {}  # MLflow experiment name -> id
        self._logged: dict[str, str] = {}  # run key -> its MLflow run id, found or written in this session
        self._compared: list[tuple[Run, str]] = []  # comparisons written in this session, with their MLflow runs

    # -- the runner's side: never fatal -----------------------------------------------------------

    def done(self, run: Run, marker: dict) -> None:
        """Log ``run``, just completed with ``marker``."""
        self._guarded(self.log, run, marker)

    def rendered(self) -> None:
        """Attach the reports just rendered to the comparisons logged in this session."""
        self._guarded(self._attach_all)

    def _guarded(self, step, *args) -> None:
        """Run ``step`` unless tracking stopped; any failure stops it with one warning line."""
        if not self.on:
            return
        try:
            step(*args)
        except Exception as exc:  # a tracker must never fail a run: whatever broke, say it once and go on
            self.on = False
            self.warn(f"renoise: warning: tracking stopped, {describe(self.uri)}: {first_line(exc)}; "
                      f"the runs are unaffected, `{self.command}` catches up later")

    # -- renoise track: strict ---------------------------------------------------------------------

    def track(self, runs: list[Run]) -> int:
        """Log every run of ``runs`` (complete, in plan order) not logged yet; return how many MLflow
        runs were written. Raises :class:`TrackingError` naming the store."""
        try:
            for run in runs:
                self.log(run)
        except RenoiseError:
            raise
        except Exception as exc:  # whatever the store raised, as one line naming it
            raise TrackingError(f"tracking store {describe(self.uri)}: {first_line(exc)}") from None
        return self.created

    # -- logging -------------------------------------------------------------------------------

    def log(self, run: Run, marker: dict | None = None) -> str:
        """The id of ``run``'s MLflow run, written now unless one with its hash and attempt is
        there. ``marker``: read from its folder if not given."""
        if run.key in self._logged:
            return self._logged[run.key]
        marker = marker or self._marker(run)
        record = tracking.record(self.root, self.name, run, marker, models=self.models)
        parent = self.log(self.runs[record.parent]) if record.parent else None
        if run.is_comparison:
            for key in run.needs:
                self.log(self.runs[key])
        with self._turn():
            experiment = self._experiment(record.experiment)
            found, old = self._find(experiment, record)
            if found is None:
                found = self._write(experiment, record, parent, run)
            self._supersede(old, found)
            if run.is_comparison:
                self._attach_reports(run, found)
        self._logged[run.key] = found
        return found

    def _marker(self, run: Run) -> dict:
        marker = markers.read_marker(self.root / run.run_dir)
        if marker is None:
            raise RunError(f"{run.run_dir} has no current {markers.MARKER}: run it before tracking what hangs on it")
        return marker

    def _write(self, experiment: str, record: Record, parent: str | None, run: Run) -> str:
        """A new MLflow run holding ``record`` (nested under ``parent``); a comparison's also gets
        every model's metrics per set; marked FINISHED last."""
        client = self.client
        tags = {**record.tags, "mlflow.source.name": f"{run.run_dir}/{run.notebook}",
                **({"mlflow.parentRunId": parent} if parent else {})}
        run_id = client.create_run(experiment, start_time=record.start_ms, tags=tags, run_name=record.key).info.run_id
        self._batch(run_id, record.params, self._metrics(record))
        for path, folder in record.artifacts:
            client.log_artifact(run_id, str(path), folder or None)
        if run.is_comparison:
            self._log_sets(run, run_id, record.end_ms)
            self._compared.append((run, run_id))
        client.set_terminated(run_id, "FINISHED", end_time=record.end_ms)
        self.created += 1
        return run_id

    def _metrics(self, record: Record) -> list:
        """``record``'s metrics as MLflow metrics: each series by epoch (step 1, 2, ...), the one-number ones at step 0."""
        from mlflow.entities import Metric

        found = [Metric(name, value, record.end_ms, step) for name, values in record.series.items()
                 for step, value in enumerate(values, start=1)]
        return found + [Metric(name, value, record.end_ms, 0) for name, value in record.metrics.items()]

    def _log_sets(self, compare: Run, run_id: str, when: int) -> None:
        """Every value of the comparison's ``summary.csv`` on the run it belongs to (step 0, at the
        comparison's end, so the latest comparison's value is each metric's latest)."""
        from mlflow.entities import Metric

        ids = {**self._logged, compare.key: run_id}
        for key, values in tracking.set_metrics(self.root, compare, list(self.runs.values())).items():
            self._batch(ids[key], {}, [Metric(name, value, when, 0) for name, value in values.items()])

    def _batch(self, run_id: str, params: dict[str, str], metrics: list) -> None:
        """Log ``params`` and ``metrics`` in as many batches as MLflow's limits ask."""
        from mlflow.entities import Param

        items = [Param(key, value) for key, value in params.items()]
        for start in range(0, len(items), PARAMS_PER_BATCH):
            self.client.log_batch(run_id, params=items[start:start + PARAMS_PER_BATCH])
        for start in range(0, len(metrics), METRICS_PER_BATCH):
            self.client.log_batch(run_id, metrics=metrics[start:start + METRICS_PER_BATCH])

    def _attach_all(self) -> None:
        if not self._compared:
            return
        with self._turn():
            for compare, run_id in self._compared:
                self._attach_reports(compare, run_id)

    def _attach_reports(self, compare: Run, run_id: str) -> None:
        """Store both reports with the comparison's MLflow run, if they were rendered from its
        notebook and it has none yet."""
        found = tracking.reports(self.root, compare)
        if found and not self.client.list_artifacts(run_id, "reports"):
            for path, folder in found:
                self.client.log_artifact(run_id, str(path), folder)

    def _find(self, experiment: str, record: Record) -> tuple[str | None, list[str]]:
        """The FINISHED MLflow run of this execution of the run (``None`` if there is none) and
        every other active MLflow run of the same run key: those it replaces."""
        runs = self.client.search_runs([experiment], filter_string=f"tags.`{TAG}key` = '{record.key}'",
                                       max_results=1000)
        same = [r.info.run_id for r in runs if r.info.status == "FINISHED" and r.data.tags.get(f"{TAG}hash") == record.hash
                and r.data.tags.get(f"{TAG}attempt") == record.attempt]
        found = same[0] if same else None
        return found, [r.info.run_id for r in runs if r.info.run_id != found]

    def _supersede(self, old: list[str], new: str) -> None:
        """Tag each of ``old`` as replaced by ``new`` and delete it (MLflow keeps it until ``mlflow gc``)."""
        for run_id in old:
            self.client.set_tag(run_id, f"{TAG}superseded_by", new)
            self.client.delete_run(run_id)

    def _experiment(self, name: str) -> str:
        """The id of the MLflow experiment ``name``, created (or restored, if deleted) as needed."""
        if name not in self._experiments:
            found = self.client.get_experiment_by_name(name)
            if found is None:
                path = database(self.uri)
                location = (path.parent / ARTIFACTS / name).as_uri() if path is not None else None
                self._experiments[name] = self.client.create_experiment(name, artifact_location=location)
            else:
                if found.lifecycle_stage == "deleted":
                    self.client.restore_experiment(found.experiment_id)
                self._experiments[name] = found.experiment_id
        return self._experiments[name]

    # -- the store -------------------------------------------------------------------------------

    @property
    def client(self):
        """MLflow's client on the store, made on first use (importing MLflow takes seconds)."""
        if self._client is None:
            for key, value in HTTP_DEFAULTS.items():
                os.environ.setdefault(key, value)
            import logging

            from mlflow import MlflowClient

            logging.getLogger("mlflow").setLevel(logging.WARNING)  # not "Creating initial MLflow database tables..."
            path = database(self.uri)
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
            self._client = MlflowClient(tracking_uri=self.uri)
        return self._client

    @contextlib.contextmanager
    def _turn(self):
        """This process's turn at a SQLite store (a file lock beside it); any other store: at once."""
        path = database(self.uri)
        if path is None:
            yield
            return
        if self._lock is None:
            from filelock import FileLock

            path.parent.mkdir(parents=True, exist_ok=True)
            self._lock = FileLock(f"{path}.lock", timeout=LOCK_SECONDS)
        with self._lock:
            yield
