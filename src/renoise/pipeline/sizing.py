"""Sizing a cluster to its machines: how many local workers a machine holds, and how many CPU
threads each worker's notebook kernel may use.

A worker's CPUs are its affinity, not the machine's count: a batch system such as SLURM narrows it
to the job's, so two jobs on one node each keep their own cores, and N workers sharing C cores
give each kernel C/N threads so that their BLAS, OpenMP and TensorFlow pools do not fight.
"""

from __future__ import annotations

import os

#: Memory set aside for each local worker: its process and its notebook's kernel at peak (a quick
#: autoencoder run holds about 0.9 GB resident), with room for the comparison's t-SNE.
WORKER_MEMORY = 2 * 1024**3


def shares(cores: dict[str, list[int]]) -> dict[str, int]:
    """CPU threads for each worker's kernel, from the CPUs each worker may use (by address, see
    :func:`cores`): its CPUs divided among the workers on the same host whose CPUs overlap them, at
    least one."""
    host = {address: address.rsplit(":", 1)[0] for address in cores}
    result = {}
    for address, cpus in cores.items():
        sharing = sum(1 for other, theirs in cores.items() if host[other] == host[address] and set(cpus) & set(theirs))
        result[address] = max(1, len(cpus) // max(1, sharing))
    return result


def most_workers(memory: int | None) -> int | None:
    """How many local workers ``memory`` bytes hold (:data:`WORKER_MEMORY` each, at least one);
    None for no limit (memory unknown)."""
    return None if memory is None else max(1, memory // WORKER_MEMORY)


def automatic_workers(cores: int, memory: int | None) -> int:
    """Local workers for a machine of ``cores`` CPUs and ``memory`` free bytes (None: unknown):
    one a core, as many as the memory holds. 1 means no cluster: the runs go one after another."""
    return max(1, min(cores, most_workers(memory) or cores))


def machine() -> tuple[int, int | None]:
    """This process's CPUs (its affinity, see :func:`cores`) and the memory free for new
    processes in bytes (None: unknown)."""
    from renoise.pipeline.memory import available_memory

    return len(cores()), available_memory()


def cores() -> list[int]:
    """The CPUs this process may run on (on a worker: what :func:`shares` divides)."""
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:  # no affinity on this platform (macOS): every core
        return list(range(os.cpu_count() or 1))
