"""Summarise a bench/gpu.sh session into the few files the GPU machine sends back.

    python bench/gpu_summary.py WORK OUT TESTS

``OUT/gpu.json``: the device, the backend tests' outcome, each timed tree (its wall time, state and
each training run's seconds per epoch) and the nvidia-smi samples' utilisation and memory.
``OUT/sizes.json``: every record of the size search (bench/residual_sizes.py), merged, with the
adaptive median's scores, in the format ``residual_sizes.py --table-only --output`` reads.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path


def timed_runs(work: Path) -> list[dict]:
    """Each timed tree's timing.json, with its training runs' seconds per epoch from their histories."""
    runs = []
    for timing in sorted(work.glob("project-*/timing.json")):
        epochs = {}
        for history in timing.parent.glob("runs/**/history.json"):
            record = json.loads(history.read_text())
            if record.get("loss"):
                key = str(history.parent.relative_to(timing.parent / "runs"))
                epochs[key] = round(record["fit_seconds"] / len(record["loss"]), 3)
        runs.append({**json.loads(timing.read_text()), "seconds_per_epoch": epochs})
    return runs


def gpu_samples(work: Path) -> dict:
    """Utilisation (%) and memory (MiB) of nvidia-smi's samples: most, mean, and how many."""
    path = work / "nvidia-smi.csv"
    rows = list(csv.reader(path.open())) if path.exists() else []
    samples = [(float(r[1]), float(r[2])) for r in rows if len(r) == 3 and r[1].strip().isdigit()]
    if not samples:
        return {"samples": 0}
    return {"max_utilisation_percent": max(s[0] for s in samples),
            "mean_utilisation_percent": round(sum(s[0] for s in samples) / len(samples), 1),
            "max_memory_mib": max(s[1] for s in samples), "samples": len(samples)}


def merged_sizes(work: Path) -> dict:
    """Every configuration's records in one file, and the adaptive median's scores."""
    merged = {"baseline": None, "records": []}
    for path in sorted(work.glob("sizes-*.json")):
        part = json.loads(path.read_text())
        merged["baseline"] = part["baseline"]
        merged["records"] += part["records"]
    return merged


def main(work: Path, out: Path, tests: str) -> None:
    device = (work / "gpu.txt").read_text().strip() if (work / "gpu.txt").exists() else "no GPU (rehearsal)"
    summary = {"device": device, "tests": tests, "runs": timed_runs(work), "nvidia_smi": gpu_samples(work)}
    (out / "gpu.json").write_text(json.dumps(summary, indent=1))
    sizes = merged_sizes(work)
    (out / "sizes.json").write_text(json.dumps(sizes))
    print(json.dumps({**{k: summary[k] for k in ("device", "tests", "nvidia_smi")},
                      "trees": {f"{r['experiment']}@{r['workers']}": (r["state"], r["seconds"]) for r in summary["runs"]},
                      "size_records": len(sizes["records"])}))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3])
