"""The command line: ``python -m renoise run | report | status | track [EXPERIMENT]`` and
``python -m renoise compare A B [C ...]`` or ``compare EXPERIMENT --grid ...``.

A thin layer: it finds the experiment file, picks the executor (``--workers N`` for a local dask
cluster, by default as many workers as the machine holds, 1 for this process alone;
``--scheduler ADDRESS`` for an existing one), calls
:mod:`renoise.pipeline.runner` or :mod:`renoise.report.html`, and turns any :class:`~renoise.errors.RenoiseError`
into one line on stderr and exit status 1. ``status`` imports neither keras nor TensorFlow.
``compare`` reads finished experiments or grid points (:mod:`renoise.report.pairing`); it runs none.
``run`` and ``report`` log each completed run to the experiment tracker
(:mod:`renoise.pipeline.tracker`) unless ``--no-track`` or ``tracking: false``; ``track`` logs the
complete runs that are not there yet.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path
from typing import NamedTuple

from renoise.science import backend as backends
from renoise.pipeline import markers, progress, sources
import renoise.pipeline.config
import renoise.pipeline.plan
from renoise.errors import ConfigError, RenoiseError
from renoise.pipeline.markers import RunState
from renoise.paths import project_root

DEFAULT_EXPERIMENT = "quick"


def experiment_path(name_or_path: str, root: Path) -> Path:
    """``experiments/<name>.yaml`` for a bare name, else the path as given."""
    given = Path(name_or_path)
    if given.suffix in (".yaml", ".yml") or given.exists():
        return given
    return root / "experiments" / f"{name_or_path}.yaml"


class Loaded(NamedTuple):
    """An experiment as the commands see it: the project root, its name, its plan, the names of
    its reports (one for a plain experiment, one per grid point) and its ``tracking`` settings."""

    root: Path
    name: str
    plan: list
    reports: list[str]
    tracking: dict


def _load(args) -> Loaded:
    """The experiment the command line names, with its ``--set`` and ``--grid`` overrides or its
    ``grid:`` block (a grid's tracking settings: its first point's)."""
    from renoise.pipeline import grid

    root = project_root()
    path = experiment_path(args.experiment, root)
    if args.set or args.grid or grid.in_file(path):
        swept = grid.build(path, args.set, args.grid, yes=args.yes)
        if args.dry_run:
            print("\n".join(grid.describe(swept)))
        return Loaded(root, swept.name, swept.plan, [f"{swept.name}/{point.folder}" for point in swept.points],
                      next(iter(swept.configs.values()))["tracking"])
    config = renoise.pipeline.config.load(path)
    plan = renoise.pipeline.plan.plan(config)
    if args.dry_run:
        print("\n".join(f"{run.key:<36} {run.label}" for run in plan))
    return Loaded(root, config["name"], plan, [config["name"]], config["tracking"])


def _flags(args) -> list[str]:
    """The command line's overrides, as flags that repeat them."""
    return [*(f"--set={text}" for text in args.set), *(f"--grid={text}" for text in args.grid)]


def _tracker(args, loaded: Loaded, *, on: bool = True, warn=None):
    """The experiment's tracker (:class:`renoise.pipeline.tracker.Tracker`), or ``None`` where
    tracking is off (``on`` false, or ``tracking: false``); importing it does not import MLflow."""
    if not (on and loaded.tracking["enabled"]):
        return None
    from renoise.pipeline.tracker import Tracker

    command = shlex.join(["renoise", "track", args.experiment, *_flags(args)])
    return Tracker(loaded.root, loaded.name, loaded.plan, models=loaded.tracking["models"], warn=warn, command=command)


def make_executor(args, machine=None):
    """The executor the flags ask for: ``--scheduler``'s cluster, else ``--workers`` local dask
    workers (by default as many as ``machine`` holds: see :func:`renoise.pipeline.sizing.automatic_workers`),
    where one worker means this process, runs one after another. ``machine`` is (cores, free
    bytes), this machine's by default."""
    from renoise.pipeline import executors, security, sizing

    if args.workers is not None and args.scheduler is not None:
        raise ConfigError("--workers and --scheduler exclude each other: start local workers, or use a cluster")
    dashboard = security.dashboard_address(args.dashboard or security.LOCAL_DASHBOARD)
    if args.scheduler is not None:
        files = {"tls_ca_file": args.tls_ca_file, "tls_client_cert": args.tls_cert, "tls_client_key": args.tls_key}
        tls = security.client_security(args.scheduler, files, warn=lambda line: print(line, file=sys.stderr))
        return executors.Dask(scheduler=args.scheduler, security=tls)
    cores, memory = machine or sizing.machine()
    workers = sizing.automatic_workers(cores, memory) if args.workers is None else args.workers
    if workers < 1:
        raise ConfigError(f"--workers: expected a whole number of at least 1, got {workers}")
    limit = sizing.most_workers(memory)
    if limit is not None and workers > limit:
        raise ConfigError(f"--workers: {workers} workers need {workers * sizing.WORKER_MEMORY / 2**30:.0f} GiB; "
                          f"this machine's {memory / 2**30:.1f} GiB of free memory holds at most {limit}")
    if workers == 1:
        return executors.Sequential()
    return executors.Dask(workers=workers, dashboard_address=dashboard)


def _run(args, then=None) -> int:
    from renoise.pipeline import runner

    loaded = _load(args)
    root, name, plan, reports, _ = loaded
    if args.dry_run:
        return 0
    start = time.perf_counter()
    print(f"renoise: experiment {name!r}, {len(plan)} runs in runs/{name}/ on {_backends(plan)}", flush=True)
    if note := backends.caller_override():
        print(f"renoise: {note}", file=sys.stderr, flush=True)
    board = progress.Board(root, plan, epochs=not args.quiet)
    tracker = _tracker(args, loaded, on=not args.no_track, warn=board.warn)
    with make_executor(args) as executor:
        outcome = runner.run_plan(plan, root, name, executor=executor, board=board,
                                  then=then and (lambda: then(root, reports)), tracker=tracker)
    print(f"renoise: {len(outcome.executed)} runs executed, {len(plan) - len(outcome.executed)} up to date"
          + (f", {len(outcome.failed)} failed, {len(outcome.blocked)} not run" if not outcome.ok else "")
          + f", {time.perf_counter() - start:.1f} s", flush=True)
    for message in outcome.failed.values():
        print(f"renoise: failed: {message}", file=sys.stderr)
    for key, reason in outcome.blocked.items():
        print(f"renoise: not run: {key}: {reason}", file=sys.stderr)
    if outcome.partial:
        print("renoise: the comparison covers the models whose runs completed; run again once the failures are fixed",
              file=sys.stderr)
    return 0 if outcome.ok else 1


def _backends(plan) -> str:
    """The keras backends ``plan``'s runs train on, for display (one, unless a grid sweeps it)."""
    return ", ".join(dict.fromkeys(run.backend for run in plan))


def cmd_run(args) -> int:
    return _run(args)


def render(root: Path, reports: list[str]) -> None:
    """Write both HTML reports of the experiment (of each grid point) and say where."""
    from renoise.report.html import write_reports

    for name in reports:
        _wrote(root, write_reports(root, name))


def _wrote(root: Path, paths) -> None:
    for path in paths:
        print(f"renoise: wrote {path.relative_to(root)} ({path.stat().st_size / 1e6:.1f} MB)", flush=True)


def cmd_report(args) -> int:
    return _run(args, then=render)


def _states(root: Path, plan: list) -> dict:
    """Every run's :class:`~renoise.pipeline.markers.Status` against the hash it would have now."""
    return markers.states(plan, root, sources.expected_hashes(plan, root / "notebooks"))


def cmd_status(args) -> int:
    root, _, plan, _, _ = _load(args)
    if args.dry_run:
        return 0
    state = _states(root, plan)
    complete = []
    for run in plan:
        status = state[run.key]
        marker = markers.read_marker(root / run.run_dir) if status.state is RunState.COMPLETE else None
        if marker:
            complete.append(marker)
            where = f"{marker.get('worker', 'local')}@{marker.get('host', '?')}"
            detail = f"{progress.describe_cost(marker):>16}  {where:<24} {run.label}"
        else:
            detail = f"{'':>16}  {'':<24} {run.label}: {status.reason}"
        print(f"{status.state.value:<9} {run.key:<36} {detail}")
    total = ""
    if complete:
        seconds = sum(m.get("seconds", 0.0) for m in complete)
        peaks = [m["peak_memory_mb"] for m in complete if m.get("peak_memory_mb") is not None]
        total = f"; {seconds / 60:.1f} min in all" + (f", largest peak {max(peaks) / 1024:.2f} GB" if peaks else "")
    print(f"{len(complete)}/{len(plan)} runs complete{total}; backend {_backends(plan)}")
    return 0


def cmd_track(args) -> int:
    """Log every complete run of the experiment that the tracker lacks (whatever ``tracking`` says)."""
    from renoise.pipeline.tracker import describe

    loaded = _load(args)
    if args.dry_run:
        return 0
    state = _states(loaded.root, loaded.plan)
    complete = [run for run in loaded.plan if state[run.key].state is RunState.COMPLETE]
    tracker = _tracker(args, loaded._replace(tracking={**loaded.tracking, "enabled": True}))
    start = time.perf_counter()
    written = tracker.track(complete)
    print(f"renoise: {written} runs logged, {len(complete) - written} already there, "
          f"{len(loaded.plan) - len(complete)} not complete (not logged), {time.perf_counter() - start:.1f} s; "
          f"store {describe(tracker.uri)}")
    return 0


def _sides(args) -> tuple[str, list, list]:
    """The comparison's default name, its sides (each experiment named, or each point of the one
    experiment's grid), and what :func:`_check_complete` must find complete: (plan, run keys,
    the command line's experiment and flags) per experiment."""
    from renoise.pipeline import grid
    from renoise.report import pairing

    root = project_root()
    first = experiment_path(args.experiments[0], root)
    if args.set or args.grid or (len(args.experiments) == 1 and grid.in_file(first)):
        if len(args.experiments) != 1:
            raise ConfigError("compare: --set and --grid take one experiment, whose grid points are compared")
        swept = grid.build(first, args.set, args.grid, yes=args.yes)
        checks = [(swept.plan, [f"{p.folder}/compare" for p in swept.points], [args.experiments[0], *_flags(args)])]
        sides = [pairing.Side(p.key, f"storage/{swept.name}/{p.folder}", f"runs/{swept.name}/{p.folder}/compare",
                              p.values) for p in swept.points]
        return grid.folder_name("+".join([swept.name, *args.set, *args.grid])), sides, checks
    sides, checks = [], []
    for name in args.experiments:
        config = renoise.pipeline.config.load(experiment_path(name, root))
        checks.append((renoise.pipeline.plan.plan(config), ["compare"], [name]))
        sides.append(pairing.Side(config["name"], f"storage/{config['name']}", f"runs/{config['name']}/compare"))
    return grid.folder_name("-vs-".join(side.key for side in sides)), sides, checks


def _check_complete(root: Path, plan: list, keys: list[str], given: list[str]) -> None:
    """Refuse a side whose comparison (a run of ``keys`` in ``plan``) is not complete, naming the
    command that makes it so (``given``: the experiment and its flags)."""
    state = _states(root, plan)
    for key in keys:
        if state[key].state is not RunState.COMPLETE:
            raise ConfigError(f"compare: {given[0]}'s {key} run is {state[key].state} ({state[key].reason}); "
                              f"run `{shlex.join(['renoise', 'report', *given])}` first")


def cmd_compare(args) -> int:
    """Compare the sides (:mod:`renoise.report.pairing`) in ``notebooks/paired.ipynb``, then render it."""
    from renoise.pipeline import engine
    from renoise.report import pairing
    from renoise.pipeline.grid import folder_name
    from renoise.report.html import write_comparison

    root = project_root()
    default, sides, checks = _sides(args)
    name = args.name or default
    if folder_name(name) != name:
        raise ConfigError(f"compare --name: {name!r} is not a safe folder name; try {folder_name(name)!r}")
    pairing.check_sides(sides)
    for plan, keys, given in checks:
        _check_complete(root, plan, keys, given)
    pairing.compare(root, sides)  # refuses sides sharing no model label before a kernel starts
    print(f"renoise: comparing {len(sides)} sides as {name!r}: {', '.join(side.key for side in sides)}", flush=True)
    engine.execute(pairing.comparison_run(name, sides), root)
    print(f"renoise: wrote storage/compare/{name}/paired.csv", flush=True)
    _wrote(root, write_comparison(root, name))
    return 0


def _add_override_flags(command) -> None:
    """``--set``, ``--grid`` and ``--yes``, in Hydra's override grammar (:mod:`renoise.pipeline.overrides`)."""
    command.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                         help="override one key, e.g. autoencoder.learning_rate=3e-3 (repeatable)")
    command.add_argument("--grid", action="append", default=[], metavar="KEY=A,B",
                         help="sweep a key over a choice a,b or range(start,stop,step); grids multiply")
    command.add_argument("--yes", action="store_true", help="allow a grid of more than 1,000 points")


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="renoise", description=__doc__.splitlines()[0])
    commands = top.add_subparsers(dest="command", required=True)
    for name, function, text in (
        ("run", cmd_run, "bring every run of the experiment up to date"),
        ("report", cmd_report, "run, then render both HTML reports"),
        ("status", cmd_status, "list the runs: complete, stale, damaged or missing, and where each ran"),
        ("track", cmd_track, "log the complete runs the experiment tracker lacks (MLflow: storage/mlflow.db)"),
    ):
        command = commands.add_parser(name, help=text, description=text)
        command.add_argument("experiment", nargs="?", default=DEFAULT_EXPERIMENT,
                             help="a name in experiments/ or a path to a YAML file (default: quick)")
        _add_override_flags(command)
        command.add_argument("--dry-run", action="store_true", help="print the points and their runs, and exit")
        if name in ("run", "report"):
            command.add_argument("--no-track", action="store_true",
                                 help="log nothing to the experiment tracker (`renoise track` catches up later)")
            command.add_argument("--quiet", action="store_true", help="no line per training epoch")
            command.add_argument("--workers", type=int, metavar="N",
                                 help="run on a local dask cluster of N worker processes (one notebook each); "
                                      "default: one a core, as many as the memory holds; 1: one run after another")
            command.add_argument("--scheduler", metavar="ADDRESS",
                                 help="run on an existing dask cluster, e.g. tls://10.0.0.5:8786")
            for flag, text in (("--tls-ca-file", "the certificate authority that signed the cluster's certificates"),
                               ("--tls-cert", "this client's certificate"), ("--tls-key", "this client's private key")):
                command.add_argument(flag, metavar="FILE", help=f"for a tls:// --scheduler: {text} "
                                                                "(default: dask's distributed.comm.tls.* settings)")
            command.add_argument("--dashboard", metavar="ADDRESS",
                                 help="where the local cluster's dashboard listens (default 127.0.0.1:8787, "
                                      "this machine only); 0.0.0.0:8787 exposes it to the network")
        command.set_defaults(function=function)
    text = "compare experiments, or the points of one experiment's grid, paired by repetition"
    command = commands.add_parser("compare", help=text, description=text)
    command.add_argument("experiments", nargs="+", metavar="EXPERIMENT",
                         help="two or more experiments (B − A, C − A, ...), or one with --grid")
    _add_override_flags(command)
    command.add_argument("--name", help="the comparison's folder name (default: from the experiments or the grid)")
    command.set_defaults(function=cmd_compare)
    return top


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.function(args)
    except RenoiseError as exc:
        print(f"renoise: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("renoise: interrupted; completed runs are kept, run again to resume", file=sys.stderr)
        return 130
