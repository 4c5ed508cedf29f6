#!/usr/bin/env bash
# The GPU check in one call: on the GPU machine (its image has JAX with CUDA, PyTorch, NumPy; no
# TensorFlow, no network), install the wheels carried in .whl/ over the image's own packages, then
# run two stages side by side, each on its own share of the CPU cores:
#   - on three quarters of them, the residual denoiser's size search (bench/residual_sizes.py on
#     keras' JAX backend, one process per configuration, every seed), the work issue #17 needs a GPU for;
#   - on the rest, the backend tests, then the quick tree on JAX at --workers 4, timed, sampling nvidia-smi.
# Only summaries come back (the device returns at most 8 files): $OUT/gpu.json, $OUT/sizes.json
# and $OUT/logs.tar.gz.
#
#   bash bench/gpu.sh                                 # on the GPU machine: under 8 minutes
#   SHORT=1 PY=.venv/bin/python WHEELS= bash bench/gpu.sh   # the rehearsal on a CPU: tiny sizes, no nvidia-smi
#
# The wheels are downloaded here beforehand (README, "The GPU check"); TensorFlow (572 MB) cannot travel.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-/opt/torch/.venv/bin/python3}
OUT=${OUT:-$(mktemp -d)}
WORK=${WORK:-$(mktemp -d)}          # projects, results and logs; summarised into $OUT at the end
SHORT=${SHORT:-}
WHEELS=${WHEELS-.whl}               # the carried wheels ('' where the interpreter has them all)
SITE=${SITE:-/tmp/renoise-site}     # where they are installed, first on PYTHONPATH
case $PY in */*) PY=$(cd "$(dirname "$PY")" && pwd)/$(basename "$PY") ;; esac   # the runs cd into copies
SIZES=${SIZES:-32x7 32x5 24x6 16x7 16x5 16x4 12x6 8x7}
SEEDS=${SEEDS:-0,1,2,3,4}
SIZES_LIMIT=${SIZES_LIMIT:-420}     # seconds for the size search
TEST_LIMIT=${TEST_LIMIT:-120}       # seconds for the backend tests
TREE_LIMIT=${TREE_LIMIT:-200}       # seconds for the quick tree (the target is 180)
mkdir -p "$OUT" "$WORK"
log() { echo "gpu.sh: $* ($SECONDS s)" | tee -a "$WORK/gpu.log" >&2; }

install() {  # the carried wheels into $SITE (beside, not over, the image's packages), renoise from src/
    if [ -n "$WHEELS" ] && [ ! -e "$SITE/.installed" ]; then
        "$PY" -m pip install --quiet --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" \
            "$WHEELS"/*.whl && touch "$SITE/.installed"
    fi
    export PYTHONPATH="$PWD/src${WHEELS:+:$SITE}${PYTHONPATH:+:$PYTHONPATH}"
    "$PY" -c "from renoise.pipeline.engine import ensure_kernel; ensure_kernel()"
}

# Cores for each stage: the first SEARCH for the size search, the rest for the tests and the tree.
CORES=$(nproc)
SEARCH=$(( CORES > 1 ? CORES * 3 / 4 : 1 ))
pin() {  # pin FIRST LAST: the command prefix that keeps a command on those cores (none without taskset)
    if command -v taskset >/dev/null && [ "$CORES" -gt 1 ]; then echo "taskset -c $1-$2"; fi
}

sizes_stage() {  # one process per configuration, together on the search's cores
    local experiment=experiments/residual.yaml pids=()
    if [ -n "$SHORT" ]; then
        sed -E 's/epochs: [0-9]+/epochs: 2/' experiments/residual.yaml > "$WORK/residual_short.yaml"
        experiment=$WORK/residual_short.yaml
    fi
    for size in $SIZES; do
        KERAS_BACKEND=jax XLA_PYTHON_CLIENT_PREALLOCATE=false XLA_PYTHON_CLIENT_MEM_FRACTION=0.05 \
            timeout "$SIZES_LIMIT" $(pin 0 $((SEARCH - 1))) "$PY" bench/residual_sizes.py \
            --configs "$size" --seeds "$SEEDS" --experiment "$experiment" --output "$WORK/sizes-$size.json" \
            > "$WORK/sizes-$size.log" 2>&1 &
        pids+=($!)
    done
    wait "${pids[@]}"
    log "size search done"
}

tree_stage() {  # the backend tests, then the quick tree at --workers 4, on the remaining cores
    local first=$(( CORES > 1 ? SEARCH : 0 )) last=$(( CORES - 1 )) project=$WORK/project-quick-4 begin
    KERAS_BACKEND=jax timeout "$TEST_LIMIT" $(pin "$first" "$last") "$PY" -m pytest \
        tests/test_backend.py -q -p no:cacheprovider > "$WORK/tests.txt" 2>&1 && tests=passed || tests=failed
    log "backend tests $tests"
    mkdir -p "$project" && cp -r notebooks templates experiments pyproject.toml "$project/"
    local tree=()
    [ -n "$SHORT" ] && tree=(--set repetitions=1 --set data.n_train=600 --set data.n_test=100 --set classifier.epochs=1
                             --set structures.one_level.epochs=2 --set structures.multiple_levels.epochs=1)
    begin=$SECONDS
    (cd "$project" && timeout "$TREE_LIMIT" $(pin "$first" "$last") "$PY" -m renoise run quick \
        --workers 4 --quiet --set backend=jax "${tree[@]}" > run.log 2>&1) && state=complete || state=failed
    echo "{\"experiment\": \"quick\", \"workers\": 4, \"state\": \"$state\", \"seconds\": $((SECONDS - begin))}" \
        > "$project/timing.json"
    log "quick --workers 4: $state in $((SECONDS - begin)) s"
}

install || { log "install failed"; }
log "installed"
SAMPLER=
if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=name,memory.total --format=csv,noheader > "$WORK/gpu.txt"
    nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv,noheader,nounits -lms 500 \
        > "$WORK/nvidia-smi.csv" &
    SAMPLER=$!
fi
sizes_stage & SIZES_PID=$!
tree_stage
wait "$SIZES_PID"
[ -n "$SAMPLER" ] && kill "$SAMPLER" 2>/dev/null

"$PY" bench/gpu_summary.py "$WORK" "$OUT" "${tests:-unknown}"
tar -czf "$OUT/logs.tar.gz" -C "$WORK" --exclude='*.keras' --exclude='*.npz' --exclude='storage' \
    gpu.log tests.txt $(cd "$WORK" && ls sizes-*.log project-*/run.log project-*/runs 2>/dev/null) 2>/dev/null
log "wrote $OUT"
