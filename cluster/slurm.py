"""Run an experiment on a SLURM cluster with GPUs, through dask-jobqueue.

Each SLURM job is one dask worker with one GPU, one thread and the node's share of cores; its
workers declare the resource ``GPU=1``, so the runner sends every training run (the classifier and
the autoencoders) to a GPU, and the data and compare runs anywhere. The project folder, with its
``.venv``, must sit on a file system that every node mounts at the same path (the runner checks
this before it starts).

    .venv/bin/pip install -e ".[cluster,gpu]"     # once, on the login node
    .venv/bin/python cluster/slurm.py quick --jobs 4 --partition gpu

Adapt the job settings (partition, account, memory, walltime, modules) to your site; dask-jobqueue
documents every option. Watch the run on the dashboard address printed at start, or with
``.venv/bin/python -m renoise status EXPERIMENT`` from any shell.
"""

from __future__ import annotations

import argparse
import sys

from dask_jobqueue import SLURMCluster

from renoise import cli


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("experiment", help="a name in experiments/ or a path to a YAML file")
    parser.add_argument("--jobs", type=int, default=2, help="SLURM jobs, one GPU worker each (default 2)")
    parser.add_argument("--partition", default=None, help="the SLURM partition with GPUs")
    parser.add_argument("--cores", type=int, default=8, help="CPU cores per job (default 8)")
    parser.add_argument("--memory", default="32GB", help="memory per job (default 32GB)")
    parser.add_argument("--walltime", default="08:00:00", help="time limit per job (default 8 h)")
    parser.add_argument("--report", action="store_true", help="also render both HTML reports at the end")
    args = parser.parse_args(argv)
    cluster = SLURMCluster(
        queue=args.partition,
        cores=1,  # one worker thread: papermill runs one notebook per process
        processes=1,
        job_cpu=args.cores,  # booked for the notebook's kernel, which the runner gives every core it may use
        memory=args.memory,
        walltime=args.walltime,
        job_extra_directives=["--gres=gpu:1"],
        worker_extra_args=["--resources", "GPU=1"],
        python=sys.executable,
    )
    cluster.scale(jobs=args.jobs)
    try:
        command = "report" if args.report else "run"
        return cli.main([command, args.experiment, "--scheduler", cluster.scheduler_address])
    finally:
        cluster.close()


if __name__ == "__main__":
    raise SystemExit(main())
