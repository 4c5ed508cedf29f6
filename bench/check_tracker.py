"""Reads an experiment back from the tracker as an outsider would, and checks it against the run files.

usage: .venv/bin/python bench/check_tracker.py EXPERIMENT [PROJECT]        (after `make report`)

Only MLflow's own client and the files on disk, no renoise imports: it opens PROJECT/storage/mlflow.db
with ``mlflow.MlflowClient`` and checks that the MLflow experiment EXPERIMENT holds
- one active MLflow run per complete run folder (``runs/EXPERIMENT/**/_COMPLETE.json``, less the folders
  of its grid points, which are MLflow experiments of their own), tagged with its folder's key (``renoise.key``);
- every run's ``val_loss`` history (step = epoch) equal to its ``history.json``;
- every value of ``storage/EXPERIMENT/summary.csv`` as a metric (``psnr.50pct``) of the run whose key
  begins its ``run`` column (the rest a prefix: ``renoised/psnr.50pct``), or, for rows of no run (the
  baselines), of the comparison's run, within 1e-6.
Last line: the figures; exit 1 on a mismatch.
"""
import json
import sys
from pathlib import Path

import mlflow
import pandas as pd

TOLERANCE = 1e-6


def tracked_runs(client, experiment: str) -> dict:
    """The active MLflow runs of ``experiment`` by their ``renoise.key`` tag."""
    found = client.get_experiment_by_name(experiment)
    if found is None:
        sys.exit(f"check_tracker: no MLflow experiment named {experiment!r}")
    runs = client.search_runs([found.experiment_id], max_results=5000)
    return {run.data.tags["renoise.key"]: run for run in runs}


def grid_points(client, experiment: str) -> list[str]:
    """The folders, below the experiment's, of its grid points: each is an MLflow experiment of its
    own (``quick/autoencoder.architecture=conv``), whose runs this check leaves out."""
    prefix = experiment + "/"
    return [found.name.removeprefix(prefix) for found in client.search_experiments() if found.name.startswith(prefix)]


def metric_name(row) -> str:
    """The metric a summary row is logged as: ``psnr.50pct``, ``ssim.mixed``."""
    return f"{row.metric}.{row.set.lower().replace('%', 'pct')}"


def owner(name: str, keys) -> tuple[str | None, str]:
    """The tracked key that ``name`` is or begins with (the longest), and the rest of ``name``."""
    parts = name.split("/")
    for n in range(len(parts), 0, -1):
        if "/".join(parts[:n]) in keys:
            return "/".join(parts[:n]), "/".join(parts[n:])
    return None, name


def main(experiment: str, project: Path) -> int:
    store = project / "storage" / "mlflow.db"
    if not store.is_file():  # MLflow would create an empty store there
        sys.exit(f"check_tracker: {store}: no tracker store (run `make report` first)")
    client = mlflow.MlflowClient(f"sqlite:///{store}")
    tracked = tracked_runs(client, experiment)
    root = project / "runs" / experiment
    points = grid_points(client, experiment)
    complete = {str(m.parent.relative_to(root)) for m in root.rglob("_COMPLETE.json")}
    complete = {key for key in complete if not any(key.startswith(point + "/") for point in points)}
    fails = [f"{key}: complete on disk, not tracked" for key in sorted(complete - tracked.keys())]
    fails += [f"{key}: tracked, no complete run on disk" for key in sorted(tracked.keys() - complete)]
    histories = 0
    for key in sorted(complete & tracked.keys()):
        path = root / key / "history.json"
        if not path.is_file():
            continue
        expected = json.loads(path.read_text())["val_loss"]
        logged = sorted(client.get_metric_history(tracked[key].info.run_id, "val_loss"), key=lambda m: m.step)
        if [m.step for m in logged] != list(range(1, len(expected) + 1)) or any(
                abs(m.value - v) > TOLERANCE * max(1.0, abs(v)) for m, v in zip(logged, expected)):
            fails.append(f"{key}: val_loss {[m.value for m in logged]} != history.json {expected}")
        histories += 1
    comparison = next(key for key, run in tracked.items() if run.data.tags.get("renoise.notebook") == "compare.ipynb")
    summary = pd.read_csv(project / "storage" / experiment / "summary.csv", dtype={"run": str})
    for row in summary.itertuples():
        key, rest = owner(row.run, tracked.keys())
        name = "/".join(p for p in (rest if key else row.run, metric_name(row)) if p)
        value = tracked[key or comparison].data.metrics.get(name)
        if value is None or abs(value - row.value) > TOLERANCE * max(1.0, abs(row.value)):
            fails.append(f"{row.run} {row.set} {row.metric}: summary {row.value}, tracker {value} ({key or comparison}: {name})")
    for line in fails[:20]:
        print(line)
    left_out = f" (the folders of {len(points)} grid points left out)" if points else ""
    print(f"{experiment}: {len(tracked)} MLflow runs for {len(complete)} complete runs{left_out}; {histories} val_loss "
          f"histories and {len(summary)} summary values checked; {len(fails)} problems")
    return 1 if fails else 0


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], Path(sys.argv[2] if len(sys.argv) == 3 else ".").resolve()))
