#!/usr/bin/env bash
# The GPU check in one call (issue #18): on the GPU machine (its image has JAX with CUDA, PyTorch,
# NumPy; no TensorFlow, no network), install the carried wheels in .whl/ over the image's own
# packages, run the backend tests, time the quick tree and the residual parent on keras' JAX
# backend at --workers 1 and 4 while sampling nvidia-smi, and write $OUT/gpu.json.
#
#   bash bench/gpu.sh                      # on the GPU machine: the whole check, under 8 minutes
#   SHORT=1 PY=.venv/bin/python bash bench/gpu.sh   # the rehearsal on a CPU: a tiny tree, no nvidia-smi
#
# The wheels are made here beforehand, none of them TensorFlow (572 MB, over the 64 MiB carried):
#   .venv/bin/pip download --no-deps -d .whl keras==3.15.1 papermill==2.7.0 ... (see README, "GPU")
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-/opt/torch/.venv/bin/python3}
OUT=${OUT:-$(mktemp -d)}
SHORT=${SHORT:-}
VENV=${VENV:-/tmp/renoise-gpu}
case $VENV in /*) ;; *) VENV=$PWD/$VENV ;; esac   # the runs cd into copies of the project
TEST_LIMIT=${TEST_LIMIT:-200}   # seconds for the backend tests
LIMIT=${LIMIT:-420}   # seconds for all the timed runs together: the call must end within 8 minutes
mkdir -p "$OUT"
log() { echo "gpu.sh: $*" >&2; }

if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -m venv --system-site-packages "$VENV"   # keeps the image's JAX, PyTorch and NumPy
    if [ -d .whl ]; then
        "$VENV/bin/pip" install --quiet --no-index --find-links .whl --no-deps .whl/*.whl
    fi
    "$VENV/bin/pip" install --quiet --no-index --no-deps --no-build-isolation -e .
    "$VENV/bin/python" -c "from renoise.pipeline.engine import ensure_kernel; ensure_kernel()"
fi
RENOISE="$VENV/bin/python -m renoise"

SAMPLER=
if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=name,memory.total --format=csv,noheader > "$OUT/gpu.txt"
    nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv,noheader,nounits -lms 500 \
        > "$OUT/nvidia-smi.csv" &
    SAMPLER=$!
fi
stop_sampler() { [ -n "$SAMPLER" ] && kill "$SAMPLER" 2>/dev/null; SAMPLER=; }
trap stop_sampler EXIT

# The tests that need a GPU's backends: every builder and both structures on JAX and PyTorch.
start=$SECONDS
KERAS_BACKEND=jax timeout "$TEST_LIMIT" "$VENV/bin/python" -m pytest tests/test_backend.py -q -p no:cacheprovider \
    > "$OUT/tests.txt" 2>&1 && tests=passed || tests=failed
log "tests $tests in $((SECONDS - start)) s"

# One timed run: experiment $1, workers $2, extra overrides after; its wall time and markers kept.
timed() {
    local name=$1 workers=$2; shift 2
    local project="$OUT/project-$name-$workers" begin=$SECONDS
    mkdir -p "$project" && cp -r notebooks templates experiments pyproject.toml "$project/"
    printf '%s\n' 'autoencoder: {architecture: residual, patience: 5}' 'classifier: {epochs: 2}' \
        'structures: {one_level: {epochs: 10}}' > "$project/experiments/residual_parent.yaml"
    (cd "$project" && timeout $((LIMIT / 3)) $RENOISE run "$name" --workers "$workers" --quiet --set backend=jax "$@" \
        > run.log 2>&1) && state=complete || state=failed
    echo "{\"experiment\": \"$name\", \"workers\": $workers, \"state\": \"$state\", \"seconds\": $((SECONDS - begin))}" \
        > "$project/timing.json"
    log "$name --workers $workers: $state in $((SECONDS - begin)) s"
    rm -rf "$project/storage"   # the arrays stay behind: only markers, histories and times come back
    find "$project/runs" -name '*.keras' -delete 2>/dev/null || true
}

if [ -n "$SHORT" ]; then
    short=(--set data.n_train=600 --set data.n_test=100 --set classifier.epochs=1)
    tree=(--set repetitions=1 "${short[@]}" --set structures.one_level.epochs=2 --set structures.multiple_levels.epochs=1)
    residual=("${short[@]}" --set structures.one_level.epochs=2)
else
    tree=()
    residual=()
fi
timed residual_parent 1 "${residual[@]}"
timed quick 1 "${tree[@]}"
timed quick 4 "${tree[@]}"
stop_sampler

"$VENV/bin/python" - "$OUT" "$tests" <<'EOF'
"""Collect the timings, each training run's epoch seconds and the nvidia-smi samples into gpu.json."""
import csv, json, sys
from pathlib import Path

out, tests = Path(sys.argv[1]), sys.argv[2]
runs = []
for timing in sorted(out.glob("project-*/timing.json")):
    entry = json.loads(timing.read_text())
    epochs = {}
    for history in timing.parent.glob("runs/**/history.json"):
        h = json.loads(history.read_text())
        if h.get("loss"):
            epochs[str(history.parent.relative_to(timing.parent / "runs"))] = round(h["fit_seconds"] / len(h["loss"]), 3)
    runs.append({**entry, "seconds_per_epoch": epochs})
samples = []
if (out / "nvidia-smi.csv").exists():
    with open(out / "nvidia-smi.csv") as handle:
        samples = [(float(r[1]), float(r[2])) for r in csv.reader(handle) if len(r) == 3 and r[1].strip().isdigit()]
gpu = {"max_utilisation_percent": max((s[0] for s in samples), default=None),
       "mean_utilisation_percent": round(sum(s[0] for s in samples) / len(samples), 1) if samples else None,
       "max_memory_mib": max((s[1] for s in samples), default=None), "samples": len(samples)}
name = (out / "gpu.txt").read_text().strip() if (out / "gpu.txt").exists() else "no GPU (rehearsal)"
(out / "gpu.json").write_text(json.dumps({"device": name, "tests": tests, "runs": runs, "nvidia_smi": gpu}, indent=1))
print(json.dumps({"device": name, "tests": tests, **{f"{r['experiment']}@{r['workers']}": r["seconds"] for r in runs}}))
EOF
