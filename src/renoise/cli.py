"""The command line: ``python -m renoise run | report | status [EXPERIMENT]``.

A thin layer: it finds the experiment file, calls :mod:`renoise.runs` or :mod:`renoise.report`,
and turns any :class:`~renoise.errors.RenoiseError` into one line on stderr and exit status 1.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from renoise import experiment, runs
from renoise.errors import RenoiseError

DEFAULT_EXPERIMENT = "quick"


def experiment_path(name_or_path: str, root: Path) -> Path:
    """``experiments/<name>.yaml`` for a bare name, else the path as given."""
    given = Path(name_or_path)
    if given.suffix in (".yaml", ".yml") or given.exists():
        return given
    return root / "experiments" / f"{name_or_path}.yaml"


def _load(args) -> tuple[Path, dict, list]:
    root = runs.project_root()
    config = experiment.load(experiment_path(args.experiment, root))
    return root, config, experiment.plan(config)


def _run(root: Path, config: dict, plan: list, quiet: bool, then=None) -> None:
    start = time.perf_counter()
    print(f"renoise: experiment {config['name']!r}, {len(plan)} runs in runs/{config['name']}/", flush=True)
    executed = runs.run_plan(plan, root, config["name"], log=lambda line: print(line, flush=True), progress=not quiet,
                             then=then)
    print(f"renoise: {len(executed)} runs executed, {len(plan) - len(executed)} up to date, "
          f"{time.perf_counter() - start:.1f} s", flush=True)


def cmd_run(args) -> int:
    _run(*_load(args), args.quiet)
    return 0


def cmd_report(args) -> int:
    from renoise.report import write_reports

    root, config, plan = _load(args)

    def render() -> None:
        for path in write_reports(root, config["name"]):
            print(f"renoise: wrote {path.relative_to(root)} ({path.stat().st_size / 1e6:.1f} MB)")

    _run(root, config, plan, args.quiet, then=render)
    return 0


def cmd_status(args) -> int:
    root, config, plan = _load(args)
    state = runs.states(plan, root)
    markers = []
    for run in plan:
        marker = runs.read_marker(root / run.parameters["run_dir"]) if state[run.key] == "complete" else None
        markers += [marker] if marker else []
        cost = runs.describe_cost(marker) if marker else ""
        print(f"{state[run.key]:<9} {run.key:<36} {cost:>16}  {run.label}")
    total = ""
    if markers:
        seconds = sum(m.get("seconds", 0.0) for m in markers)
        peaks = [m["peak_memory_mb"] for m in markers if m.get("peak_memory_mb") is not None]
        total = f"; {seconds / 60:.1f} min in all" + (f", largest peak {max(peaks) / 1024:.2f} GB" if peaks else "")
    print(f"{len(markers)}/{len(plan)} runs complete{total}")
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="renoise", description=__doc__.splitlines()[0])
    commands = top.add_subparsers(dest="command", required=True)
    for name, function, text in (
        ("run", cmd_run, "bring every run of the experiment up to date"),
        ("report", cmd_report, "run, then render both HTML reports"),
        ("status", cmd_status, "list the runs: complete, stale or missing"),
    ):
        command = commands.add_parser(name, help=text, description=text)
        command.add_argument("experiment", nargs="?", default=DEFAULT_EXPERIMENT,
                             help="a name in experiments/ or a path to a YAML file (default: quick)")
        if name != "status":
            command.add_argument("--quiet", action="store_true", help="no per-cell progress bars")
        command.set_defaults(function=function)
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
