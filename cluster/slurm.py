"""Run an experiment on a SLURM cluster, with or without GPUs, through dask-jobqueue.

Each SLURM job is one dask worker with one thread and the node's share of cores. With ``--gpus N``
(default 1) the job books ``--gres=gpu:N`` and its worker declares the resource ``GPU=N``, so the
runner sends every training run (the classifier and the autoencoders) to a GPU, and the data and
compare runs anywhere; ``--gpus 0`` books no GPU and declares none, for CPU-only sites. The project
folder, with its ``.venv``, must sit on a file system that every node mounts at the same path (the
runner checks this before it starts).

The scheduler and workers talk mutual TLS: a certificate made for this run (``Security.temporary()``)
is written, mode 0600, to ``.dask-tls/`` in the project folder, which every job reads. Anyone else on
the cluster who finds the port is refused.

    .venv/bin/pip install -e ".[cluster,gpu]"     # once, on the login node
    .venv/bin/python cluster/slurm.py quick --jobs 4 --partition gpu --account myproj
    .venv/bin/python cluster/slurm.py quick --jobs 8 --gpus 0 --partition cpu --qos short

Site settings to adapt: ``--partition`` (the queue), ``--account`` and ``--qos`` (what your
allocation bills), ``--cores``/``--memory``/``--walltime`` (the job's size), ``--gpus`` (0 on a
CPU-only cluster; some sites spell GPUs ``--gpus-per-node``: give that with ``--job-extra`` and
``--gpus 0`` plus your own resource), and ``--job-extra`` for any other ``#SBATCH`` line (modules
are loaded by ``job_script_prologue`` in dask-jobqueue's configuration). Watch the run on the
dashboard address printed at start, or with ``.venv/bin/python -m renoise status EXPERIMENT``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

#: Where the run's certificate and key are written, below the project folder (shared with every job).
TLS_FOLDER = ".dask-tls"


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("experiment", help="a name in experiments/ or a path to a YAML file")
    parser.add_argument("--jobs", type=int, default=2, help="SLURM jobs, one worker each (default 2)")
    parser.add_argument("--gpus", type=int, default=1, help="GPUs per job (default 1; 0 for a CPU-only site)")
    parser.add_argument("--partition", default=None, help="the SLURM partition (queue)")
    parser.add_argument("--account", default=None, help="the SLURM account the jobs are billed to")
    parser.add_argument("--qos", default=None, help="the SLURM quality of service")
    parser.add_argument("--job-extra", action="append", default=[], metavar="DIRECTIVE",
                        help="one more #SBATCH directive, e.g. --job-extra=--constraint=a100 (repeatable)")
    parser.add_argument("--cores", type=int, default=8, help="CPU cores per job (default 8)")
    parser.add_argument("--memory", default="32GB", help="memory per job (default 32GB)")
    parser.add_argument("--walltime", default="08:00:00", help="time limit per job (default 8 h)")
    parser.add_argument("--report", action="store_true", help="also render both HTML reports at the end")
    return parser


def cluster_options(args, security=None) -> dict:
    """SLURMCluster's keyword arguments for ``args``: the job's size, its site settings, and its
    GPUs (none requested nor declared for ``--gpus 0``)."""
    if args.gpus < 0:
        raise ValueError(f"--gpus: expected 0 or more GPUs per job, got {args.gpus}")
    extra = ([f"--gres=gpu:{args.gpus}"] if args.gpus else []) + ([f"--qos={args.qos}"] if args.qos else [])
    return dict(
        queue=args.partition,
        account=args.account,
        cores=1,  # one worker thread: papermill runs one notebook per process
        processes=1,
        job_cpu=args.cores,  # booked for the notebook's kernel, which the runner gives every core it may use
        memory=args.memory,
        walltime=args.walltime,
        job_extra_directives=extra + list(args.job_extra),
        worker_extra_args=["--resources", f"GPU={args.gpus}"] if args.gpus else [],
        python=sys.executable,
        security=security,
        protocol="tls://" if security is not None else None,
    )


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    if args.gpus < 0:  # before anything starts
        print(f"slurm.py: error: --gpus: expected 0 or more GPUs per job, got {args.gpus}", file=sys.stderr)
        return 1
    from dask_jobqueue import SLURMCluster

    from renoise import cli
    from renoise.pipeline.security import temporary_security

    security, files = temporary_security(Path.cwd() / TLS_FOLDER)
    cluster = SLURMCluster(**cluster_options(args, security))
    cluster.scale(jobs=args.jobs)
    try:
        command = "report" if args.report else "run"
        return cli.main([command, args.experiment, "--scheduler", cluster.scheduler_address,
                         "--tls-ca-file", files["ca"], "--tls-cert", files["cert"], "--tls-key", files["key"]])
    finally:
        cluster.close()


if __name__ == "__main__":
    raise SystemExit(main())
